"""A synchronous, thread-safe Microsoft Graph client for GDAP relationships
(docs/partner-center.md, "GDAP").

It stands on the same `http.ApiClient` as the Partner Center client: the same retries
(429 after exactly `Retry-After`, fractional ones included; 5xx and timeouts with capped
backoff and jitter, one `client-request-id` across the attempts), the same caps on what a
server can make it spend, and the same care for the token; its own rate limiter paces it
apart from Partner Center's. What is Graph's own:

- every path is under `/v1.0`, and the call's id goes in `client-request-id`; Graph
  answers with an id of its own (`request-id`), which an error keeps, as Microsoft's
  support traces that one;
- an error is `{"error": {"code", "message", "innerError": {"request-id", …}}}`, and pcr
  branches on `code` and the status, never on the message;
- a listing pages with `@odata.nextLink`, an absolute URL followed verbatim, and only back
  to the Graph root: the token never goes anywhere else;
- a 409 is a refusal like any other 4xx: Graph documents no busy answer to wait out.

Ids are checked against their shape before they go in a path or a filter.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import TypeVar
from typing import Unpack
from urllib.parse import quote

from reconciler.live.answer import Answer
from reconciler.live.answer import error_payload
from reconciler.live.answer import redirect_error
from reconciler.live.answer import refusal
from reconciler.live.config import DEFAULT_GRAPH_PAGE_SIZE
from reconciler.live.config import GRAPH_LIMITS
from reconciler.live.errors import MICROSOFT_GRAPH
from reconciler.live.errors import Forbidden
from reconciler.live.errors import InvalidIdentifier
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import PreconditionFailed
from reconciler.live.errors import Unauthorized
from reconciler.live.errors import one_line
from reconciler.live.http import Api
from reconciler.live.http import ApiClient
from reconciler.live.http import Sending
from reconciler.live.models import LINK
from reconciler.live.models import GdapRelationship
from reconciler.live.models import GdapRequest
from reconciler.live.models import NextPage
from reconciler.live.models import Page
from reconciler.live.models import gdap_relationship_from_wire
from reconciler.live.models import gdap_request_from_wire
from reconciler.live.models import object_from_wire
from reconciler.live.models import parsed_items
from reconciler.live.scrubbing import guarded

__all__ = [
    "DEFAULT_GRAPH_ROOT",
    "GRAPH_PREFIX",
    "GraphClient",
    "graph_error_from_answer",
]

T = TypeVar("T")
log = guarded(logging.getLogger(__name__))

DEFAULT_GRAPH_ROOT = "https://graph.microsoft.com"
GRAPH_PREFIX = "/v1.0"
RELATIONSHIPS = "/tenantRelationships/delegatedAdminRelationships"
ORGANIZATION = "/organization"

_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
_TENANT_ID = re.compile(_GUID)
# Two GUIDs joined by `-` (docs/partner-center.md, "GDAP"): never a GUID, never anything
# else.
_RELATIONSHIP_ID = re.compile(f"{_GUID}-{_GUID}")
# An ETag as Graph gives it (`W/"…"`, base64 inside): visible ASCII, nothing a header ends on.
_ETAG = re.compile(r"[\x21-\x7e]{1,1024}")
# How deep a nested `innerError` is searched for Graph's request id.
_INNER_ERROR_DEPTH = 8

GRAPH_AUTH_HINTS: dict[int, tuple[type[PartnerCenterError], str]] = {
    401: (
        Unauthorized,
        "a Microsoft Graph token is needed (a Partner Center token is not valid here): set "
        "PCR_GRAPH_TOKEN, or PCR_TENANT_ID, PCR_CLIENT_ID, PCR_CLIENT_SECRET and "
        "PCR_REFRESH_TOKEN.",
    ),
    403: (
        Forbidden,
        "the app needs DelegatedAdminRelationship.ReadWrite.All (Read.All to read), consented "
        "in the partner tenant; in the portal, terminating takes the Admin agent role.",
    ),
}
_GRAPH_ERRORS: dict[int, type[PartnerCenterError]] = {404: NotFound, 412: PreconditionFailed}


def graph_error_from_answer(answer: Answer, token: str, host: str | None) -> PartnerCenterError:
    """Read Graph's `{"error": {"code", "message", "innerError"}}`; the code is `error.code`,
    the request id Graph's own (from `innerError`, else the `request-id` header)."""
    redirect = redirect_error(answer, host)
    if redirect is not None:
        return redirect
    error = error_payload(answer).get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    message = error.get("message")
    if not isinstance(message, str) or not message.strip():
        message = answer.reason or "no description"
    request_id = _inner_request_id(error) or answer.headers.get("request-id")
    return refusal(
        answer,
        code if isinstance(code, str) and code.strip() else None,
        message,
        token,
        types=_GRAPH_ERRORS,
        hints=GRAPH_AUTH_HINTS,
        request_id=request_id,
    )


def _inner_request_id(error: Mapping[str, Any]) -> str | None:
    """The first `request-id` down a chain of nested `innerError`s."""
    inner = _inner(error)
    for _ in range(_INNER_ERROR_DEPTH):
        if inner is None:
            return None
        found = inner.get("request-id")
        if isinstance(found, str) and found.strip():
            return found
        inner = _inner(inner)
    return None


def _inner(error: Mapping[str, Any]) -> Mapping[str, Any] | None:
    # Graph writes `innerError`; some of its workloads write `innererror`.
    for key, value in error.items():
        if isinstance(key, str) and key.lower() == "innererror" and isinstance(value, dict):
            return value
    return None


GRAPH_API = Api(MICROSOFT_GRAPH, GRAPH_PREFIX, "client-request-id", graph_error_from_answer)


def organization_from_wire(wire: object) -> dict[str, Any]:
    """`GET /organization`: a listing of the one organization that the token's tenant is;
    its `id` (the tenant id) checked and in lower case."""
    page = graph_page_from_wire(wire, object_from_wire)
    if len(page.items) != 1:
        raise MalformedAnswer(
            "value", f"holds {len(page.items)} organizations, expected one", service=MICROSOFT_GRAPH
        )
    organization = page.items[0]
    tenant = organization.get("id")
    if not isinstance(tenant, str) or not _TENANT_ID.fullmatch(tenant):
        raise MalformedAnswer("value[0].id", "is not a tenant id", service=MICROSOFT_GRAPH)
    return organization | {"id": tenant.lower()}


def graph_page_from_wire(wire: object, item: Callable[[Any], T]) -> Page[T]:
    """A page of a Graph listing: `value` (each parsed with `item`) and maybe
    `@odata.nextLink`. A 200 without `value` is not an empty page: pcr does not understand it."""
    page = object_from_wire(wire)
    raw = page.get("value")
    if not isinstance(raw, list):
        problem = "is missing, expected a list" if "value" not in page else "is not a list"
        if "error" in page:
            problem += "; it reads like an error report"
        raise MalformedAnswer("value", problem, service=MICROSOFT_GRAPH)
    items = parsed_items(raw, item, "value")
    link = page.get("@odata.nextLink")
    if link is None:
        return Page(items)
    if not isinstance(link, str) or not LINK.fullmatch(link):
        raise MalformedAnswer(
            "@odata.nextLink", "is not a link pcr can follow", service=MICROSOFT_GRAPH
        )
    return Page(items, NextPage(link))


class GraphClient(ApiClient):
    """Microsoft Graph's `tenantRelationships/delegatedAdminRelationships`, typed in and out."""

    # `base_url` is the Graph root (`https://graph.microsoft.com`; a trailing `/v1.0` is
    # taken off). Its limits are Partner Center's, with Graph's own budget.
    api = GRAPH_API
    default_limits = GRAPH_LIMITS

    # -- reads ---------------------------------------------------------------------------

    def list_relationships(self, customer_id: str) -> list[GdapRelationship]:
        """The relationships with one customer (by its tenant id).

        Filtered by Graph; a relationship of another tenant in the answer means the filter
        was not applied, and is an error rather than a relationship to act on. One created
        for "any customer" names no tenant until approved, so the filter misses it
        (docs/partner-center.md, "GDAP").
        """
        tenant = _tenant_id(customer_id)
        clause = quote(f"customer/tenantId eq {_odata_string(tenant)}", safe="/'")

        def parse(wire: Any) -> GdapRelationship:
            return _of_tenant(gdap_relationship_from_wire(wire), tenant)

        path = f"{RELATIONSHIPS}?$filter={clause}&$top={DEFAULT_GRAPH_PAGE_SIZE}"
        return list(self._listing(path, parse))

    def iter_all_relationships(self) -> Iterator[GdapRelationship]:
        """Every relationship of the partner, with every customer (for drift)."""
        return self._listing(f"{RELATIONSHIPS}?$top={DEFAULT_GRAPH_PAGE_SIZE}")

    def own_tenant_id(self) -> str:
        """The partner's own tenant id: the one organization its token's tenant is."""
        organization = self._get(f"{ORGANIZATION}?$select=id", organization_from_wire)
        return str(organization["id"])

    def get_relationship(self, relationship_id: str) -> GdapRelationship:
        return self._get(_relationship_path(relationship_id), gdap_relationship_from_wire)

    def get_request(self, relationship_id: str, gdap_request_id: str) -> GdapRequest:
        """A request made on a relationship (`terminate`), as Graph carries it out."""
        path = f"{_relationship_path(relationship_id)}/requests/{_gdap_request_id(gdap_request_id)}"
        return self._get(path, lambda wire: gdap_request_from_wire(relationship_id, wire))

    # -- writes --------------------------------------------------------------------------

    def terminate_relationship(
        self, relationship_id: str, **sending: Unpack[Sending]
    ) -> GdapRequest | None:
        """Ask Graph to end an `active` relationship (201 and the request). Irreversible:
        only the customer can grant the roles again. The relationship goes on through
        `terminationRequested` and `terminating` to `terminated`; poll it, or the request.

        Graph documents no deduplication of this POST: should an attempt that timed out
        have gone through, its retry is refused, the relationship no longer being active.
        """
        path = f"{_relationship_path(relationship_id)}/requests"
        body = {"action": "terminate"}
        answer = self._call("POST", path, json_body=body, **sending)
        if answer is None:  # a 5xx, and `landed` found it terminating: no request to follow
            return None
        return answer.parse(lambda wire: gdap_request_from_wire(relationship_id, wire))

    def delete_relationship(
        self,
        relationship_id: str,
        etag: str,
        **sending: Unpack[Sending],
    ) -> None:
        """Delete a relationship still in `created` (204). `etag` is its `@odata.etag` as read:
        one that no longer matches is a `PreconditionFailed` (412), and nothing is deleted."""
        if not isinstance(etag, str) or not _ETAG.fullmatch(etag):
            raise InvalidIdentifier(
                "refusing to delete a GDAP relationship without the ETag it was read with "
                "(If-Match is required, and it must be one header value)"
            )
        path = _relationship_path(relationship_id)
        self._call("DELETE", path, headers={"If-Match": etag}, **sending)

    # -- plumbing ------------------------------------------------------------------------

    def _listing(
        self,
        path: str,
        parse: Callable[[Any], GdapRelationship] = gdap_relationship_from_wire,
    ) -> Iterator[GdapRelationship]:
        # Not a priority chain, as Partner Center's customer list is: a read waits on none of
        # these, and they run side by side, one per customer.
        answer = self._request("GET", path)
        yield from self._iter_pages(
            answer,
            lambda wire: graph_page_from_wire(wire, parse),
            GRAPH_PREFIX + RELATIONSHIPS,
            link_name="@odata.nextLink",
        )

    def _service_headers(self) -> dict[str, str]:
        # Statuses Graph added after `unknownFutureValue` come by their names, so that one
        # pcr does not know shows as what it is (it blocks either way).
        return {"Prefer": "include-unknown-enum-members"}


def _tenant_id(value: str) -> str:
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        raise InvalidIdentifier(f"refusing to filter on {_shown(value)}: it is not a tenant id")
    return value


def _relationship_path(relationship_id: str) -> str:
    if not isinstance(relationship_id, str) or not _RELATIONSHIP_ID.fullmatch(relationship_id):
        raise InvalidIdentifier(
            f"refusing to send {_shown(relationship_id)} to Microsoft Graph: it is not a GDAP "
            "relationship id (two GUIDs joined by '-')"
        )
    return f"{RELATIONSHIPS}/{relationship_id}"


def _gdap_request_id(value: str) -> str:
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        raise InvalidIdentifier(
            f"refusing to send {_shown(value)} to Microsoft Graph: it is not a GDAP request id"
        )
    return value


def _odata_string(value: str) -> str:
    """A string literal in an OData filter: quotes doubled, as OData escapes them."""
    return "'" + value.replace("'", "''") + "'"


def _of_tenant(relationship: GdapRelationship, tenant: str) -> GdapRelationship:
    unreadable = any(unknown.startswith("customer ") for unknown in relationship.unknowns)
    if not unreadable and relationship.customer_id != tenant.lower():
        raise MalformedAnswer(
            "customer.tenantId",
            "is another customer's: Graph did not apply the filter on the tenant",
            service=MICROSOFT_GRAPH,
        )
    return relationship


def _shown(value: object) -> str:
    return repr(one_line(value, 80)) if isinstance(value, str) else type(value).__name__
