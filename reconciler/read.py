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

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from reconciler.desired import Desired, DesiredCustomer
from reconciler.lifecycle import (
    RESELLER,
    needs_azure_entitlements,
    needs_detail,
    needs_entitlements,
    needs_gdap,
)
from reconciler.partnercenter.client import PartnerCenterClient
from reconciler.partnercenter.errors import NotFound, PartnerCenterError
from reconciler.partnercenter.graph import GraphClient
from reconciler.partnercenter.models import Customer, CustomerDetail, GdapRelationship, Live
from reconciler.progress import SILENT, Progress
from reconciler.render.common import plural


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
    `Live.vanished` and never stops the read of the others. `progress` advances
    once per declared customer read in full, its status the count listed so far.
    The GDAP relationships of the customers whose offboarding ends them come from
    Microsoft Graph (`graph`), read beside the rest; without a Graph client,
    `Live.gdap_unreadable` says why (`graph_unavailable`).
    """
    start, throttled, started = client.request_count, client.throttled_count, time.monotonic()
    graph_start = graph.request_count if graph is not None else 0
    graph_throttled = graph.throttled_count if graph is not None else 0
    live = Live()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        gdap = _start_gdap_reads(pool, graph, desired)
        deep = _DeepReads(pool, client, desired, progress)
        listed = _by_id(pool, client, desired) if scoped else client.iter_customers()
        for customer in listed:
            live.customers[customer.id.lower()] = customer
            progress.status(f"{len(live.customers):,} listed")
            deep.start(customer.id.lower(), customer)
        confirmed = () if scoped else _confirm_unlisted(pool, client, desired, live)
        for customer_id, customer in confirmed:
            live.customers[customer_id] = customer
            deep.start(customer_id, customer)
        deep.collect(live)
        live.gdap = {cid: tuple(read.result()) for cid, read in gdap.items()}
    if graph is None and any(needs_gdap(c) for c in desired.customers.values()):
        live.gdap_unreadable = graph_unavailable or "no Microsoft Graph client"
    if _needs_request_link(desired, live):
        live.relationship_request_url = _request_link(client)
    live.api_calls = client.request_count - start
    if graph is not None:
        live.api_calls += graph.request_count - graph_start
    live.throttled = client.throttled_count - throttled
    if graph is not None:
        live.throttled += graph.throttled_count - graph_throttled
    live.read_seconds = time.monotonic() - started
    return live


def read_summary(live: Live) -> str:
    """One line for the log: how much reading Partner Center cost."""
    throttled = f", {live.throttled} throttled (429)" if live.throttled else ""
    vanished = f"; {len(live.vanished)} vanished while being read" if live.vanished else ""
    read = len(live.details)
    details = "1 customer's details" if read == 1 else f"{read} customers' details"
    return (
        f"read {plural(len(live.customers), 'customer')} and {details} with "
        f"{plural(live.api_calls, 'API call')} in {live.read_seconds:.1f} s{throttled}{vanished}"
    )


def _start_gdap_reads(
    pool: ThreadPoolExecutor, graph: GraphClient | None, desired: Desired
) -> dict[str, Future[list[GdapRelationship]]]:
    """One Graph listing per customer whose offboarding ends its GDAP relationships,
    listed by Partner Center or not: a removal done by hand can leave them behind."""
    if graph is None:
        return {}
    return {
        c.tenant_id: pool.submit(graph.list_relationships, c.tenant_id)
        for c in desired.customers.values()
        if needs_gdap(c)
    }


def _needs_deep_read(declared: DesiredCustomer, found: Customer) -> bool:
    return needs_detail(declared) and found.relationship == "reseller"


@dataclass
class _DeepReads:
    """The deep reads in flight, by customer id; a 404 on one is that customer's alone."""

    pool: ThreadPoolExecutor
    client: PartnerCenterClient
    desired: Desired
    progress: Progress
    pending: dict[str, Future[CustomerDetail]] = field(default_factory=dict)

    def start(self, customer_id: str, found: Customer) -> None:
        wanted = self.desired.customers.get(customer_id)
        if wanted is None:
            return
        if not _needs_deep_read(wanted, found):
            self.progress.advance()
            return
        future = self.pool.submit(_read_detail, self.client, wanted)
        future.add_done_callback(lambda _: self.progress.advance())
        self.pending[customer_id] = future

    def collect(self, live: Live) -> None:
        for customer_id, future in self.pending.items():
            try:
                live.details[customer_id] = future.result()
            except NotFound as gone:
                # Listed a moment ago, 404 now: its relationship was removed meanwhile,
                # so it is no longer in the partner's list. Other errors still abort.
                del live.customers[customer_id]
                live.vanished[customer_id] = f"listed, then its deep read got {gone}"


def _by_id(
    pool: ThreadPoolExecutor, client: PartnerCenterClient, desired: Desired
) -> Iterator[Customer]:
    """The declared customers Partner Center has, each read by id (a scoped read)."""
    lookups = [pool.submit(_get_customer, client, cid) for cid in desired.customers]
    for lookup in lookups:
        if (found := lookup.result()) is not None:
            yield found


def _confirm_unlisted(
    pool: ThreadPoolExecutor, client: PartnerCenterClient, desired: Desired, live: Live
) -> Iterator[tuple[str, Customer]]:
    """Declared resellers that the paged list left out, but a direct read finds.

    Paging is no snapshot: a list that shifts under it can skip a customer, so
    each absent reseller is looked up once by id before it counts as missing.
    Offboarding customers are not: for them absence means the removal is done.
    """
    unlisted = [
        c.tenant_id
        for c in desired.customers.values()
        if not c.offboarding and c.tenant_id not in live.customers
    ]
    lookups = {cid: pool.submit(_get_customer, client, cid) for cid in unlisted}
    for customer_id, lookup in lookups.items():
        if (found := lookup.result()) is not None:
            yield customer_id, found


def _needs_request_link(desired: Desired, live: Live) -> bool:
    """A declared reseller customer without a reseller relationship: only the customer can
    accept a new one, through the partner's invitation link."""
    return any(
        (found := live.customers.get(c.tenant_id)) is None or found.relationship != RESELLER
        for c in desired.customers.values()
        if not c.offboarding and c.tenant_id not in live.vanished
    )


def _request_link(client: PartnerCenterClient) -> str | None:
    try:
        return client.relationship_request_url()
    except PartnerCenterError:  # a nicety for the blocked item: never worth failing the plan
        return None


def _get_customer(client: PartnerCenterClient, customer_id: str) -> Customer | None:
    try:
        return client.get_customer(customer_id)
    except NotFound:
        return None


def _read_detail(client: PartnerCenterClient, customer: DesiredCustomer) -> CustomerDetail:
    subscriptions = tuple(client.list_subscriptions(customer.tenant_id))
    if not needs_entitlements(customer):
        return CustomerDetail(subscriptions)
    entitlements = tuple(client.list_entitlements(customer.tenant_id))
    azure = tuple(
        entitlement
        for plan in subscriptions
        if needs_azure_entitlements(plan)
        for entitlement in client.list_azure_entitlements(customer.tenant_id, plan.id)
    )
    return CustomerDetail(subscriptions, entitlements, azure)


def read_subscriptions(
    client: PartnerCenterClient,
    customer_ids: Iterable[str],
    *,
    workers: int = 8,
    progress: Progress = SILENT,
) -> dict[str, CustomerDetail]:
    """Only the subscriptions of the given customers (`pcr drift --all`, `pcr import`).

    A customer whose relationship was removed while pcr read (404) is left out.
    `progress` advances once per customer.
    """
    ids = list(customer_ids)

    def read_one(customer_id: str) -> tuple[str, CustomerDetail | None]:
        try:
            return customer_id, CustomerDetail(tuple(client.list_subscriptions(customer_id)))
        except NotFound:
            return customer_id, None
        finally:
            progress.advance()

    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids)))) as pool:
        return {cid: detail for cid, detail in pool.map(read_one, ids) if detail is not None}
