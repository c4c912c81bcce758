"""Plain-data builders for planner tests: desired customers, live customers, subscriptions."""

from __future__ import annotations

import itertools
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from reconciler.desired.marked_yaml import Mark
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import DesiredStatus
from reconciler.desired.model import GdapOffboarding
from reconciler.desired.model import NceOutsideWindow
from reconciler.desired.model import PartnerSettings
from reconciler.desired.model import PartnerType
from reconciler.desired.model import Policy
from reconciler.desired.model import Relationship
from reconciler.desired.model import SubscriptionOverride
from reconciler.desired.model import TenantCleanup
from reconciler.live.lifecycle import WINDOWED_KINDS
from reconciler.live.models import AzureEntitlement
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.models import Entitlement
from reconciler.live.models import EntitlementType
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapStatus
from reconciler.live.models import Live
from reconciler.live.models import Order
from reconciler.live.models import OrderLineItem
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.tenant import ContactList
from reconciler.live.tenant import Footprint
from reconciler.live.tenant import TenantApp
from reconciler.live.tenant import TenantUser

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def guid(n: int | None = None) -> str:
    return f"00000000-0000-4000-8000-{(n if n is not None else next(_ids)):012d}"


def sub(
    kind: SubscriptionKind = SubscriptionKind.NCE,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    *,
    id: str | None = None,
    auto_renew: bool = True,
    window_days: float | None = None,
    term_end_days: float = 100,
    customer_id: str = "",
    is_trial: bool = False,
    parent_id: str | None = None,
) -> Subscription:
    """A subscription; `window_days` > 0 means its cancellation window is still open."""
    windowed = kind in WINDOWED_KINDS
    if window_days is None:
        window_days = -30 if windowed else 0
    sid = id or guid()
    return Subscription(
        id=sid,
        customer_id=customer_id,
        offer_id="CFQ7TTC0LH18:0001" if kind is SubscriptionKind.NCE else guid(),
        offer_name=f"{kind.value} offer",
        kind=kind,
        status=status,
        auto_renew=auto_renew,
        quantity=5,
        commitment_end=NOW + timedelta(days=term_end_days),
        cancellation_allowed_until=NOW + timedelta(days=window_days) if windowed else None,
        is_trial=is_trial,
        parent_id=parent_id.lower() if parent_id else None,
        # A perpetual purchase is cancelled through its order's line (`detail` adds it).
        order_id=f"order-{sid[-6:]}" if kind is SubscriptionKind.PERPETUAL_SOFTWARE else None,
    )


def reserved_instance(order: str = "res-order-1") -> Entitlement:
    return Entitlement(
        customer_id="",
        type=EntitlementType.RESERVED_INSTANCE,
        product_id="DZH318Z0BQ3Q",
        sku_id="0001",
        quantity=1,
        order_id="o1",
        artifact_ids=(order,),
    )


def customer(
    tenant_id: str | None = None,
    relationship: Relationship = Relationship.NONE,
    *,
    name: str | None = "Contoso",
    domain: str | None = "contoso.onmicrosoft.com",
    protected: bool = False,
    overrides: tuple[SubscriptionOverride, ...] = (),
    nce_outside_window: NceOutsideWindow = NceOutsideWindow.WAIT,
    gdap: GdapOffboarding = GdapOffboarding.TERMINATE,
    tenant_cleanup: TenantCleanup | None = None,
) -> DesiredCustomer:
    tenant_id = tenant_id or guid()
    return DesiredCustomer(
        tenant_id=tenant_id,
        relationship=relationship,
        mark=Mark(f"customers/{tenant_id[-4:]}.yaml", 1, 1),
        name=name,
        domain=domain,
        protected=protected,
        subscriptions=overrides,
        nce_outside_window=nce_outside_window,
        gdap=gdap,
        tenant_cleanup=tenant_cleanup or TenantCleanup(),
    )


def override(
    sub_id: str, status: DesiredStatus | None = None, auto_renew: bool | None = None
) -> SubscriptionOverride:
    return SubscriptionOverride(sub_id, status, auto_renew, Mark("customers/x.yaml", 7, 5))


def live_customer(
    desired: DesiredCustomer, *, relationship: str = "reseller", domain: str | None = None
) -> Customer:
    return Customer(
        id=desired.tenant_id,
        name=desired.name or "",
        domain=domain or desired.domain or "example.onmicrosoft.com",
        relationship=relationship,
    )


def estate(
    *pairs: tuple[DesiredCustomer, CustomerDetail | None],
    partner_type: PartnerType = PartnerType.DIRECT,
    max_removals: int = 10,
    extra_live: tuple[Customer, ...] = (),
) -> tuple[Desired, Live]:
    """Desired and live state where every declared customer exists live as a reseller."""
    desired = Desired(
        PartnerSettings(partner_type, Policy(max_removals_per_run=max_removals)),
        {c.tenant_id: c for c, _ in pairs},
    )
    live = Live()
    for c, detail in pairs:
        live.customers[c.tenant_id] = live_customer(c)
        if detail is not None:
            live.details[c.tenant_id] = detail
        if c.ends_gdap:  # read, as `read_live` does: none unless a test adds some
            live.gdap[c.tenant_id] = ()
    for extra in extra_live:
        live.customers[extra.id] = extra
    return desired, live


def detail(
    *subs: Subscription, ris: int = 0, azure: tuple[AzureEntitlement, ...] = ()
) -> CustomerDetail:
    """A deep read: with the order of each perpetual purchase, its line in it."""
    orders = tuple(
        Order(s.order_id, s.customer_id, "completed", (OrderLineItem(0, s.offer_id, 1, s.id),))
        for s in subs
        if s.order_id
    )
    reservations = tuple(reserved_instance(f"ro-{i}") for i in range(ris))
    return CustomerDetail(tuple(subs), reservations, azure, orders)


def azure_subscription(
    plan: Subscription, status: AzureEntitlementStatus = AzureEntitlementStatus.ACTIVE
) -> AzureEntitlement:
    """An Azure subscription under an Azure plan."""
    return AzureEntitlement(guid(), "", plan.id.lower(), "Microsoft Azure", status, status.value)


def relationship(
    customer_id: str,
    status: GdapStatus = GdapStatus.ACTIVE,
    *,
    name: str | None = None,
    ends_in_days: int = 400,
    auto_extend: str = "PT0S",
) -> GdapRelationship:
    """A GDAP relationship with `customer_id`; its id is two GUIDs joined, as Graph's are."""
    relationship_id = f"{guid()}-{guid()}"
    return GdapRelationship(
        id=relationship_id,
        customer_id=customer_id,
        name=name or f"gdap {status.value} {relationship_id[:4]}",
        status=status,
        status_text=status.value,
        etag=f'W/"{relationship_id[:8]}"',
        ends=NOW + timedelta(days=ends_in_days),
        auto_extend=auto_extend,
    )


PARTNER_DOMAIN = "partner.example"
PARTNER_TENANT = "99999999-0000-0000-0000-000000000099"
OWN_APP = "0000aaaa-0000-0000-0000-00000000a99a"  # the app pcr signs in with


def footprint(
    guests: int = 0, contacts: int = 0, apps: int = 0, *, own_app: bool = False
) -> Footprint:
    """What of the partner's a customer's tenant holds, as read for its clean-up."""
    addresses = [f"ops{n}@{PARTNER_DOMAIN}" for n in range(contacts)]
    found_apps = [
        TenantApp(guid(), guid(), f"Partner app {n}", PARTNER_TENANT) for n in range(apps)
    ]
    if own_app:
        found_apps.append(TenantApp(guid(), OWN_APP, "pcr", PARTNER_TENANT))
    return Footprint(
        guests=tuple(
            TenantUser(guid(), f"Tech {n}", f"tech{n}@{PARTNER_DOMAIN}", f"tech{n}_x#EXT#@c")
            for n in range(guests)
        ),
        contacts=tuple((ContactList.TECHNICAL, a) for a in addresses),
        organization_id=guid(),
        apps=tuple(found_apps),
    )
