"""A synchronous, thread-safe Partner Center REST client on httpx.

One instance serves a whole run: apply calls it from a thread pool. The request/retry
loop, the caps on what a server can make it spend and the care for the token are
`http.ApiClient`'s, shared with the Microsoft Graph client; this module holds Partner
Center's calls and what is Partner Center's own: its headers, its error bodies, its
`links.next` paging with continuation headers, the 409s it answers while a subscription
renews (waited out for minutes, not retried as a blip), and the polling of a 202's
`Location`. Responses are parsed only through the `*_from_wire` functions of `models`,
which check the shape of every answer before anything is read from it.

The rest follows the data flow: `transport` holds the sockets to the answer's deadline,
`answer` reads an answer under the caps and says what it means, `scrubbing` keeps tokens
out of logs, and `config` has the limits and their defaults.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import TypeVar
from typing import Unpack
from urllib.parse import quote

from reconciler.live.answer import Answer
from reconciler.live.answer import error_from_answer
from reconciler.live.auth import TokenProvider
from reconciler.live.config import BUSY_PAUSE_CAP_SECONDS
from reconciler.live.config import BUSY_PAUSE_FIRST_SECONDS
from reconciler.live.config import DEFAULT_PAGE_SIZE
from reconciler.live.config import MAX_POLLS
from reconciler.live.config import PARTNER_CENTER_LIMITS
from reconciler.live.config import POLL_BASE_SECONDS
from reconciler.live.config import POLL_CAP_SECONDS
from reconciler.live.errors import PARTNER_CENTER
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import LineNotFound
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.http import Api
from reconciler.live.http import ApiClient
from reconciler.live.http import ClientOptions
from reconciler.live.http import Sending
from reconciler.live.http import path_of
from reconciler.live.models import AzureEntitlement
from reconciler.live.models import Customer
from reconciler.live.models import Entitlement
from reconciler.live.models import NextPage
from reconciler.live.models import Order
from reconciler.live.models import Subscription
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import azure_entitlement_from_wire
from reconciler.live.models import customer_from_wire
from reconciler.live.models import entitlement_from_wire
from reconciler.live.models import object_from_wire
from reconciler.live.models import order_from_wire
from reconciler.live.models import page_from_wire
from reconciler.live.models import relationship_request_from_wire
from reconciler.live.models import subscription_from_wire

__all__ = [
    "AZURE_CANCELLATION_REASON",
    "WRITABLE_STATUSES",
    "InsecureEndpointError",
    "NotFound",
    "PartnerCenterClient",
    "PartnerCenterError",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

API_PREFIX = "/v1"
PARTNER_CENTER_API = Api(PARTNER_CENTER, API_PREFIX, "MS-RequestId", error_from_answer)

# The service's writable subscription states, by what pcr calls them.
WRITABLE_STATUSES = frozenset({"active", "suspended", "deleted"})
# The one cancellation reason the Azure entitlement API documents; it rejects others it
# does not know (900307), and which others it takes is unconfirmed (docs/partner-center.md,
# "Azure subscriptions").
AZURE_CANCELLATION_REASON = "compromise"

# Headers of pcr's own, which a paging link does not get to set. Only `MS-` headers are
# taken from a link at all (it carries `MS-ContinuationToken`): never Host, Cookie & co.
_OWN_HEADERS = frozenset(
    {"authorization", "ms-requestid", "ms-correlationid", "accept", "ms-contract-version"}
)


class PartnerCenterClient(ApiClient):
    """The Partner Center REST API (`/v1`), typed in and out."""

    api = PARTNER_CENTER_API
    # `busy_wait` among them is how long 409s (a renewal in progress) are waited out.
    default_limits = PARTNER_CENTER_LIMITS

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        correlation_id: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(base_url, token_provider, **options)
        self.correlation_id = correlation_id or str(uuid.uuid4())

    def __repr__(self) -> str:
        return f"PartnerCenterClient({self.base_url!r}, correlation_id={self.correlation_id!r})"

    # -- reads ---------------------------------------------------------------------------

    def iter_customers(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Customer]:
        # Pages are the critical path: every deep read waits for the page that names it.
        return self._iter_collection(
            "/customers", customer_from_wire, {"size": page_size}, priority=True
        )

    def list_customers(self, page_size: int = DEFAULT_PAGE_SIZE) -> list[Customer]:
        return list(self.iter_customers(page_size))

    def get_customer(self, customer_id: str) -> Customer:
        return self._get(_customer_path(customer_id), customer_from_wire)

    def relationship_request_url(self) -> str:
        """The link a customer's admin opens to accept a reseller relationship (App+User).

        It names only the partner, so one link serves every customer (unconfirmed).
        """
        return self._get("/customers/relationshiprequests", relationship_request_from_wire)

    def list_subscriptions(self, customer_id: str) -> list[Subscription]:
        path = f"{_customer_path(customer_id)}/subscriptions"
        return list(self._iter_collection(path, _with(subscription_from_wire, customer_id)))

    def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        path = _subscription_path(customer_id, subscription_id)
        return self._get(path, _with(subscription_from_wire, customer_id))

    def list_entitlements(self, customer_id: str) -> list[Entitlement]:
        """Reserved instances and software, with expiry dates where the service knows them."""
        path = f"{_customer_path(customer_id)}/entitlements"
        parse = _with(entitlement_from_wire, customer_id)
        return list(self._iter_collection(path, parse, params={"showExpiry": "true"}))

    def list_azure_entitlements(self, customer_id: str, plan_id: str) -> list[AzureEntitlement]:
        """The Azure subscriptions under an Azure plan (docs/partner-center.md,
        "Azure subscriptions")."""
        path = f"{_subscription_path(customer_id, plan_id)}/azureEntitlements"

        def parse(wire: Mapping[str, Any]) -> AzureEntitlement:
            return azure_entitlement_from_wire(customer_id, plan_id, wire)

        return list(self._iter_collection(path, parse))

    def get_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str
    ) -> AzureEntitlement:
        def parse(wire: Mapping[str, Any]) -> AzureEntitlement:
            return azure_entitlement_from_wire(customer_id, plan_id, wire)

        return self._get(_azure_entitlement_path(customer_id, plan_id, entitlement_id), parse)

    def get_order(self, customer_id: str, order_id: str) -> Order:
        return self._get(_order_path(customer_id, order_id), _with(order_from_wire, customer_id))

    # -- writes --------------------------------------------------------------------------

    def update_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        status: SubscriptionStatus | str | None = None,
        auto_renew: bool | None = None,
        precondition: Callable[[Subscription], None] | None = None,
        **sending: Unpack[Sending],
    ) -> Subscription:
        """Suspend (`suspended`), reactivate (`active`), cancel (`deleted`), or set auto-renew.

        The body is the full resource, read by id for this write: Microsoft's update page
        asks for the full resource, and a body without auto-renew or the scheduled
        next-term and next-charge instructions turns auto-renew off and drops them. A
        list's item is not shown to carry every field the GET does, so it is never the
        body (docs/partner-center.md). Nothing is sent when the subscription already is
        as asked, nor when the resource as read is not one pcr understands.
        `precondition` sees the resource as read, before anything is sent, and stops the
        change by raising.
        """
        new_status = None if status is None else str(status).lower()
        if new_status is not None and new_status not in WRITABLE_STATUSES:
            raise ValueError(f"cannot set a subscription to {status!r}")
        path = _subscription_path(customer_id, subscription_id)
        answer = self._request("GET", path)
        body = answer.parse(object_from_wire)
        current = answer.parse(_with(subscription_from_wire, customer_id))
        if precondition is not None:  # may raise: the caller's check of the fresh resource
            precondition(current)
        changes: dict[str, Any] = {}
        if new_status is not None and (body.get("status") or "").lower() != new_status:
            changes["status"] = new_status
        if auto_renew is not None and body.get("autoRenewEnabled") is not auto_renew:
            changes["autoRenewEnabled"] = auto_renew
        if not changes:
            return current
        result = self._write("PATCH", path, {**body, **changes}, **sending)
        if result is None:
            return self.get_subscription(customer_id, subscription_id)
        return result.parse(_with(subscription_from_wire, customer_id))

    def cancel_order_line(
        self,
        customer_id: str,
        order_id: str,
        subscription_id: str,
        *,
        precondition: Callable[[Order], None] | None = None,
        **sending: Unpack[Sending],
    ) -> Order:
        """Cancel the one line of an order that is `subscription_id` (a perpetual software
        purchase, inside its window). An order PATCH cancels every line it lists, so it
        lists only that line (docs/partner-center.md): the order's other purchases stay.

        `precondition` sees the order as read right before the PATCH; it stops the change
        by raising. Raises LineNotFound when no line of the order is that subscription.
        """
        path = _order_path(customer_id, order_id)
        answer = self._request("GET", path)
        current = answer.parse(_with(order_from_wire, customer_id))  # understood, or nothing sent
        if precondition is not None:
            precondition(current)
        line = current.line_of(subscription_id)
        if line is None:
            raise LineNotFound(
                None,
                None,
                f"order {order_id} has no line for subscription {subscription_id}: nothing "
                "was sent (pcr cancels only the line it names)",
                answer.request_id,
            )
        if line.quantity == 0:
            return current  # cancelled lines come back with quantity 0
        body = {
            "id": current.id or order_id,
            "status": "cancelled",
            "lineItems": [{"lineItemNumber": line.number, "offerId": line.offer_id}],
        }
        result = self._write("PATCH", path, body, **sending)
        if result is None:
            return self._get(path, _with(order_from_wire, customer_id))
        return result.parse(_with(order_from_wire, customer_id))

    def cancel_azure_entitlement(
        self,
        customer_id: str,
        plan_id: str,
        entitlement_id: str,
        **sending: Unpack[Sending],
    ) -> None:
        """Ask for an Azure subscription under a plan to be cancelled. Irreversible for the
        partner (the customer may reactivate it in the Azure portal while the plan is
        active). The service takes about ten minutes to show it `inactive`; the docs
        disagree on 200 with the entitlement or 202, and both are taken."""
        path = _azure_entitlement_path(customer_id, plan_id, entitlement_id) + "/cancel"
        body = {"cancellationReason": AZURE_CANCELLATION_REASON}
        self._write("POST", path, body, **sending)

    def remove_relationship(self, customer_id: str, **sending: Unpack[Sending]) -> Customer:
        """End the reseller relationship. Irreversible from the partner's side.

        The service answers with a mostly-null Customer; the id is filled in
        from the request so the result still says whose relationship ended.
        """
        body = {"relationshipToPartner": "none", "attributes": {"objectType": "Customer"}}
        result = self._write("PATCH", _customer_path(customer_id), body, **sending)
        if result is None:
            return customer_from_wire({"id": customer_id, "relationshipToPartner": "none"})

        def parse(wire: Any) -> Customer:
            answered = object_from_wire(wire)
            return customer_from_wire({**answered, "id": answered.get("id") or customer_id})

        return result.parse(parse)

    # -- plumbing ------------------------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._get(path, object_from_wire, params)

    def _iter_collection(
        self,
        path: str,
        parse: Callable[[Mapping[str, Any]], T],
        params: Mapping[str, Any] | None = None,
        *,
        priority: bool = False,
    ) -> Iterator[T]:
        """The items of a collection, following `links.next` and its continuation token."""
        answer = self._request("GET", path, params=params, priority=priority)
        yield from self._iter_pages(
            answer,
            lambda wire: page_from_wire(wire, parse),
            API_PREFIX + path,
            link_name="links.next.uri",
            priority=priority,
        )

    def _write(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any],
        **sending: Unpack[Sending],
    ) -> Answer | None:
        """Send a change; wait out a 202. None when the service returns no resource (or a
        5xx left it open and `landed` found it in place)."""
        answer = self._call(method, path, json_body=body, **sending)
        if answer is None:
            return None
        if answer.status == 202:
            location = answer.headers.get("Location")
            if not location:
                return None
            return self._poll(location, self._retry_after(answer))
        return answer if answer.body.strip() else None

    def _poll(self, location: str, first_wait: float | None) -> Answer:
        wait = first_wait if first_wait is not None else POLL_BASE_SECONDS
        for attempt in range(1, MAX_POLLS + 1):
            if wait > 0:
                self._sleep(wait)
            answer = self._request("GET", self._resolve_link(location, "the Location header"))
            if answer.status != 202:
                return answer
            location = answer.headers.get("Location") or location
            retry_after = self._retry_after(answer)
            wait = retry_after if retry_after is not None else _poll_backoff(attempt)
        raise PartnerCenterError(
            202, None, f"operation at {location} still running after {MAX_POLLS} polls", None
        )

    def _link_headers(self, link: NextPage) -> dict[str, str]:
        """The headers a paging link asks for: its `MS-` headers, minus any that are ours."""
        return {
            name: value
            for name, value in link.headers
            if name.lower().startswith("ms-") and name.lower() not in _OWN_HEADERS
        }

    def _resolve_link(self, link: str, what: str) -> str:
        """A link or Location from the service, as a path under the API root.

        Links come as `/v1/customers?...`, and Location headers as
        `/customers/...` (relative to `/v1`, per the update-subscription
        example); both are accepted. An absolute URL must point back at the
        same API root: the token is never sent anywhere else.
        """
        target = self._parse_link(link, what)
        if target.is_absolute_url:
            return self._same_root(target)
        if target.scheme or target.host:
            raise MalformedAnswer(what, "is not a link pcr can follow")
        path = "/" + link.lstrip("/")
        return path if path.startswith(API_PREFIX + "/") else API_PREFIX + path

    def _service_headers(self) -> dict[str, str]:
        return {"MS-Contract-Version": "v1", "MS-CorrelationId": self.correlation_id}

    def _wait_if_busy(
        self, answer: Answer, error: PartnerCenterError, waited: float, method: str, url: str
    ) -> float | None:
        return None if answer.status != 409 else self._wait_while_busy(answer, error, waited, url)

    def _wait_while_busy(
        self, answer: Answer, error: PartnerCenterError, waited: float, url: str
    ) -> float:
        """Wait out one 409 (a renewal or another operation in progress); the seconds waited.

        Partner Center says to retry after about two minutes, and a renewal can take
        longer: pauses grow from BUSY_PAUSE_FIRST_SECONDS to BUSY_PAUSE_CAP_SECONDS (or
        are what `Retry-After` asks), until `busy_wait` seconds have gone by.
        """
        limit = self._limits.busy_wait
        asked = self._retry_after(answer, error)
        pause = asked if asked is not None else self._busy_pause(waited)
        if waited + pause > limit:
            raise PartnerCenterError(
                error.status,
                error.code,
                f"{error.description} — still busy after {waited:.0f} s, the most pcr waits "
                f"for a renewal or another operation to finish (PCR_BUSY_WAIT): run again later",
                error.request_id,
            )
        log.warning(
            "%s %s: Partner Center is busy with it (409: %s); a renewal can take minutes: "
            "retrying in %.0f s (%.0f of %.0f s waited)",
            answer.method,
            path_of(url),
            error.description,
            pause,
            waited,
            limit,
        )
        self._sleep(pause)
        return pause

    def _busy_pause(self, waited: float) -> float:
        base = min(BUSY_PAUSE_CAP_SECONDS, max(BUSY_PAUSE_FIRST_SECONDS, waited))
        return float(base + self._random.uniform(0, base / 4))


def _with(parse: Callable[[str, Mapping[str, Any]], T], customer_id: str) -> Callable[[Any], T]:
    def parsed(wire: Any) -> T:
        return parse(customer_id, wire)

    return parsed


def _customer_path(customer_id: str) -> str:
    return f"/customers/{quote(customer_id, safe='')}"


def _subscription_path(customer_id: str, subscription_id: str) -> str:
    return f"{_customer_path(customer_id)}/subscriptions/{quote(subscription_id, safe='')}"


def _azure_entitlement_path(customer_id: str, plan_id: str, entitlement_id: str) -> str:
    entitlement = quote(entitlement_id, safe="")
    return f"{_subscription_path(customer_id, plan_id)}/azureEntitlements/{entitlement}"


def _order_path(customer_id: str, order_id: str) -> str:
    return f"{_customer_path(customer_id)}/orders/{quote(order_id, safe='')}"


def _poll_backoff(attempt: int) -> float:
    return float(min(POLL_CAP_SECONDS, POLL_BASE_SECONDS * 2 ** (attempt - 1)))
