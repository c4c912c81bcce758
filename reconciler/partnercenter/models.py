"""Typed live state, built from the Partner Center wire format in exactly one place.

Nothing outside this module reads raw Partner Center JSON: the client parses
responses with the `*_from_wire` functions and the rest of pcr sees only these
frozen dataclasses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from reconciler.partnercenter.errors import MalformedAnswer

P = ParamSpec("P")
R = TypeVar("R")


class SubscriptionKind(StrEnum):
    """What a subscription is, which decides every rule pcr applies to it (reference §16)."""

    NCE = "nce"
    LEGACY = "legacy"
    SOFTWARE = "software"  # a software subscription, with a term
    PERPETUAL_SOFTWARE = "perpetual_software"  # a one-time software purchase, no term
    SAAS = "saas"  # a marketplace SaaS subscription
    AZURE = "azure"  # the Azure plan; the Azure subscriptions under it are entitlements
    SAVINGS_PLAN = "savings_plan"  # an Azure savings plan: final, it cannot be cancelled
    # A `productType` (or Azure sub-type) pcr does not know: never acted on.
    UNKNOWN = "unknown"


class SubscriptionStatus(StrEnum):
    NONE = "none"
    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    DISABLED = "disabled"
    DELETED = "deleted"
    # Not Partner Center's: a value outside its documented list (§18), kept as it came
    # in `Subscription.status_text`. pcr never acts on what it does not know.
    UNKNOWN = "unknown"


class EntitlementType(StrEnum):
    RESERVED_INSTANCE = "reservedinstance"
    SOFTWARE = "software"
    OTHER = "other"  # a type pcr does not know: what it stands for is not pcr's to guess


class AzureEntitlementStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # cancelled: billing stopped, resources disabled
    UNKNOWN = "unknown"  # anything else, kept as it came in `status_text`


@dataclass(frozen=True)
class Customer:
    id: str  # the customer's tenant id
    name: str
    domain: str
    relationship: str  # none | reseller | advisor | syndication | microsoft_support


@dataclass(frozen=True)
class Subscription:
    id: str
    customer_id: str
    offer_id: str
    offer_name: str
    kind: SubscriptionKind
    status: SubscriptionStatus
    auto_renew: bool
    quantity: int
    term_duration: str | None = None
    commitment_end: datetime | None = None
    cancellation_allowed_until: datetime | None = None
    order_id: str | None = None
    status_text: str = ""  # the status as Partner Center sent it
    product_type: str = ""  # `productType.id` as Partner Center sent it
    is_trial: bool = False
    parent_id: str | None = None  # the base subscription of an add-on (lower case)
    billing_cycle: str = ""
    creation: datetime | None = None
    effective_start: datetime | None = None  # the start of the current term
    full_refund_until: datetime | None = None  # `refundOptions` of type Full
    # Fields pcr read but could not parse or does not know, each as "field 'value'":
    # every one of them makes the subscription a state pcr never acts on.
    unknowns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entitlement:
    customer_id: str
    type: EntitlementType
    product_id: str
    sku_id: str
    quantity: int
    order_id: str | None
    # For reserved instances: the Azure reservation order ids a support request must name.
    artifact_ids: tuple[str, ...] = ()
    # Only present when the list was asked for with `showExpiry=true`.
    expires_at: datetime | None = None
    type_text: str = ""  # `entitlementType` as Partner Center sent it
    unknowns: tuple[str, ...] = ()  # as for subscriptions


@dataclass(frozen=True)
class AzureEntitlement:
    """An Azure subscription under an Azure plan (reference §14)."""

    id: str  # the Azure subscription id
    customer_id: str
    plan_id: str  # the Azure plan's Partner Center subscription id (lower case)
    name: str
    status: AzureEntitlementStatus
    status_text: str = ""


@dataclass(frozen=True)
class OrderLineItem:
    number: int
    offer_id: str
    quantity: int
    subscription_id: str | None = None


@dataclass(frozen=True)
class Order:
    """A purchase order; software purchases are cancelled through it, line by line."""

    id: str
    customer_id: str
    status: str  # completed | pending | cancelled
    line_items: tuple[OrderLineItem, ...] = ()
    created: datetime | None = None


@dataclass(frozen=True)
class CustomerDetail:
    """What a deep read of one customer returns: its subscriptions and entitlements."""

    subscriptions: tuple[Subscription, ...] = ()
    entitlements: tuple[Entitlement, ...] = ()
    # The Azure subscriptions under each live Azure plan; read only when offboarding.
    azure_entitlements: tuple[AzureEntitlement, ...] = ()

    @property
    def reserved_instances(self) -> tuple[Entitlement, ...]:
        return tuple(e for e in self.entitlements if e.type is EntitlementType.RESERVED_INSTANCE)

    def under(self, plan: Subscription) -> tuple[AzureEntitlement, ...]:
        """The Azure subscriptions under an Azure plan."""
        return tuple(e for e in self.azure_entitlements if e.plan_id == plan.id.lower())


@dataclass
class Live:
    """Live state as read for one plan: every customer, plus deep reads where needed."""

    customers: dict[str, Customer] = field(default_factory=dict)
    details: dict[str, CustomerDetail] = field(default_factory=dict)
    # Customers listed, then answering 404 to their deep read: the relationship was
    # removed while pcr read (someone in the portal). They are left out of `customers`,
    # as they are no longer in the partner's list; id -> what happened, one line.
    vanished: dict[str, str] = field(default_factory=dict)
    # The link to send a customer whose reseller relationship is missing; read only when
    # a declared customer needs it, None when Partner Center would not give it.
    relationship_request_url: str | None = None
    api_calls: int = 0
    throttled: int = 0  # 429 answers received while reading
    read_seconds: float = 0.0


def parse_time(value: object) -> datetime | None:
    """Parse a Partner Center timestamp; naive times are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(value: datetime) -> str:
    """The UTC date, which is what Partner Center's term and window dates mean."""
    return format_time(value)[:10]


def moment(value: datetime) -> str:
    """A deadline as people read it: date, time and zone ("2026-12-03 23:59 UTC")."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# `productType.id` (lower case) -> kind; "software" and "azure" look further (see classify).
_PRODUCT_KINDS = {
    "onlineservicesnce": SubscriptionKind.NCE,
    "software": SubscriptionKind.SOFTWARE,
    "saas": SubscriptionKind.SAAS,
    "azure": SubscriptionKind.AZURE,
}
_AZURE_SUBTYPES = {"": SubscriptionKind.AZURE, "azure": SubscriptionKind.AZURE}
_AZURE_SUBTYPES["savingsplan"] = SubscriptionKind.SAVINGS_PLAN
# The documented values (reference §4); anything else is a field pcr does not know.
BILLING_CYCLES = frozenset({"", "none", "monthly", "annual", "triennial", "one_time"})


def classify(wire: Mapping[str, Any]) -> SubscriptionKind:
    """What a subscription is: `productType` decides, else the shape of the offer id.

    There is no explicit NCE flag. NCE offer ids look like `PRODUCT:SKU:AVAILABILITY`;
    legacy ones are GUIDs (or `MS-AZR-…` for legacy Azure) with no `productType`.
    Software without a term is a perpetual purchase. Anything else is unknown.
    """
    product_type = _product_type(wire).lower()
    kind = _PRODUCT_KINDS.get(product_type)
    if kind is SubscriptionKind.SOFTWARE and not wire.get("termDuration"):
        return SubscriptionKind.PERPETUAL_SOFTWARE
    if kind is SubscriptionKind.AZURE:
        subtype = str(((wire.get("productType") or {}).get("subType") or {}).get("id") or "")
        return _AZURE_SUBTYPES.get(subtype.lower(), SubscriptionKind.UNKNOWN)
    if kind is not None:
        return kind
    if product_type:
        return SubscriptionKind.UNKNOWN  # fail closed: its rules are not pcr's to guess
    offer_id = str(wire.get("offerId") or "")
    if offer_id.count(":") == 2:
        return SubscriptionKind.NCE
    if _GUID.fullmatch(offer_id) or offer_id.upper().startswith("MS-AZR-"):
        return SubscriptionKind.LEGACY
    return SubscriptionKind.UNKNOWN


def _product_type(wire: Mapping[str, Any]) -> str:
    return str((wire.get("productType") or {}).get("id") or "")


class _Reader:
    """Reads the fields of one resource; what it cannot parse becomes an unknown, not a crash.

    A subscription with a date pcr cannot read is still a subscription: the
    planner must see it (and refuse to act on it), not lose it in a parse error.
    """

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.wire = wire
        self.unknowns: list[str] = []

    def unknown(self, name: str) -> None:
        self.unknowns.append(f"{name} {self.wire.get(name)!r}")

    def time(self, name: str) -> datetime | None:
        value = self.wire.get(name)
        if value is None or value == "":
            return None
        try:
            if isinstance(value, str):
                return parse_time(value)
        except ValueError:
            pass
        self.unknown(name)
        return None

    def flag(self, name: str) -> bool:
        value = self.wire.get(name, False)
        if value is None or isinstance(value, bool):
            return bool(value)
        self.unknown(name)
        return False

    def choice(self, name: str, known: frozenset[str]) -> str:
        value = self.wire.get(name)
        text = "" if value is None else str(value).lower()
        if not isinstance(value, str | None) or text not in known:
            self.unknown(name)
        return text


def _status(value: object) -> SubscriptionStatus:
    try:
        status = SubscriptionStatus(str(value).lower())
    except ValueError:
        return SubscriptionStatus.UNKNOWN
    return SubscriptionStatus.UNKNOWN if status is SubscriptionStatus.UNKNOWN else status


def _from_wire(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A parser of `what`: a value it cannot read is the service's answer's fault, said so."""

    def decorate(parse: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(parse)
        def parsed(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return parse(*args, **kwargs)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise MalformedAnswer(what, f"{type(exc).__name__}: {exc}") from None

        return parsed

    return decorate


@_from_wire("customer")
def customer_from_wire(wire: Mapping[str, Any]) -> Customer:
    profile = wire.get("companyProfile") or {}
    return Customer(
        id=str(wire.get("id") or profile.get("tenantId") or ""),
        name=str(profile.get("companyName") or ""),
        domain=str(profile.get("domain") or ""),
        relationship=str(wire.get("relationshipToPartner") or "none").lower(),
    )


@_from_wire("subscription")
def subscription_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Subscription:
    read = _Reader(wire)
    parent = wire.get("parentSubscriptionId")
    return Subscription(
        id=str(wire["id"]),
        customer_id=customer_id,
        offer_id=str(wire.get("offerId") or ""),
        offer_name=str(wire.get("offerName") or wire.get("friendlyName") or ""),
        kind=classify(wire),
        status=_status(wire.get("status")),
        status_text=str(wire.get("status") or ""),
        product_type=_product_type(wire),
        auto_renew=read.flag("autoRenewEnabled"),
        quantity=int(wire.get("quantity") or 0),
        term_duration=wire.get("termDuration"),
        commitment_end=read.time("commitmentEndDate"),
        cancellation_allowed_until=read.time("cancellationAllowedUntilDate"),
        order_id=wire.get("orderId"),
        is_trial=read.flag("isTrial"),
        parent_id=str(parent).lower() if parent else None,
        billing_cycle=read.choice("billingCycle", BILLING_CYCLES),
        creation=read.time("creationDate"),
        effective_start=read.time("effectiveStartDate"),
        full_refund_until=_full_refund_until(wire.get("refundOptions"), read),
        unknowns=tuple(read.unknowns),
    )


def _full_refund_until(options: object, read: _Reader) -> datetime | None:
    if options is None or options == []:
        return None
    if not isinstance(options, list):
        read.unknown("refundOptions")
        return None
    until = None
    for option in options:
        if not isinstance(option, dict):
            read.unknown("refundOptions")
        elif str(option.get("type") or "").lower() == "full":
            until = _Reader(option).time("expiresAt") or until
    return until


@_from_wire("Azure entitlement")
def azure_entitlement_from_wire(
    customer_id: str, plan_id: str, wire: Mapping[str, Any]
) -> AzureEntitlement:
    text = str(wire.get("status") or "")
    try:
        status = AzureEntitlementStatus(text.lower())
    except ValueError:
        status = AzureEntitlementStatus.UNKNOWN
    return AzureEntitlement(
        id=str(wire["id"]).lower(),
        customer_id=customer_id,
        plan_id=str(wire.get("subscriptionId") or plan_id).lower(),
        name=str(wire.get("friendlyName") or ""),
        status=status,
        status_text=text,
    )


@_from_wire("relationship request")
def relationship_request_from_wire(wire: Mapping[str, Any]) -> str:
    url = wire["url"]
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ValueError(f"not an https link: {url!r}")
    return url


@_from_wire("entitlement")
def entitlement_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Entitlement:
    raw_type = str(wire.get("entitlementType") or "").lower()
    try:
        kind = EntitlementType(raw_type)
    except ValueError:
        kind = EntitlementType.OTHER
    read = _Reader(wire)
    if kind is EntitlementType.OTHER:
        read.unknown("entitlementType")
    artifacts = wire.get("entitledArtifacts") or []
    return Entitlement(
        customer_id=customer_id,
        type=kind,
        product_id=str(wire.get("productId") or ""),
        sku_id=str(wire.get("skuId") or ""),
        quantity=int(wire.get("quantity") or 0),
        order_id=(wire.get("referenceOrder") or {}).get("id"),
        artifact_ids=tuple(str(a.get("resourceId")) for a in artifacts if a.get("resourceId")),
        expires_at=read.time("expiryDate"),
        type_text=str(wire.get("entitlementType") or ""),
        unknowns=tuple(read.unknowns),
    )


@_from_wire("order")
def order_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Order:
    return Order(
        id=str(wire.get("id") or ""),
        customer_id=customer_id,
        status=str(wire.get("status") or "").lower(),
        line_items=tuple(
            OrderLineItem(
                number=int(line.get("lineItemNumber") or 0),
                offer_id=str(line.get("offerId") or ""),
                quantity=int(line.get("quantity") or 0),
                subscription_id=line.get("subscriptionId"),
            )
            for line in wire.get("lineItems") or []
        ),
        created=parse_time(wire.get("creationDate")),
    )
