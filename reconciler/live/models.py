"""Typed live state, built from the Partner Center wire format in exactly one place.

Nothing outside this module reads raw Partner Center JSON: the client parses
responses with the `*_from_wire` functions and the rest of pcr sees only these
frozen dataclasses.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Any
from typing import Generic
from typing import ParamSpec
from typing import TypeGuard
from typing import TypeVar

from reconciler.live.errors import ANSWER
from reconciler.live.errors import MalformedAnswer
from reconciler.timestamps import format_time

if TYPE_CHECKING:  # read by `live.tenant_read`, which builds on these models
    from reconciler.live.tenant import Footprint

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SubscriptionKind(StrEnum):
    """What a subscription is, which decides every rule pcr applies to it
    (docs/partner-center.md, "What a subscription is")."""

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
    # Not Partner Center's: a value outside its documented list (docs/partner-center.md,
    # "The values pcr reads"), kept as it came
    # in `Subscription.status_text`. pcr never acts on what it does not know.
    UNKNOWN = "unknown"


class CustomerRelationship(StrEnum):
    """`relationshipToPartner`: Microsoft's values (the SDK's CustomerPartnerRelationship,
    docs/partner-center.md), and UNKNOWN for anything else, or none at all."""

    NONE = "none"  # removed: the customer is no longer the partner's
    RESELLER = "reseller"
    ADVISOR = "advisor"
    SYNDICATION = "syndication"
    MICROSOFT_SUPPORT = "microsoft_support"
    # Microsoft's own "unknown" (the SDK's value for what the service did not say), a
    # value newer than pcr, or a customer without the field: never taken as `none`.
    UNKNOWN = "unknown"


class EntitlementType(StrEnum):
    RESERVED_INSTANCE = "reservedinstance"
    SOFTWARE = "software"
    OTHER = "other"  # a type pcr does not know: what it stands for is not pcr's to guess


# Earlier names Microsoft still documents for a type (docs/partner-center.md).
_ENTITLEMENT_ALIASES = {"virtualmachinereservedinstance": EntitlementType.RESERVED_INSTANCE}

# Values Microsoft defines that pcr reads as unknown on purpose, by field: it acts on
# nothing that has one (docs/partner-center.md). Every other documented value is
# understood; tests/conformance holds pcr to both.
FAILS_CLOSED: dict[str, frozenset[str]] = {
    # The service's "it did not say": never taken as reseller or as none.
    "Customer.relationshipToPartner": frozenset({"unknown"}),
    # A reservation sold as a subscription: its rules are not pcr's to guess.
    "Subscription.productType.subType.id": frozenset({"VirtualMachines"}),
    # Graph's sentinel for values newer than the caller.
    "GraphDelegatedAdminRelationship.status": frozenset({"unknownFutureValue"}),
    "GraphDelegatedAdminRelationshipRequest.status": frozenset({"unknownFutureValue"}),
}


class AzureEntitlementStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"  # cancelled: billing stopped, resources disabled
    UNKNOWN = "unknown"  # anything else, kept as it came in `status_text`


class GdapStatus(StrEnum):
    """A GDAP relationship's status in Microsoft Graph (docs/partner-center.md,
    "The values pcr reads")."""

    CREATED = "created"  # the partner's draft: deleted, never terminated
    APPROVAL_PENDING = "approvalPending"  # waits for the customer: nothing pcr may do
    APPROVED = "approved"  # transient, on its way to active
    ACTIVATING = "activating"  # transient
    ACTIVE = "active"  # the partner's roles hold: terminated when offboarding
    EXPIRING = "expiring"
    EXPIRED = "expired"
    TERMINATION_REQUESTED = "terminationRequested"  # transient, on its way to terminated
    TERMINATING = "terminating"  # transient
    TERMINATED = "terminated"
    UNKNOWN = "unknown"  # `unknownFutureValue` or anything newer: blocks


class GdapRequestStatus(StrEnum):
    """A terminate request's status (docs/partner-center.md, "The values pcr reads")."""

    CREATED = "created"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


# An `autoExtendDuration` that extends nothing (docs/partner-center.md, "GDAP").
NO_EXTENSION = frozenset({"", "pt0s", "p0d"})


@dataclass(frozen=True)
class GdapRelationship:
    """A granular delegated admin relationship with one customer, in Microsoft Graph
    (docs/partner-center.md, "GDAP")."""

    id: str  # two GUIDs joined by `-`, as Graph gives it (not a GUID)
    customer_id: str  # the customer's tenant id, lower case
    name: str  # displayName
    status: GdapStatus
    status_text: str = ""  # the status as it came, for an unknown one
    etag: str = ""  # `@odata.etag`: DELETE and PATCH need it in If-Match
    ends: datetime | None = None  # endDateTime
    auto_extend: str = ""  # autoExtendDuration, e.g. PT0S (none) or P180D
    unknowns: tuple[str, ...] = ()  # fields pcr could not read: it does nothing to this one
    customer_name: str = ""  # the customer's name as Graph has it

    @property
    def label(self) -> str:
        """How people read it, in every message: its name and its id."""
        return f"GDAP relationship {self.name or '?'} {self.id}"

    @property
    def auto_extends(self) -> bool:
        return self.auto_extend.lower() not in NO_EXTENSION


@dataclass(frozen=True)
class GdapRequest:
    """A request on a GDAP relationship (`terminate`), which Graph carries out later."""

    id: str
    relationship_id: str
    action: str
    status: GdapRequestStatus
    status_text: str = ""


@dataclass(frozen=True)
class Customer:
    id: str  # the customer's tenant id
    name: str
    domain: str
    relationship: CustomerRelationship
    relationship_text: str = ""  # as it came, for an unknown one ("" when it was missing)


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
    # Its term has no end: Partner Center's year-9999 date (an Azure plan), not a date.
    open_ended: bool = False
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
    """An Azure subscription under an Azure plan (docs/partner-center.md, "Azure subscriptions")."""

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

    def line_of(self, subscription_id: str) -> OrderLineItem | None:
        """The line that bought `subscription_id`, if the order has one."""
        wanted = subscription_id.lower()
        return next(
            (line for line in self.line_items if (line.subscription_id or "").lower() == wanted),
            None,
        )


@dataclass(frozen=True)
class CustomerDetail:
    """What a deep read of one customer returns: its subscriptions and entitlements."""

    subscriptions: tuple[Subscription, ...] = ()
    entitlements: tuple[Entitlement, ...] = ()
    # The Azure subscriptions under each live Azure plan; read only when offboarding.
    azure_entitlements: tuple[AzureEntitlement, ...] = ()
    # The orders of perpetual software purchases pcr may cancel: each through its own line.
    orders: tuple[Order, ...] = ()

    def order_line(self, sub: Subscription) -> OrderLineItem | None:
        """The line of its order that bought `sub`, if its order was read and has one."""
        order = next((o for o in self.orders if o.id == sub.order_id), None)
        return None if order is None else order.line_of(sub.id)

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
    # Customers whose deep read failed with a 404 or 403 although Partner Center, read
    # again, still has them: nothing is known of them, so nothing is planned for them and
    # the run fails (a one-off 404 is not a removal); id -> what happened, one line.
    unreadable: dict[str, str] = field(default_factory=dict)
    # The link to send a customer whose reseller relationship is missing; read only when
    # a declared customer needs it, None when Partner Center would not give it.
    relationship_request_url: str | None = None
    # Each customer's GDAP relationships (Microsoft Graph), read only for the customers
    # whose file needs them; a customer absent here was not read.
    gdap: dict[str, tuple[GdapRelationship, ...]] = field(default_factory=dict)
    # Why the GDAP relationships could not be read at all (no Graph credentials), or None.
    # Each customer that needed them gets a blocked item saying so: never a silent skip.
    gdap_unreadable: str | None = None
    # The partner's footprint in each customer tenant whose offboarding cleans it, read only
    # for those (`live.tenant_read`); a customer absent here was not read.
    tenants: dict[str, Footprint] = field(default_factory=dict)
    own_app_id: str | None = None  # the app pcr signs in with, when known
    api_calls: int = 0
    throttled: int = 0  # 429 answers received while reading
    read_seconds: float = 0.0


def parse_time(value: object) -> datetime | None:
    """Parse a Partner Center timestamp; naive times are taken as UTC."""
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day(value: datetime) -> str:
    """The UTC date, which is what Partner Center's term and window dates mean."""
    return format_time(value)[:10]


def moment(value: datetime) -> str:
    """A deadline as people read it: date, time and zone ("2026-12-03 23:59 UTC")."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# `productType.id` (lower case) -> kind; "software" and "azure" look further (see classify).
# Microsoft's values only (docs/partner-center.md): there is no productType "SaaS".
_PRODUCT_KINDS = {
    "onlineservicesnce": SubscriptionKind.NCE,
    "software": SubscriptionKind.SOFTWARE,
    "azure": SubscriptionKind.AZURE,
}
# An Azure product's `subType.id`: the catalog gives marketplace SaaS products Azure / SaaS.
_AZURE_SUBTYPES = {
    "": SubscriptionKind.AZURE,
    "azure": SubscriptionKind.AZURE,
    "savingsplan": SubscriptionKind.SAVINGS_PLAN,
    "saas": SubscriptionKind.SAAS,
}
# Microsoft's values (the SDK's BillingCycleType; docs/partner-center.md); anything else is
# a field pcr does not know. pcr decides nothing by the billing cycle, so "unknown" (what
# the service says when it does not say) is as good as any other.
BILLING_CYCLES = frozenset(
    {"", "unknown", "none", "monthly", "annual", "triennial", "biennial", "one_time"}
)


def classify(wire: Mapping[str, Any]) -> SubscriptionKind:
    """What a subscription is, by Microsoft's own markers (docs/partner-center.md).

    With a `productType`: OnlineServicesNCE is new commerce; Software is a software
    subscription, perpetual when it has no term; Azure is the Azure plan, or by its
    sub-type a savings plan or a marketplace SaaS product. Without one: a marketplace
    subscription says `isMicrosoftProduct: false` (its offer id is shaped like new
    commerce's, its publisher another company's); a legacy one has a GUID offer id (or
    `MS-AZR-…` for legacy Azure); a new-commerce offer id counts as new commerce only when
    the subscription says it is a Microsoft product. Anything else is unknown: pcr acts on
    no subscription whose rules it would have to guess.
    """
    product_type = _product_type(wire).lower()
    kind = _PRODUCT_KINDS.get(product_type)
    if kind is SubscriptionKind.SOFTWARE and not wire.get("termDuration"):
        return SubscriptionKind.PERPETUAL_SOFTWARE
    if kind is SubscriptionKind.AZURE:
        subtype = str(_field(_field(wire.get("productType"), "subType"), "id") or "")
        return _AZURE_SUBTYPES.get(subtype.lower(), SubscriptionKind.UNKNOWN)
    if kind is not None:
        return kind
    if product_type:
        return SubscriptionKind.UNKNOWN  # fail closed: its rules are not pcr's to guess
    microsoft = wire.get("isMicrosoftProduct")
    if microsoft is False:
        return SubscriptionKind.SAAS
    offer_id = str(wire.get("offerId") or "")
    if offer_id.count(":") == 2 and microsoft is True:
        return SubscriptionKind.NCE
    if _GUID.fullmatch(offer_id) or offer_id.upper().startswith("MS-AZR-"):
        return SubscriptionKind.LEGACY
    return SubscriptionKind.UNKNOWN


def _product_type(wire: Mapping[str, Any]) -> str:
    return str(_field(wire.get("productType"), "id") or "")


def _field(value: object, name: str) -> object:
    """`value[name]` when `value` is an object, else None."""
    return value.get(name) if isinstance(value, dict) else None


# -- the shape of an answer -------------------------------------------------------------------
#
# Every field pcr reads is checked for the JSON type it expects there before it is used, so a
# shape pcr cannot read is one clear `MalformedAnswer` naming the place (`items[0].productType`)
# and the types, never an AttributeError deep inside. A field of the right type whose *value*
# pcr does not know (a status, a date it cannot parse) is not an error: `_Reader` keeps it as
# an unknown, for the planner to fail closed on.

# What a paging link may carry in its headers: short, printable, and nothing of pcr's own.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,16384}")
LINK = re.compile(r"[\x21-\x7e]{1,8192}")


def _kind(value: object) -> str:
    """What a JSON value is, as a person says it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class _Object:
    """A JSON object at `where` in an answer, whose fields are read with the type pcr
    expects of each; a field may always be absent or null unless it is `required`."""

    def __init__(self, value: object, where: str = ANSWER) -> None:
        if not isinstance(value, dict):
            raise MalformedAnswer.wrong_type(where, _kind(value), "an object")
        self.wire: dict[str, Any] = value
        self.where = where

    def at(self, name: str) -> str:
        return name if self.where == ANSWER else f"{self.where}.{name}"

    def _wrong(self, name: str, expected: str) -> MalformedAnswer:
        found = _kind(self.wire[name]) if name in self.wire else "missing"
        return MalformedAnswer.wrong_type(self.at(name), found, expected)

    def text(self, name: str) -> str | None:
        value = self.wire.get(name)
        if value is None or isinstance(value, str):
            return value
        raise self._wrong(name, "a string")

    def ident(self, name: str) -> str:
        """A required, non-empty string of printable characters: an id."""
        value = self.wire.get(name)
        if is_ident(value):
            return value
        raise self._wrong(name, "an id (a non-empty string)")

    def whole(self, name: str) -> int | None:
        value = self.wire.get(name)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise self._wrong(name, "a whole number")

    def time(self, name: str) -> datetime | None:
        value = self.text(name)
        try:
            return parse_time(value)
        except ValueError:
            raise MalformedAnswer(self.at(name), "is a string pcr cannot read as a time") from None

    def child(self, name: str) -> _Object | None:
        value = self.wire.get(name)
        return None if value is None else _Object(value, self.at(name))

    def children(self, name: str) -> list[_Object]:
        value = self.wire.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(name, "a list")
        return [_Object(item, f"{self.at(name)}[{index}]") for index, item in enumerate(value)]


def is_ident(value: object) -> TypeGuard[str]:
    """An id as a service sends one: a non-empty string that prints as itself (an id with a
    terminal escape or a line break in it is no id, and is never shown or sent)."""
    return isinstance(value, str) and bool(value.strip()) and value.isprintable()


def object_from_wire(wire: object) -> dict[str, Any]:
    """An answer that must be a JSON object, as it came."""
    return _Object(wire).wire


@dataclass(frozen=True)
class NextPage:
    """Where a listing goes on: `links.next` of a page."""

    uri: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, its items parsed."""

    items: tuple[T, ...]
    next: NextPage | None = None


def page_from_wire(wire: object, item: Callable[[Mapping[str, Any]], T]) -> Page[T]:
    """A page of a listing: `items` (each parsed with `item`) and maybe `links.next`.

    A 200 without `items` is not an empty listing: it is an answer pcr does not
    understand (an error report sent with the wrong status, say), and says so.
    """
    page = _Object(wire)
    raw = page.wire.get("items")
    if not isinstance(raw, list):
        problem = page._wrong("items", "a list")
        code = page.wire.get("code", page.wire.get("statusCode"))
        if "items" not in page.wire and isinstance(code, int | str) and str(code).isalnum():
            problem = MalformedAnswer(
                "items", f"{problem.problem}; it reads like an error report (code {code})"
            )
        raise problem
    page.whole("totalCount")  # not used, but a listing's own: checked all the same
    items = parsed_items(raw, item, "items")
    links = page.child("links")
    link = links.child("next") if links is not None else None
    return Page(items, None if link is None else _next_page(link))


def parsed_items(raw: list[Any], item: Callable[[Any], T], where: str) -> tuple[T, ...]:
    """A listing's items, each parsed with `item`; what is wrong with one names its place."""
    items: list[T] = []
    for index, value in enumerate(raw):
        try:
            items.append(item(value))
        except MalformedAnswer as exc:
            raise exc.within(f"{where}[{index}]") from None
    return tuple(items)


def _next_page(link: _Object) -> NextPage:
    uri = link.text("uri")
    if not uri:
        raise link._wrong("uri", "a link (a non-empty string)")
    if not LINK.fullmatch(uri):
        raise MalformedAnswer(link.at("uri"), "is not a link pcr can follow")
    headers = []
    for header in link.children("headers"):
        name, value = header.text("key"), header.text("value") or ""
        if not name or not HEADER_NAME.fullmatch(name):
            raise MalformedAnswer(header.at("key"), "is not an HTTP header name")
        if not HEADER_VALUE.fullmatch(value):
            raise MalformedAnswer(
                header.at("value"), "is not a header value pcr can send (too long, or not ASCII)"
            )
        headers.append((name, value))
    return NextPage(uri, tuple(headers))


# The most of a value pcr does not know that a plan shows (it may be a whole answer's worth).
UNKNOWN_SHOWN = 120


class _Reader:
    """Reads the fields of one resource; what it cannot parse becomes an unknown, not a crash.

    A subscription with a date pcr cannot read is still a subscription: the
    planner must see it (and refuse to act on it), not lose it in a parse error.
    """

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.wire = wire
        self.unknowns: list[str] = []

    def unknown(self, name: str) -> None:
        shown = repr(self.wire.get(name))  # repr: quoted, and control characters escaped
        if len(shown) > UNKNOWN_SHOWN:
            shown = shown[: UNKNOWN_SHOWN - 1] + "…"
        self.unknowns.append(f"{name} {shown}")

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


E = TypeVar("E", bound=StrEnum)


def _known(kind: type[E], text: str, unknown: E) -> E:
    """An open string read as one of `kind`'s values, or `unknown`: statuses and types
    Partner Center adds later must be parsed, and never acted on."""
    try:
        return kind(text.lower())
    except ValueError:
        return unknown


def _status(value: object) -> SubscriptionStatus:
    return _known(SubscriptionStatus, str(value), SubscriptionStatus.UNKNOWN)


def _from_wire(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A parser of `what`: a value it cannot read is the service's answer's fault, said so."""

    def decorate(parse: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(parse)
        def parsed(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return parse(*args, **kwargs)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # Only a safety net: the shape checks above say what is wrong, and where.
                raise MalformedAnswer(
                    f"a {what}", f"cannot be read ({type(exc).__name__}: {exc})"
                ) from None

        return parsed

    return decorate


@_from_wire("customer")
def customer_from_wire(wire: Mapping[str, Any]) -> Customer:
    shape = _Object(wire)
    profile = shape.child("companyProfile")
    tenant = profile.text("tenantId") if profile is not None else None
    customer_id = shape.text("id") or tenant
    if not is_ident(customer_id):
        raise shape._wrong("id", "an id (a non-empty string)")
    # A missing relationship is not `none`: absence proves nothing (docs/partner-center.md).
    relationship = shape.text("relationshipToPartner") or ""
    return Customer(
        id=customer_id,
        name=(profile.text("companyName") if profile is not None else None) or "",
        domain=(profile.text("domain") if profile is not None else None) or "",
        relationship=_known(CustomerRelationship, relationship, CustomerRelationship.UNKNOWN),
        relationship_text=relationship,
    )


@_from_wire("subscription")
def subscription_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Subscription:
    shape = _Object(wire)
    product = shape.child("productType")
    if product is not None:
        product.text("id")
        subtype = product.child("subType")
        if subtype is not None:
            subtype.text("id")
    status = shape.text("status")
    offer_name = shape.text("offerName")
    friendly_name = shape.text("friendlyName")
    parent = shape.text("parentSubscriptionId")
    read = _Reader(wire)
    ends = read.time("commitmentEndDate")
    return Subscription(
        id=shape.ident("id"),
        customer_id=customer_id,
        offer_id=shape.text("offerId") or "",
        offer_name=offer_name or friendly_name or "",
        kind=classify(wire),
        status=_status(status),
        status_text=status or "",
        product_type=_product_type(wire),
        auto_renew=read.flag("autoRenewEnabled"),
        quantity=shape.whole("quantity") or 0,
        term_duration=shape.text("termDuration"),
        commitment_end=_term_end(ends),
        open_ended=ends is not None and _term_end(ends) is None,
        cancellation_allowed_until=read.time("cancellationAllowedUntilDate"),
        order_id=shape.text("orderId"),
        is_trial=read.flag("isTrial"),
        parent_id=parent.lower() if parent else None,
        billing_cycle=read.choice("billingCycle", BILLING_CYCLES),
        creation=read.time("creationDate"),
        effective_start=read.time("effectiveStartDate"),
        full_refund_until=_full_refund_until(wire.get("refundOptions"), read),
        unknowns=tuple(read.unknowns),
    )


# Partner Center dates a subscription that has no end (an Azure plan, legacy Azure) in
# the year 9999 (docs/partner-center.md): that is no date, and shown as none.
NO_END_YEAR = 9999


def _term_end(end: datetime | None) -> datetime | None:
    return None if end is None or end.year >= NO_END_YEAR else end


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
    shape = _Object(wire)
    text = shape.text("status") or ""
    status = _known(AzureEntitlementStatus, text, AzureEntitlementStatus.UNKNOWN)
    return AzureEntitlement(
        id=shape.ident("id").lower(),
        customer_id=customer_id,
        plan_id=(shape.text("subscriptionId") or plan_id).lower(),
        name=shape.text("friendlyName") or "",
        status=status,
        status_text=text,
    )


@_from_wire("relationship request")
def relationship_request_from_wire(wire: Mapping[str, Any]) -> str:
    shape = _Object(wire)
    url = shape.text("url")
    if not url:
        raise shape._wrong("url", "a link (a non-empty string)")
    if not url.startswith("https://") or not LINK.fullmatch(url):
        raise MalformedAnswer("url", "is not an https:// link")
    return url


@_from_wire("entitlement")
def entitlement_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Entitlement:
    shape = _Object(wire)
    type_text = shape.text("entitlementType") or ""
    kind = _ENTITLEMENT_ALIASES.get(type_text.lower()) or _known(
        EntitlementType, type_text, EntitlementType.OTHER
    )
    read = _Reader(wire)
    if kind is EntitlementType.OTHER:
        read.unknown("entitlementType")
    reference = shape.child("referenceOrder")
    artifacts = [a.text("resourceId") for a in shape.children("entitledArtifacts")]
    return Entitlement(
        customer_id=customer_id,
        type=kind,
        product_id=shape.text("productId") or "",
        sku_id=shape.text("skuId") or "",
        quantity=shape.whole("quantity") or 0,
        order_id=reference.text("id") if reference is not None else None,
        artifact_ids=tuple(a for a in artifacts if a),
        expires_at=read.time("expiryDate"),
        type_text=type_text,
        unknowns=tuple(read.unknowns),
    )


@_from_wire("order")
def order_from_wire(customer_id: str, wire: Mapping[str, Any]) -> Order:
    shape = _Object(wire)
    return Order(
        id=shape.text("id") or "",
        customer_id=customer_id,
        status=(shape.text("status") or "").lower(),
        line_items=tuple(
            OrderLineItem(
                number=line.whole("lineItemNumber") or 0,
                offer_id=line.text("offerId") or "",
                quantity=line.whole("quantity") or 0,
                subscription_id=line.text("subscriptionId"),
            )
            for line in shape.children("lineItems")
        ),
        created=shape.time("creationDate"),
    )


_GDAP_STATUSES = {status.value.lower(): status for status in GdapStatus}


def _gdap_status(text: str) -> GdapStatus:
    """Graph's camelCase statuses, read as case-insensitively as Partner Center's."""
    return _GDAP_STATUSES.get(text.lower(), GdapStatus.UNKNOWN)


@_from_wire("GDAP relationship")
def gdap_relationship_from_wire(wire: Mapping[str, Any]) -> GdapRelationship:
    """One item of `delegatedAdminRelationships`; what cannot be read becomes an unknown."""
    shape = _Object(wire)
    read = _Reader(wire)
    text = shape.text("status") or ""
    status = _gdap_status(text)
    if status is GdapStatus.UNKNOWN:
        read.unknown("status")
    customer = shape.child("customer")
    tenant = customer.text("tenantId") if customer is not None else None
    if not tenant or not _GUID.fullmatch(tenant.strip()):
        read.unknown("customer")
    etag = shape.text("@odata.etag") or ""
    if not HEADER_VALUE.fullmatch(etag) or not etag:
        # Without it nothing can be deleted (If-Match is required): known before any step.
        read.unknown("@odata.etag")
    return GdapRelationship(
        id=shape.ident("id"),
        customer_id=(tenant or "").strip().lower(),
        name=shape.text("displayName") or "",
        status=status,
        status_text=text,
        etag=etag,
        ends=read.time("endDateTime"),
        customer_name=(customer.text("displayName") if customer is not None else None) or "",
        auto_extend=str(shape.text("autoExtendDuration") or ""),
        unknowns=tuple(read.unknowns),
    )


@_from_wire("GDAP relationship request")
def gdap_request_from_wire(relationship_id: str, wire: Mapping[str, Any]) -> GdapRequest:
    shape = _Object(wire)
    text = shape.text("status") or ""
    return GdapRequest(
        id=shape.ident("id"),
        relationship_id=relationship_id,
        action=shape.text("action") or "",
        status=_known(GdapRequestStatus, text, GdapRequestStatus.UNKNOWN),
        status_text=text,
    )
