"""Typed live state, built from the Partner Center wire format in exactly one place.

Nothing outside this module reads raw Partner Center JSON: the client parses
responses with the `*_from_wire` functions and the rest of pcr sees only these
frozen dataclasses.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

from reconciler.partnercenter.errors import MalformedAnswer

P = ParamSpec("P")
R = TypeVar("R")


class SubscriptionKind(StrEnum):
    NCE = "nce"
    LEGACY = "legacy"
    SOFTWARE = "software"
    AZURE = "azure"
    # A `productType` pcr does not know (SaaS, perpetual software, …): never acted on.
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
    OTHER = "other"


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

    @property
    def reserved_instances(self) -> tuple[Entitlement, ...]:
        return tuple(e for e in self.entitlements if e.type is EntitlementType.RESERVED_INSTANCE)


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


def classify(wire: Mapping[str, Any]) -> SubscriptionKind:
    """NCE vs legacy has no explicit flag: `productType.id` decides, else the offer id shape.

    NCE offer ids look like `PRODUCT:SKU:AVAILABILITY`; legacy ones are GUIDs
    with no `productType` at all.
    """
    product_type = _product_type(wire).lower()
    if product_type == "onlineservicesnce":
        return SubscriptionKind.NCE
    if product_type == "software":
        return SubscriptionKind.SOFTWARE
    if product_type == "azure":
        return SubscriptionKind.AZURE
    if product_type:
        return SubscriptionKind.UNKNOWN  # fail closed: its rules are not pcr's to guess
    if str(wire.get("offerId") or "").count(":") == 2:
        return SubscriptionKind.NCE
    return SubscriptionKind.LEGACY


def _product_type(wire: Mapping[str, Any]) -> str:
    return str((wire.get("productType") or {}).get("id") or "")


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
    return Subscription(
        id=str(wire["id"]),
        customer_id=customer_id,
        offer_id=str(wire.get("offerId") or ""),
        offer_name=str(wire.get("offerName") or wire.get("friendlyName") or ""),
        kind=classify(wire),
        status=_status(wire.get("status")),
        status_text=str(wire.get("status") or ""),
        product_type=_product_type(wire),
        auto_renew=bool(wire.get("autoRenewEnabled", False)),
        quantity=int(wire.get("quantity") or 0),
        term_duration=wire.get("termDuration"),
        commitment_end=parse_time(wire.get("commitmentEndDate")),
        cancellation_allowed_until=parse_time(wire.get("cancellationAllowedUntilDate")),
        order_id=wire.get("orderId"),
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
    artifacts = wire.get("entitledArtifacts") or []
    return Entitlement(
        customer_id=customer_id,
        type=kind,
        product_id=str(wire.get("productId") or ""),
        sku_id=str(wire.get("skuId") or ""),
        quantity=int(wire.get("quantity") or 0),
        order_id=(wire.get("referenceOrder") or {}).get("id"),
        artifact_ids=tuple(str(a.get("resourceId")) for a in artifacts if a.get("resourceId")),
        expires_at=parse_time(wire.get("expiryDate")),
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
