"""pcr against Microsoft's own definitions (`microsoft.yaml`), not against its fake.

Every public call of pcr's Partner Center and Graph clients is made once, against the fake,
through a recorder. The conformance checks then hold what happened to Microsoft's table:

- each request is a documented route and method, with documented query parameters, and a
  write's body names only documented fields;
- each field pcr's parsers read exists in the documented resource;
- each documented value of an enum pcr reads is understood, or listed in pcr's own
  `FAILS_CLOSED` (read as unknown on purpose);
- the fake answers only in documented shapes: documented fields, documented enum values.

So the fake can no longer drift from Microsoft where the other tests cannot see it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import httpx
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.fake.tokens import tenant_token
from reconciler.live import answer as answer_module
from reconciler.live import graph as graph_module
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.models import FAILS_CLOSED
from reconciler.live.models import AzureEntitlementStatus
from reconciler.live.models import CustomerRelationship
from reconciler.live.models import EntitlementType
from reconciler.live.models import GdapRequestStatus
from reconciler.live.models import GdapStatus
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import azure_entitlement_from_wire
from reconciler.live.models import classify
from reconciler.live.models import customer_from_wire
from reconciler.live.models import entitlement_from_wire
from reconciler.live.models import gdap_relationship_from_wire
from reconciler.live.models import gdap_request_from_wire
from reconciler.live.models import subscription_from_wire
from reconciler.live.tenant import ContactList
from reconciler.live.tenant import TenantClient
from tests.conformance.contract import Contract
from tests.conformance.contract import contract
from tests.live.pc_support import MARKETPLACE
from tests.live.pc_support import WIDE_WORLD_PERPETUAL as PERPETUAL
from tests.live.pc_support import marketplace_subscription

TOKEN = "tok-CONFORMANCE-7d1e"
CONTOSO = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"
FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
FABRIKAM_LEGACY = "f3ea7643-adc7-4f68-b701-7b00fd007869"
FABRIKAM_NCE = "1e576d26-e853-4b0b-a16b-9f12450fa0e2"
WOODGROVE = "139748a4-22d9-4508-bd7f-04e25f245176"
WIDE_WORLD = "d597d86d-6156-4b62-b83c-8bccabcc0e21"
WIDE_WORLD_ORDER = "3df4a1c5d6eb"
LEAVING = "7a1b2c3d-0000-4000-8000-00000000abcd"  # a customer with nothing left to end
GUEST = "a1a1a1a1-0000-4000-8000-000000000001"  # the partner's guest in Contoso's tenant
PARTNER_APP = "b2b2b2b2-0000-4000-8000-000000000001"  # an app the partner's tenant owns


# --- recording ------------------------------------------------------------------------------


class Tracked(dict[str, Any]):
    """A JSON object that remembers which of its keys were looked at."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.looked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.looked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.looked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.looked.add(key)
        return super().__contains__(key)


@dataclass
class Exchange:
    """One request pcr sent and the answer the fake gave, as both went over the wire."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    answer: Any
    read: Any = None  # the answer as pcr's parsers read it (Tracked objects)


@dataclass
class Session:
    exchanges: list[Exchange] = field(default_factory=list)
    called: set[str] = field(default_factory=set)


def recording(app: FakePartnerCenter, session: Session) -> httpx.MockTransport:
    inner = httpx.WSGITransport(app=app)

    def handle(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        content = response.read()
        url = urlsplit(str(request.url))
        session.exchanges.append(
            Exchange(
                request.method,
                url.path,
                dict(parse_qsl(url.query)),
                {k.lower(): v for k, v in request.headers.items()},
                json.loads(request.content) if request.content else None,
                response.status_code,
                json.loads(content) if content.strip() else None,
            )
        )
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    return httpx.MockTransport(handle)


def tracked_reads(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """pcr's clients decode every answer into Tracked objects, kept with their exchange."""

    def decoded(body: bytes | bytearray) -> Any:
        return json.loads(bytes(body).removeprefix(b"\xef\xbb\xbf"), object_hook=Tracked)

    def keep(payload: Any) -> Any:
        for exchange in reversed(session.exchanges):
            if exchange.read is None and exchange.answer == payload:
                exchange.read = payload
                break
        return payload

    def answer_json(self: answer_module.Answer) -> Any:
        if not self._decoded:
            self._payload, self._decoded = keep(decoded(self.body)), True
        return self._payload

    def error_payload(answer: answer_module.Answer) -> dict[str, Any]:
        payload = keep(decoded(answer.body)) if answer.body.strip() else {}
        return payload if isinstance(payload, dict) else {}

    monkeypatch.setattr(answer_module.Answer, "json", answer_json)
    monkeypatch.setattr(answer_module, "error_payload", error_payload)
    monkeypatch.setattr(graph_module, "error_payload", error_payload)


# --- the world and every call ----------------------------------------------------------------


def world() -> FakeState:
    from tests.live.pc_support import add_perpetual_purchase
    from tests.live.pc_support import example_state

    state = example_state()
    add_perpetual_purchase(state, isMicrosoftProduct=True)
    state.add_subscription(  # Microsoft's marketplace shape (docs/partner-center.md)
        FABRIKAM,
        marketplace_subscription("2026-11-21T00:00:00Z", creationDate="2026-11-21T10:00:00Z"),
    )
    state.add_customer(LEAVING, "Leaving Ltd", "leaving.onmicrosoft.com")
    state.add_gdap_relationship(CONTOSO, status="active", display_name="Contoso admins")
    state.add_gdap_relationship(CONTOSO, status="created", display_name="Contoso draft")
    state.set_azure_cancel_reads(0)
    tenant = state.tenants.add_tenant(CONTOSO)  # Contoso's own tenant, for its clean-up
    tenant["users"] = [
        {"id": GUEST, "displayName": "Ops", "mail": "ops@partner.example", "userType": "Guest",
         "userPrincipalName": "ops_partner.example#EXT#@contoso.onmicrosoft.com"},
    ]  # fmt: skip
    tenant["organization"]["technicalNotificationMails"] = ["ops@partner.example", "it@contoso"]
    tenant["servicePrincipals"] = [
        {"id": PARTNER_APP, "appId": "c3c3c3c3-0000-4000-8000-000000000001",
         "displayName": "Partner PSA", "appOwnerOrganizationId": state.tenants.partner_tenant_id,
         "servicePrincipalType": "Application"},
    ]  # fmt: skip
    return state


def every_call(
    pc: PartnerCenterClient, graph: GraphClient, tenant: TenantClient, session: Session
) -> None:
    """Each public method of the three clients, once at least, as pcr would make it."""

    def call(name: str, *args: Any, **kwargs: Any) -> Any:
        session.called.add(name)
        target = next(c for c in (pc, graph, tenant) if hasattr(c, name))
        return getattr(target, name)(*args, **kwargs)

    customers = call("list_customers", page_size=3)
    assert len(customers) > 3  # more than one page
    call("iter_customers", page_size=50)
    call("get_customer", FABRIKAM)
    with pytest.raises(NotFound):
        call("get_customer", "00000000-0000-4000-8000-000000000000")  # an error's body
    call("relationship_request_url")
    call("list_subscriptions", FABRIKAM)
    call("get_subscription", FABRIKAM, FABRIKAM_NCE)
    call("update_subscription", FABRIKAM, FABRIKAM_NCE, auto_renew=False)
    call("update_subscription", FABRIKAM, FABRIKAM_LEGACY, status="suspended")
    call("update_subscription", FABRIKAM, MARKETPLACE, status="deleted")
    call("list_entitlements", WOODGROVE)
    call("list_entitlements", WIDE_WORLD)
    call("get_order", WIDE_WORLD, WIDE_WORLD_ORDER)
    call("cancel_order_line", WIDE_WORLD, WIDE_WORLD_ORDER, PERPETUAL)
    plan = next(s for s in pc.list_subscriptions(WOODGROVE) if s.kind is SubscriptionKind.AZURE)
    (azure, *_) = call("list_azure_entitlements", WOODGROVE, plan.id)
    call("get_azure_entitlement", WOODGROVE, plan.id, azure.id)
    call("cancel_azure_entitlement", WOODGROVE, plan.id, azure.id)
    call("remove_relationship", LEAVING)
    relationships = call("list_relationships", CONTOSO)
    call("iter_all_relationships")
    active = next(r for r in relationships if r.status is GdapStatus.ACTIVE)
    draft = next(r for r in relationships if r.status is GdapStatus.CREATED)
    call("get_relationship", active.id)
    call("own_tenant_id")
    asked = call("terminate_relationship", active.id)
    call("get_request", active.id, asked.id)
    call("delete_relationship", draft.id, draft.etag)
    with pytest.raises(PartnerCenterError):
        gone = "00000000-0000-4000-8000-000000000000-00000000-0000-4000-8000-000000000001"
        call("get_relationship", gone)  # Graph's error body
    every_tenant_call(call, graph.own_tenant_id())


def every_tenant_call(call: Callable[..., Any], partner_tenant: str) -> None:
    """The clean-up's calls in Contoso's tenant, with Contoso's token."""
    (guest,) = call("list_guests")
    call("get_user", guest.id)
    contacts = call("get_contacts")
    (app,) = call("list_apps_of", partner_tenant)
    call("get_app", app.id)
    call("delete_user", guest.id)
    with pytest.raises(NotFound):
        call("get_user", guest.id)  # Graph's error body, for a user that is gone
    body = contacts.without(ContactList.TECHNICAL, "ops@partner.example")
    call("set_contacts", contacts.organization_id, body)
    call("delete_app", app.id)


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    recorded = Session()
    app = FakePartnerCenter(world())
    with pytest.MonkeyPatch.context() as monkeypatch:
        tracked_reads(recorded, monkeypatch)
        transport = recording(app, recorded)
        with (
            PartnerCenterClient(
                "https://pc.test",
                StaticToken(TOKEN),
                transport=transport,
                limits=Limits(rate_per_minute=10**6),
            ) as pc,
            GraphClient(
                "https://pc.test",
                StaticToken(TOKEN),
                transport=transport,
                limits=Limits(rate_per_minute=10**6),
            ) as graph,
            TenantClient(
                "https://pc.test",
                StaticToken(tenant_token(CONTOSO)),
                transport=transport,
                limits=Limits(rate_per_minute=10**6),
            ) as tenant,
        ):
            every_call(pc, graph, tenant, recorded)
        app.add_fault("GET", "/customers$", status=429, retry_after=0)  # a throttled answer
        throttled = Session()
        with PartnerCenterClient(
            "https://pc.test",
            StaticToken(TOKEN),
            transport=recording(app, throttled),
            sleep=lambda seconds: None,
        ) as pc:
            pc.list_customers()
        recorded.exchanges += throttled.exchanges
    yield recorded


# --- which resource each answer is -------------------------------------------------------------

# (method, route template) -> the resource its 2xx answer is ("X[]": a collection of X).
ANSWERS = {
    ("GET", "/v1/customers"): "Customer[]",
    ("GET", "/v1/customers/{customer_id}"): "Customer",
    ("PATCH", "/v1/customers/{customer_id}"): "Customer",
    ("GET", "/v1/customers/relationshiprequests"): "CustomerRelationshipRequest",
    ("GET", "/v1/customers/{customer_id}/subscriptions"): "Subscription[]",
    ("GET", "/v1/customers/{customer_id}/subscriptions/{subscription_id}"): "Subscription",
    ("PATCH", "/v1/customers/{customer_id}/subscriptions/{subscription_id}"): "Subscription",
    ("GET", "/v1/customers/{customer_id}/subscriptions/{subscription_id}/azureEntitlements"): (
        "AzureEntitlement[]"
    ),
    (
        "GET",
        "/v1/customers/{customer_id}/subscriptions/{subscription_id}/azureEntitlements/"
        "{entitlement_id}",
    ): "AzureEntitlement",
    (
        "POST",
        "/v1/customers/{customer_id}/subscriptions/{subscription_id}/azureEntitlements/"
        "{entitlement_id}/cancel",
    ): "AzureEntitlement",
    ("GET", "/v1/customers/{customer_id}/entitlements"): "Entitlement[]",
    ("GET", "/v1/customers/{customer_id}/orders/{order_id}"): "Order",
    ("PATCH", "/v1/customers/{customer_id}/orders/{order_id}"): "Order",
    ("GET", "/v1.0/tenantRelationships/delegatedAdminRelationships"): (
        "GraphDelegatedAdminRelationship[]"
    ),
    ("GET", "/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship_id}"): (
        "GraphDelegatedAdminRelationship"
    ),
    ("POST", "/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship_id}/requests"): (
        "GraphDelegatedAdminRelationshipRequest"
    ),
    (
        "GET",
        "/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship_id}/requests/"
        "{request_id}",
    ): "GraphDelegatedAdminRelationshipRequest",
    ("GET", "/v1.0/organization"): "GraphOrganization[]",
    ("GET", "/v1.0/users"): "GraphUser[]",
    ("GET", "/v1.0/users/{user_id}"): "GraphUser",
    ("GET", "/v1.0/servicePrincipals"): "GraphServicePrincipal[]",
    ("GET", "/v1.0/servicePrincipals/{service_principal_id}"): "GraphServicePrincipal",
}
# (resource, field) -> the resource of the object (or of each item of the list) there.
NESTED = {
    ("Customer", "companyProfile"): "CustomerCompanyProfile",
    ("Customer", "billingProfile"): "CustomerBillingProfile",
    ("Subscription", "productType"): "ItemType",
    ("ItemType", "subType"): "ItemType",
    ("Subscription", "refundOptions"): "RefundOption",
    ("Subscription", "refundableQuantity"): "RefundableQuantity",
    ("Subscription", "scheduledNextTermInstructions"): "ScheduledNextTermInstructions",
    ("Subscription", "nextChargeInstructions"): "NextChargeInstructions",
    ("Subscription", "links"): "SubscriptionLinks",
    ("Order", "links"): "OrderLinks",
    ("OrderLineItem", "links"): "OrderLineItemLinks",
    ("Order", "lineItems"): "OrderLineItem",
    ("Entitlement", "referenceOrder"): "ReferenceOrder",
    ("Entitlement", "entitledArtifacts"): "Artifact",
    ("Entitlement", "includedEntitlements"): "Entitlement",
    ("GraphDelegatedAdminRelationship", "customer"): (
        "GraphDelegatedAdminRelationshipCustomerParticipant"
    ),
    ("Link", "headers"): "LinkHeader",
    ("ReservedInstanceArtifact", "link"): "Link",
}
# Where a field holds one of an enum's values: (the answer's resource, dotted path) -> enum.
ENUM_AT = {
    ("Customer", "relationshipToPartner"): "Customer.relationshipToPartner",
    ("Subscription", "status"): "Subscription.status",
    ("Subscription", "billingCycle"): "Subscription.billingCycle",
    ("Subscription", "billingType"): "Subscription.billingType",
    ("Subscription", "termDuration"): "Subscription.termDuration",
    ("Subscription", "productType.id"): "Subscription.productType.id",
    ("Subscription", "productType.subType.id"): "Subscription.productType.subType.id",
    ("Subscription", "refundOptions.type"): "RefundOption.type",
    ("Order", "status"): "Order.status",
    ("Entitlement", "entitlementType"): "Entitlement.entitlementType",
    ("Entitlement", "entitledArtifacts.artifactType"): "Artifact.artifactType",
    ("AzureEntitlement", "status"): "AzureEntitlement.status",
    ("GraphDelegatedAdminRelationship", "status"): "GraphDelegatedAdminRelationship.status",
    ("GraphDelegatedAdminRelationship", "autoExtendDuration"): (
        "GraphDelegatedAdminRelationship.autoExtendDuration"
    ),
    ("GraphDelegatedAdminRelationshipRequest", "action"): (
        "GraphDelegatedAdminRelationshipRequest.action"
    ),
    ("GraphDelegatedAdminRelationshipRequest", "status"): (
        "GraphDelegatedAdminRelationshipRequest.status"
    ),
}


@dataclass(frozen=True)
class Placed:
    """A JSON object in an answer, with the resource it is and where it stands."""

    resource: str
    value: dict[str, Any]
    top: str  # the resource of the answer it is in (or of the collection's item)
    path: str  # dotted, from that top resource: "" for the top itself


def answer_resource(c: Contract, exchange: Exchange) -> str:
    if exchange.status == 429 and exchange.path.startswith("/v1/"):
        return "ThrottleAnswer"
    if exchange.status >= 400:
        return "GraphError" if exchange.path.startswith("/v1.0/") else "ApiFault"
    routes = c.routes_for(exchange.method, exchange.path)
    found = {ANSWERS.get((r.method, r.template)) for r in routes} - {None}
    assert len(found) == 1, f"no documented answer for {exchange.method} {exchange.path}"
    return str(found.pop())


def placed(resource: str, value: Any, top: str = "", path: str = "") -> Iterator[Placed]:
    """Each object in `value` with its resource: collections, nested resources, links."""
    if resource.endswith("[]"):
        item = resource[:-2]
        graph = item.startswith("Graph")
        yield Placed("GraphCollection" if graph else "Collection", value, item, "")
        # dict.get, not the Tracked's own: what the test looks at is not what pcr read.
        for element in dict.get(value, "value" if graph else "items") or []:
            yield from placed(item, element, item, "")
        if not graph:
            yield from _links("ResourceLinks", dict.get(value, "links"), item)
        return
    if not isinstance(value, dict):
        return
    top = top or resource
    yield Placed(resource, value, top, path)
    for name, inner in value.items():
        where = f"{path}.{name}" if path else name
        if name == "attributes" and isinstance(inner, dict):
            yield Placed("ResourceAttributes", inner, top, where)
        elif name == "links" and resource not in ("Link",):
            links = NESTED.get((resource, "links"), "ResourceLinks")
            yield from _links(links, inner, top, where)
        elif (resource, name) in NESTED:
            kind = NESTED[(resource, name)]
            for element in inner if isinstance(inner, list) else [inner]:
                yield from placed(_subtype(kind, element), element, top, where)


def _subtype(kind: str, value: Any) -> str:
    """A reservation's artifact is the SDK's ReservedInstanceArtifact, with its link."""
    if kind != "Artifact" or not isinstance(value, dict):
        return kind
    artifact = str(dict.get(value, "artifactType", "")).lower().replace("_", "")
    return "ReservedInstanceArtifact" if artifact in RESERVATION_TYPES else kind


RESERVATION_TYPES = {"reservedinstance", "virtualmachinereservedinstance"}


def _links(kind: str, value: Any, top: str, path: str = "links") -> Iterator[Placed]:
    if not isinstance(value, dict):
        return
    yield Placed(kind, value, top, path)
    for name, link in value.items():
        if isinstance(link, dict):
            yield from placed("Link", link, top, f"{path}.{name}")


def objects(c: Contract, session: Session, *, read: bool) -> Iterator[tuple[Exchange, Placed]]:
    for exchange in session.exchanges:
        value = exchange.read if read else exchange.answer
        if value is None:
            continue
        for found in placed(answer_resource(c, exchange), value):
            yield exchange, found


# --- the checks ------------------------------------------------------------------------------


def test_every_public_call_of_pcrs_clients_is_exercised(session: Session) -> None:
    public = {
        name
        for client in (PartnerCenterClient, GraphClient, TenantClient)
        for name, value in vars(client).items()
        if not name.startswith("_") and inspect.isfunction(value)
    }
    assert session.called == public  # a new call must be added to `every_call`


def test_every_request_is_a_documented_route_and_method(session: Session) -> None:
    c = contract()
    for exchange in session.exchanges:
        routes = c.routes_for(exchange.method, exchange.path)
        assert routes, f"{exchange.method} {exchange.path} is no documented route"
        documented = set().union(*(r.query for r in routes))
        sent = {name.lower() for name in exchange.query}
        assert sent <= documented, (exchange.method, exchange.path, sent - documented)


def test_every_write_body_names_only_documented_fields(session: Session) -> None:
    c = contract()
    writes = [e for e in session.exchanges if e.method != "GET" and e.body is not None]
    assert {e.method for e in writes} == {"PATCH", "POST"}
    for exchange in writes:
        (route,) = {r.template: r for r in c.routes_for(exchange.method, exchange.path)}.values()
        documented = set(route.body)
        if route.template.endswith("{subscription_id}"):  # the full resource goes back
            documented |= c.fields("Subscription")
        sent = {name.lower() for name in exchange.body}
        assert sent <= documented, (exchange.method, route.template, sent - documented)
        for line in exchange.body.get("lineItems") or []:  # an order line: number and offer
            assert {k.lower() for k in line} <= {"lineitemnumber", "offerid"}


def test_every_field_pcr_reads_is_documented(session: Session) -> None:
    c = contract()
    read_any = False
    for exchange, found in objects(c, session, read=True):
        if not isinstance(found.value, Tracked):
            continue
        read_any |= bool(found.value.looked)
        unknown = {k for k in found.value.looked if k.lower() not in c.fields(found.resource)}
        assert not unknown, f"pcr reads {sorted(unknown)} of {found.resource} ({exchange.path})"
    assert read_any


def test_the_fake_answers_only_in_documented_shapes(session: Session) -> None:
    c = contract()
    seen: set[str] = set()
    for exchange, found in objects(c, session, read=False):
        seen.add(found.resource)
        extra = {k for k in found.value if k.lower() not in c.fields(found.resource)}
        assert not extra, f"the fake's {found.resource} has {sorted(extra)} ({exchange.path})"
        for field_name, value in found.value.items():
            where = f"{found.path}.{field_name}" if found.path else field_name
            enum = ENUM_AT.get((found.top, where))
            if enum is not None and value not in (None, ""):
                assert value in c.enums[enum], f"the fake's {enum} {value!r} is not documented"
    # Every kind of answer pcr reads was seen at least once.
    assert {"Customer", "Subscription", "Order", "Entitlement", "AzureEntitlement"} <= seen
    assert {"ApiFault", "ThrottleAnswer", "GraphError", "GraphDelegatedAdminRelationship"} <= seen


# --- enums: understood, or unknown on purpose --------------------------------------------------


UNDERSTANDING: dict[str, Callable[[str], bool]] = {
    "Customer.relationshipToPartner": lambda value: (
        customer_from_wire({"id": CONTOSO, "relationshipToPartner": value}).relationship
        is not CustomerRelationship.UNKNOWN
    ),
    "Subscription.status": lambda value: (
        subscription_from_wire(CONTOSO, {"id": FABRIKAM_NCE, "status": value}).status
        is not SubscriptionStatus.UNKNOWN
    ),
    "Subscription.billingCycle": lambda value: (
        not subscription_from_wire(
            CONTOSO, {"id": FABRIKAM_NCE, "status": "active", "billingCycle": value}
        ).unknowns
    ),
    "Subscription.productType.id": lambda value: (
        classify({"productType": {"id": value}, "termDuration": "P1Y"})
        is not SubscriptionKind.UNKNOWN
    ),
    "Subscription.productType.subType.id": lambda value: (
        classify({"productType": {"id": "Azure", "subType": {"id": value}}})
        is not SubscriptionKind.UNKNOWN
    ),
    "Entitlement.entitlementType": lambda value: (
        entitlement_from_wire(CONTOSO, {"entitlementType": value}).type is not EntitlementType.OTHER
    ),
    "AzureEntitlement.status": lambda value: (
        azure_entitlement_from_wire(
            CONTOSO, FABRIKAM_NCE, {"id": MARKETPLACE, "status": value}
        ).status
        is not AzureEntitlementStatus.UNKNOWN
    ),
    "GraphDelegatedAdminRelationship.status": lambda value: (
        gdap_relationship_from_wire(
            {
                "id": "r-1",
                "status": value,
                "@odata.etag": 'W/"1"',
                "customer": {"tenantId": CONTOSO},
            }
        ).status
        is not GdapStatus.UNKNOWN
    ),
    "GraphDelegatedAdminRelationshipRequest.status": lambda value: (
        gdap_request_from_wire("r-1", {"id": "q-1", "status": value}).status
        is not GdapRequestStatus.UNKNOWN
    ),
}


@pytest.mark.parametrize("enum", sorted(UNDERSTANDING))
def test_every_documented_value_is_understood_or_fails_closed_on_purpose(enum: str) -> None:
    c = contract()
    values = c.enums[enum]
    on_purpose = FAILS_CLOSED.get(enum, frozenset())
    not_understood = {v for v in values if not UNDERSTANDING[enum](v)}
    assert not_understood == set(on_purpose), (
        f"{enum}: {sorted(not_understood - on_purpose)} land in unknown by accident; "
        f"{sorted(on_purpose - not_understood)} are listed in FAILS_CLOSED but understood"
    )


def test_what_fails_closed_on_purpose_is_documented() -> None:
    c = contract()
    for enum, values in FAILS_CLOSED.items():
        assert enum in c.enums, enum
        assert values <= set(c.enums[enum]), (enum, values)


def test_every_entry_names_its_public_source() -> None:
    c = contract()
    assert c.sources and all(source.strip() for source in c.sources.values())
