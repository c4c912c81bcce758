"""Read live state from Partner Center: only what the desired state needs.

The throttle (about 500 requests a minute per partner tenant) bounds every
large run, so the customer list is read once, page by page, and a customer's
subscriptions and entitlements only when its declared state needs them
(offboarding, or subscription overrides) — never for every live customer.
Deep reads of different customers run in parallel under the client's own
concurrency and rate limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from reconciler.desired import Desired, DesiredCustomer
from reconciler.partnercenter.client import PartnerCenterClient
from reconciler.partnercenter.models import Customer, CustomerDetail, Live
from reconciler.planner import needs_detail, needs_entitlements


def read_live(client: PartnerCenterClient, desired: Desired, *, workers: int = 8) -> Live:
    """Every live customer, plus deep reads for the declared customers that need them."""
    start = client.request_count
    customers = {c.id.lower(): c for c in client.iter_customers()}
    deep = deep_read_targets(desired.customers.values(), customers)
    live = Live(customers=customers)
    live.details = read_details(client, deep, workers=workers)
    live.api_calls = client.request_count - start
    return live


def deep_read_targets(
    declared: Iterable[DesiredCustomer], live: dict[str, Customer]
) -> list[DesiredCustomer]:
    """Declared customers that still have a reseller relationship and need their details."""
    return [
        c
        for c in declared
        if needs_detail(c)
        and (found := live.get(c.tenant_id)) is not None
        and found.relationship == "reseller"
    ]


def read_details(
    client: PartnerCenterClient, customers: list[DesiredCustomer], *, workers: int = 8
) -> dict[str, CustomerDetail]:
    def read_one(customer: DesiredCustomer) -> tuple[str, CustomerDetail]:
        subscriptions = tuple(client.list_subscriptions(customer.tenant_id))
        entitlements = (
            tuple(client.list_entitlements(customer.tenant_id))
            if needs_entitlements(customer)
            else ()
        )
        return customer.tenant_id, CustomerDetail(subscriptions, entitlements)

    if not customers:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(customers)))) as pool:
        return dict(pool.map(read_one, customers))
