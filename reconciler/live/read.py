"""Read live state from Partner Center: only what the desired state needs.

The throttle (about 500 requests a minute per partner tenant) bounds every
large run, so the customer list is read once, page by page, and a customer's
subscriptions and entitlements only when its declared state needs them
(offboarding, or subscription overrides) — never for every live customer.
Deep reads of different customers run in parallel under the client's own
concurrency and rate limits. The only other reads: one GET by id for each
declared reseller customer that the list left out, before it counts as missing,
and the partner's reseller invitation link once when such a customer needs it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

from reconciler import interrupts
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.live.client import PartnerCenterClient
from reconciler.live.errors import Forbidden
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.lifecycle import cancels_through_order
from reconciler.live.lifecycle import needs_azure_entitlements
from reconciler.live.lifecycle import needs_detail
from reconciler.live.lifecycle import needs_entitlements
from reconciler.live.lifecycle import needs_gdap
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import GdapRelationship
from reconciler.live.models import Live
from reconciler.live.models import SubscriptionKind
from reconciler.live.tenant_read import read_tenants
from reconciler.progress import SILENT
from reconciler.progress import Meter
from reconciler.progress import Progress
from reconciler.wording import plural

if TYPE_CHECKING:  # the backend (and the fake behind it) is the caller's to import
    from reconciler.live.clients import Clients

T = TypeVar("T")


def read_live(
    client: PartnerCenterClient,
    desired: Desired,
    *,
    workers: int = 16,
    progress: Progress = SILENT,
    graph: GraphClient | None = None,
    graph_unavailable: str | None = None,
    scoped: bool = False,
) -> Live:
    """Every live customer, plus deep reads for the declared customers that need them.

    `scoped` (a plan of some customers, `--only` or `--changed-since`): only the
    declared customers, each read by id, and no paging of the customer list at all.

    Deep reads start as soon as a customer appears in the paged list, so they
    overlap with the (necessarily sequential) paging instead of waiting for it.
    A customer that vanishes between the list and its deep read is recorded in
    `Live.vanished` and never stops the read of the others. `progress` counts the
    customers read in depth (see `LiveRead`), from before the first page; its status is
    the count listed so far.
    The GDAP relationships of the customers whose offboarding ends them come from
    Microsoft Graph (`graph`), read beside the rest; without a Graph client,
    `Live.gdap_unreadable` says why (`graph_unavailable`).
    """
    with LiveRead(client, graph, workers) as read:
        read.declare(desired.customers.values())
        read.report_to(progress)  # the total is known: shown while the list is paged
        for customer in _by_id(read, desired) if scoped else client.iter_customers():
            read.listed(customer)
        return read.finish(desired, progress, graph_unavailable, scoped=scoped)


class LiveRead:
    """One read of live state in progress, fed from two sides in any order: the customers
    Partner Center lists (`listed`) and the customers the desired state declares
    (`declare`). A declared customer's GDAP listing starts when it is declared, listed by
    Partner Center or not (a removal done by hand can leave GDAP behind); its deep read
    when it is both declared and listed. `finish` waits for them all.

    Thread-safe: in a full plan pages come from one thread while files validate in
    another. The counts and time of the read are the clients' from its start.

    Its progress counts the customers read in depth, the work that takes the time: a
    customer is one step once all its reads are over (its deep read, its GDAP listing,
    its lookup by id: each one or more rate-limited calls, on two services with budgets
    of their own), so the pace is that of the slower service. The total is the customers
    with reads to do, as far as is known: a declared customer that needs a deep read
    counts from when it is declared, and stops counting if it turns out to need no read
    at all (Partner Center lists it as no reseller customer); one looked up by id counts
    from its lookup. The customers listed, which page by quickly, are only its status.
    """

    def __init__(self, client: PartnerCenterClient, graph: GraphClient | None, workers: int):
        self.client, self.graph = client, graph
        self._started = time.monotonic()
        self._counts = (client.request_count, client.throttled_count, *_counts(graph))
        # A pool each: Graph's listings must not queue ahead of Partner Center's deep reads
        # (or behind them); each service has its own budget and its own concurrency cap.
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="pcr-read")
        self._graph_pool = ThreadPoolExecutor(workers, thread_name_prefix="pcr-graph")
        self._lock = threading.Lock()
        self.live = Live()
        self._declared: dict[str, DesiredCustomer] = {}
        self._deep: dict[str, Future[CustomerDetail]] = {}
        self._gdap: dict[str, Future[list[GdapRelationship]]] = {}
        self._progress = _Held()
        # Progress, by customer: those counted in the total, those whose deep read may
        # still be needed (not yet listed), the reads not over yet of those with a read
        # begun (a key once begun), and those done.
        self._counted: set[str] = set()
        self._awaited: set[str] = set()
        self._reading: Counter[str] = Counter()
        self._read: set[str] = set()

    def __enter__(self) -> LiveRead:
        return self

    def __exit__(self, *exc: object) -> None:
        # After `finish` nothing is left; after a failure, what is queued is dropped and
        # what is in flight is not waited for: the clients close next, and it ends then.
        # It reports no progress then (a meter is gone once the command has moved on).
        self._progress.detach()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self._graph_pool.shutdown(wait=False, cancel_futures=True)

    def declare(self, customers: Iterable[DesiredCustomer]) -> None:
        with self._lock:
            for wanted in customers:
                if wanted.tenant_id in self._declared:
                    continue
                self._declared[wanted.tenant_id] = wanted
                if self.graph is not None and needs_gdap(wanted):
                    self._gdap[wanted.tenant_id] = self._submit(
                        self._graph_pool,
                        wanted.tenant_id,
                        self.graph.list_relationships,
                        wanted.tenant_id,
                    )
                if (found := self.live.customers.get(wanted.tenant_id)) is not None:
                    self._start_deep_read(wanted, found)
                elif needs_detail(wanted):
                    self._awaited.add(wanted.tenant_id)
                    self._count(wanted.tenant_id)

    def listed(self, customer: Customer, customer_id: str | None = None) -> None:
        customer_id = customer_id or customer.id.lower()
        with self._lock:
            self.live.customers[customer_id] = customer
            self._progress.status(f"{len(self.live.customers):,} listed")
            if (wanted := self._declared.get(customer_id)) is not None:
                self._start_deep_read(wanted, customer)

    def finish(
        self,
        desired: Desired,
        progress: Progress,
        graph_unavailable: str | None,
        *,
        scoped: bool = False,
    ) -> Live:
        """The live state, once the list is in: what `desired` needs of it."""
        self.declare(desired.customers.values())
        self.report_to(progress)
        try:
            return self._finish(desired, graph_unavailable, scoped=scoped)
        finally:
            # A read that failed leaves reads in flight: they must not report to a meter
            # (a terminal, a closed stream) after the command has moved on.
            self._progress.detach()

    def report_to(self, progress: Progress) -> None:
        """Progress from now on goes to `progress`, what was made before it too."""
        self._progress.attach(progress)

    def _finish(self, desired: Desired, graph_unavailable: str | None, *, scoped: bool) -> Live:
        live = self.live
        confirmed = () if scoped else _confirm_unlisted(self, desired, live)
        for customer_id, customer in confirmed:
            self.listed(customer, customer_id)
        with self._lock:  # what is still awaited, Partner Center does not have
            for customer_id in list(self._awaited):
                self._awaited.discard(customer_id)
                self._settle(customer_id)
        self._collect_deep_reads()
        live.gdap = {cid: tuple(read.result()) for cid, read in self._gdap.items()}
        if self.graph is None and any(needs_gdap(c) for c in desired.customers.values()):
            live.gdap_unreadable = graph_unavailable or "no Microsoft Graph client"
        if _needs_request_link(desired, live):
            live.relationship_request_url = _request_link(self.client)
        now = (self.client.request_count, self.client.throttled_count, *_counts(self.graph))
        calls, throttled = (now[i] - self._counts[i] for i in range(2))
        graph_calls, graph_throttled = (now[i] - self._counts[i] for i in range(2, 4))
        live.api_calls, live.throttled = calls + graph_calls, throttled + graph_throttled
        live.read_seconds = time.monotonic() - self._started
        return live

    def _start_deep_read(self, wanted: DesiredCustomer, found: Customer) -> None:
        """Under the lock; once per customer (a shifting list can name one twice)."""
        if wanted.tenant_id in self._deep:
            return
        if not _needs_deep_read(wanted, found):
            self._deep[wanted.tenant_id] = _DONE
        else:
            self._deep[wanted.tenant_id] = self._submit(
                self.pool, wanted.tenant_id, _read_detail, self.client, wanted
            )
        if wanted.tenant_id in self._awaited:
            self._awaited.discard(wanted.tenant_id)
            self._settle(wanted.tenant_id)

    def lookup(
        self, read: Callable[[PartnerCenterClient, str], Customer | None], customer_id: str
    ) -> Future[Customer | None]:
        """`read` of one customer by id, on the pool. Its customer counts as read only once
        the caller has `looked_up` it (and `listed` it if it was found): until then, the
        deep read the lookup may lead to is not known."""
        with self._lock:
            self._begin(customer_id)
            return self.pool.submit(read, self.client, customer_id)

    def looked_up(self, customer_id: str) -> None:
        """A `lookup`'s answer is taken in."""
        with self._lock:
            self._awaited.discard(customer_id)
            self._end(customer_id)

    # -- progress, by customer (all under the lock) --------------------------------------

    def _submit(
        self, pool: ThreadPoolExecutor, customer_id: str, read: Callable[..., T], *args: Any
    ) -> Future[T]:
        """A read of a customer, on `pool`: the customer counted before it starts (so that
        its step never comes before its count), its step taken once its reads are over,
        before the read's result is there for `finish` to take."""

        def reading() -> T:
            try:
                return read(*args)
            finally:
                with self._lock:
                    self._end(customer_id)

        self._begin(customer_id)
        return pool.submit(reading)

    def _count(self, customer_id: str) -> None:
        if customer_id not in self._counted:
            self._counted.add(customer_id)
            self._progress.expect(len(self._counted))

    def _begin(self, customer_id: str) -> None:
        self._count(customer_id)
        self._reading[customer_id] += 1

    def _end(self, customer_id: str) -> None:
        self._reading[customer_id] -= 1
        self._settle(customer_id)

    def _settle(self, customer_id: str) -> None:
        """A customer with nothing more to read is a step, or leaves the total if it had
        nothing to read at all."""
        if customer_id in self._awaited or self._reading[customer_id] > 0:
            return
        if customer_id not in self._reading:
            if customer_id in self._counted:
                self._counted.discard(customer_id)
                self._progress.expect(len(self._counted))
        elif customer_id not in self._read:
            self._read.add(customer_id)
            self._progress.advance()

    def _collect_deep_reads(self) -> None:
        for customer_id, future in self._deep.items():
            if future is _DONE:
                continue
            try:
                self.live.details[customer_id] = future.result()
            except (NotFound, Forbidden) as missing:  # other errors still abort the read
                self._read_again(customer_id, missing)

    def _read_again(self, customer_id: str, missing: PartnerCenterError) -> None:
        """A deep read that got a 404 or 403: the customer is gone only if Partner Center,
        read afresh, no longer has it as the partner's (docs/partner-center.md: absence is
        never proof on one answer). Otherwise its deep read is tried once more, and if that
        fails too, the customer is unreadable: planned for nothing, and the run fails."""
        live = self.live
        try:
            if customer_gone(self.client, customer_id):
                del live.customers[customer_id]
                live.vanished[customer_id] = f"listed, then its deep read got {missing}"
                return
            live.details[customer_id] = _read_detail(self.client, self._declared[customer_id])
        except PartnerCenterError as again:
            live.unreadable[customer_id] = f"{missing}; read again: {again}"


_DONE: Future[CustomerDetail] = Future()  # a customer whose file needs no deep read


def _counts(graph: GraphClient | None) -> tuple[int, int]:
    return (graph.request_count, graph.throttled_count) if graph is not None else (0, 0)


class _Held:
    """Progress kept until the command's meter exists (the read begins before the desired
    state, and so the meter's total, is known), then passed on to it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._to: Progress | None = None
        self._total: int | None = None
        self._steps = 0
        self._status: str | None = None

    def attach(self, progress: Progress) -> None:
        with self._lock:
            if self._to is progress:
                return
            self._to = progress
            if self._status is not None:
                progress.status(self._status)
            if self._total is not None:
                progress.expect(self._total)
            if self._steps:
                progress.advance(self._steps)
                self._steps = 0

    def expect(self, total: int) -> None:
        with self._lock:
            self._total = total
            if self._to is not None:
                self._to.expect(total)

    def detach(self) -> None:
        """From now on, progress goes nowhere."""
        with self._lock:
            self._to = SILENT

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            if self._to is None:
                self._steps += steps
            else:
                self._to.advance(steps)

    def status(self, text: str) -> None:
        with self._lock:
            self._status = text
            if self._to is not None:
                self._to.status(text)


class ReadAhead:
    """A full read begun when pcr starts, in a thread of its own, while the desired state
    still loads and validates: the customer list is paged from the first moment (the
    pages are a full read's critical path, a chain each asking for the next, and need
    nothing from the desired state), and each customer file, once valid, is `declare`d,
    which starts its reads. `finish` then completes the read for the whole desired state.

    The clients are opened in that thread too (`open_clients`), so neither opening them
    nor their first token holds up validation; what opening or paging raised is raised by
    `finish`, after validation, where the user expects it. `close()` ends it: the thread
    stops after the page in flight and closes the clients. Only reads happen here, so a
    plan abandoned because its desired state is invalid has changed nothing.
    """

    def __init__(
        self, open_clients: Callable[[], AbstractContextManager[Clients]], workers: int = 16
    ) -> None:
        self._open = open_clients
        self._workers = workers
        self._read: Future[tuple[Clients, LiveRead]] = Future()
        self._listing: Future[None] = Future()
        self._lock = threading.Lock()
        self._early: list[DesiredCustomer] = []  # declared before the clients were open
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pcr-listing", daemon=True)
        self._thread.start()

    def declare(self, customers: Iterable[DesiredCustomer]) -> None:
        with self._lock:
            if not self._read.done():
                self._early.extend(customers)
                return
        if self._read.exception() is None:
            self._read.result()[1].declare(customers)

    def finish(self, desired: Desired, progress: Progress) -> Live:
        clients, read = self._read.result()
        self._listing.result()
        live = read.finish(desired, progress, clients.graph_unavailable)
        live.api_calls += read_tenants(clients, desired, live)
        return live

    def close(self, *, wait: bool = True) -> None:
        """Stop and close the clients; `wait` for that (not when the run is abandoned: a
        slow page must not keep a user whose file needs fixing)."""
        self._closing.set()
        if wait:
            self._thread.join()

    def _run(self) -> None:
        interrupts.leave_signals_to_main()  # and so do the read's pools
        try:
            with (
                self._open() as clients,
                LiveRead(clients.partner_center, clients.graph, self._workers) as read,
            ):
                with self._lock:
                    read.declare(self._early)
                    self._read.set_result((clients, read))
                self._page(clients.partner_center, read)
                self._closing.wait()  # the read goes on with the clients until `close`
        except BaseException as exc:  # raised by `finish`
            if not self._read.done():
                self._read.set_exception(exc)

    def _page(self, client: PartnerCenterClient, read: LiveRead) -> None:
        try:
            for customer in client.iter_customers():
                if self._closing.is_set():
                    break
                read.listed(customer)
        except BaseException as exc:
            self._listing.set_exception(exc)
        else:
            self._listing.set_result(None)


def read_partner_gdap(
    clients: Clients, desired: Desired, live: Live, *, scoped: bool = False
) -> int:
    """Every declared customer's GDAP relationships into `live.gdap` (an empty tuple for
    one that has none), from one partner-wide listing, or for a scoped run (a few
    customers) from each customer's own; the Graph calls it took.

    Offboarding customers' are compared, steady customers' give notes (a relationship
    about to end). Without a Graph client, `live.gdap_unreadable` says why.
    """
    graph = clients.graph
    if graph is None:
        live.gdap = {}
        live.gdap_unreadable = clients.graph_unavailable or "no Microsoft Graph client"
        return 0
    start = graph.request_count
    found: dict[str, list[GdapRelationship]] = {cid: [] for cid in desired.customers}
    if scoped:  # a partner-wide listing costs a page per 300 relationships of every customer
        for cid in found:
            found[cid] = graph.list_relationships(cid)
    else:
        listed = 0
        with Meter("reading GDAP relationships", 1, "partner-wide listing") as meter:
            for relationship in graph.iter_all_relationships():
                listed += 1
                meter.status(f"{listed:,} relationships")
                if relationship.customer_id in found:
                    found[relationship.customer_id].append(relationship)
            meter.finish()
    live.gdap = {cid: tuple(relationships) for cid, relationships in found.items()}
    live.gdap_unreadable = None
    return graph.request_count - start


def gdap_summary(live: Live, graph_calls: int) -> str:
    """The GDAP part of the read summary line."""
    if live.gdap_unreadable is not None:
        return f"GDAP relationships not read: {live.gdap_unreadable}"
    read = sum(len(relationships) for relationships in live.gdap.values())
    return (
        f"{plural(read, 'GDAP relationship')} of declared customers, with "
        f"{plural(graph_calls, 'Microsoft Graph call')} (counted in the API calls)"
    )


def read_summary(live: Live) -> str:
    """One line for the log: how much reading Partner Center cost."""
    throttled = f", {live.throttled} throttled (429)" if live.throttled else ""
    vanished = f"; {len(live.vanished)} vanished while being read" if live.vanished else ""
    if live.unreadable:
        vanished += f"; {plural(len(live.unreadable), 'customer')} could not be read"
    details = plural(len(live.details), "customer's details", "customers' details")
    return (
        f"read {plural(len(live.customers), 'customer')} and {details} with "
        f"{plural(live.api_calls, 'API call')} in {live.read_seconds:.1f} s{throttled}{vanished}"
    )


def _needs_deep_read(declared: DesiredCustomer, found: Customer) -> bool:
    return needs_detail(declared) and found.relationship == CustomerRelationship.RESELLER


def _by_id(read: LiveRead, desired: Desired) -> Iterator[Customer]:
    """The declared customers Partner Center has, each read by id (a scoped read)."""
    lookups = {cid: read.lookup(_get_customer, cid) for cid in desired.customers}
    for customer_id, lookup in lookups.items():
        if (found := lookup.result()) is not None:
            yield found  # listed by the caller before the lookup is taken in
        read.looked_up(customer_id)


def _confirm_unlisted(
    read: LiveRead, desired: Desired, live: Live
) -> Iterator[tuple[str, Customer]]:
    """Declared customers that the paged list left out, but a direct read finds.

    Paging is no snapshot: a list that shifts under it can skip a customer, so each
    absent one is looked up by id before it counts as missing, offboarding ones too: a
    removal is done only when Partner Center says so, never because a page left it out.
    """
    unlisted = [
        c.tenant_id for c in desired.customers.values() if c.tenant_id not in live.customers
    ]
    lookups = {cid: read.lookup(_lookup, cid) for cid in unlisted}
    for customer_id, lookup in lookups.items():
        if (found := lookup.result()) is not None:
            yield customer_id, found  # listed by the caller before the lookup is taken in
        read.looked_up(customer_id)


def _needs_request_link(desired: Desired, live: Live) -> bool:
    """A declared reseller customer without a reseller relationship: only the customer can
    accept a new one, through the partner's invitation link."""
    return any(
        (found := live.customers.get(c.tenant_id)) is None
        or found.relationship != CustomerRelationship.RESELLER
        for c in desired.customers.values()
        if not c.offboarding and c.tenant_id not in live.vanished
    )


def _request_link(client: PartnerCenterClient) -> str | None:
    try:
        return client.relationship_request_url()
    except PartnerCenterError:  # a nicety for the blocked item: never worth failing the plan
        return None


def _lookup(client: PartnerCenterClient, customer_id: str) -> Customer | None:
    """The customer by id, or None on a 404: one answer, which its caller confirms or
    uses to confirm another (absence is never proof on one answer: docs/partner-center.md)."""
    try:
        return client.get_customer(customer_id)
    except NotFound:
        return None


def _get_customer(client: PartnerCenterClient, customer_id: str) -> Customer | None:
    """The customer by id; None only when Partner Center says so twice."""
    found = _lookup(client, customer_id)
    return found if found is not None else _lookup(client, customer_id)


def customer_gone(client: PartnerCenterClient, customer_id: str) -> bool:
    """After a 404 under a customer: whether it is no longer the partner's, by a fresh read
    of it (its relationship is `none`, or that read is a 404 too)."""
    found = _lookup(client, customer_id)
    return found is None or found.relationship == CustomerRelationship.NONE


def _read_detail(client: PartnerCenterClient, customer: DesiredCustomer) -> CustomerDetail:
    subscriptions = tuple(client.list_subscriptions(customer.tenant_id))
    ordered = {
        s.order_id for s in subscriptions if s.order_id and cancels_through_order(customer, s)
    }
    orders = tuple(client.get_order(customer.tenant_id, oid) for oid in sorted(ordered))
    if not needs_entitlements(customer):
        return CustomerDetail(subscriptions, orders=orders)
    entitlements = tuple(client.list_entitlements(customer.tenant_id))
    azure = tuple(
        entitlement
        for plan in subscriptions
        if needs_azure_entitlements(plan)
        for entitlement in client.list_azure_entitlements(customer.tenant_id, plan.id)
    )
    return CustomerDetail(subscriptions, entitlements, azure, orders)


def read_reservations(
    client: PartnerCenterClient, details: dict[str, CustomerDetail], *, workers: int = 8
) -> dict[str, CustomerDetail]:
    """The entitlements (with their expiry) of the customers read without them that have
    an Azure plan, under which reservations are bought; their details with them added."""
    ids = [
        cid
        for cid, detail in details.items()
        if not detail.entitlements
        and any(s.kind is SubscriptionKind.AZURE for s in detail.subscriptions)
    ]

    def read_one(customer_id: str) -> tuple[str, CustomerDetail]:
        try:
            entitlements = tuple(client.list_entitlements(customer_id))
        except NotFound:
            if not customer_gone(client, customer_id):
                raise  # still the partner's: the 404 is no answer, and the run says so
            entitlements = ()  # removed meanwhile: nothing of it to date
        return customer_id, replace(details[customer_id], entitlements=entitlements)

    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids)))) as pool:
        return dict(pool.map(read_one, ids))


def read_subscriptions(
    client: PartnerCenterClient,
    customer_ids: Iterable[str],
    *,
    workers: int = 8,
    progress: Progress = SILENT,
    reservations: bool = False,
) -> dict[str, CustomerDetail]:
    """Only the subscriptions of the given customers (`pcr drift --all`, `pcr import`), and
    with `reservations` the entitlements of those with an Azure plan, under which Azure
    reservations are bought (`pcr calendar`).

    A customer whose relationship was removed while pcr read (a 404, confirmed by a fresh
    read of the customer) is left out.
    `progress` advances once per customer.
    """
    ids = list(customer_ids)

    def detail_of(customer_id: str) -> CustomerDetail:
        subscriptions = tuple(client.list_subscriptions(customer_id))
        if reservations and any(s.kind is SubscriptionKind.AZURE for s in subscriptions):
            return CustomerDetail(subscriptions, tuple(client.list_entitlements(customer_id)))
        return CustomerDetail(subscriptions)

    def read_one(customer_id: str) -> tuple[str, CustomerDetail | None]:
        try:
            return customer_id, detail_of(customer_id)
        except NotFound:
            if customer_gone(client, customer_id):
                return customer_id, None
            # Still the partner's: the 404 was no removal. Once more, and what fails, fails.
            return customer_id, detail_of(customer_id)
        finally:
            progress.advance()

    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids)))) as pool:
        return {cid: detail for cid, detail in pool.map(read_one, ids) if detail is not None}
