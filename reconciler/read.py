"""Read live state from Partner Center: only what the desired state needs.

The throttle (about 500 requests a minute per partner tenant) bounds every
large run, so the customer list is read once, page by page, and a customer's
subscriptions and entitlements only when its declared state needs them
(offboarding, or subscription overrides) — never for every live customer.
Deep reads of different customers run in parallel under the client's own
concurrency and rate limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from reconciler.desired import Desired, DesiredCustomer
from reconciler.partnercenter.client import PartnerCenterClient
from reconciler.partnercenter.models import Customer, CustomerDetail, Live
from reconciler.planner import needs_detail, needs_entitlements


def read_live(client: PartnerCenterClient, desired: Desired, *, workers: int = 16) -> Live:
    """Every live customer, plus deep reads for the declared customers that need them.

    Deep reads start as soon as a customer appears in the paged list, so they
    overlap with the (necessarily sequential) paging instead of waiting for it.
    """
    start, throttled, started = client.request_count, client.throttled_count, time.monotonic()
    live = Live()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {}
        for customer in client.iter_customers():
            live.customers[customer.id.lower()] = customer
            wanted = desired.customers.get(customer.id.lower())
            if wanted is not None and _needs_deep_read(wanted, customer):
                pending[wanted.tenant_id] = pool.submit(_read_detail, client, wanted)
        live.details = {cid: future.result() for cid, future in pending.items()}
    live.api_calls = client.request_count - start
    live.throttled = client.throttled_count - throttled
    live.read_seconds = time.monotonic() - started
    return live


def read_summary(live: Live) -> str:
    """One line for the log: how much reading Partner Center cost."""
    throttled = f", {live.throttled} throttled (429)" if live.throttled else ""
    return (
        f"read {len(live.customers)} customers and {len(live.details)} customers' details "
        f"with {live.api_calls} API calls in {live.read_seconds:.1f} s{throttled}"
    )


def _needs_deep_read(declared: DesiredCustomer, found: Customer) -> bool:
    return needs_detail(declared) and found.relationship == "reseller"


def _read_detail(client: PartnerCenterClient, customer: DesiredCustomer) -> CustomerDetail:
    subscriptions = tuple(client.list_subscriptions(customer.tenant_id))
    entitlements = (
        tuple(client.list_entitlements(customer.tenant_id)) if needs_entitlements(customer) else ()
    )
    return CustomerDetail(subscriptions, entitlements)


def read_subscriptions(
    client: PartnerCenterClient, customer_ids: Iterable[str], *, workers: int = 8
) -> dict[str, CustomerDetail]:
    """Only the subscriptions of the given customers (`pcr drift --all`, `pcr import`)."""
    ids = list(customer_ids)

    def read_one(customer_id: str) -> tuple[str, CustomerDetail]:
        return customer_id, CustomerDetail(tuple(client.list_subscriptions(customer_id)))

    if not ids:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(ids)))) as pool:
        return dict(pool.map(read_one, ids))
