"""A synchronous, thread-safe Partner Center REST client on httpx.

One instance serves a whole run: apply calls it from a thread pool. It keeps
the run under the documented 500 requests/minute with a sliding-window rate
limiter and a concurrency cap, retries what is worth retrying (429 after
exactly `Retry-After`, 409/5xx/timeouts with capped exponential backoff and
jitter) while reusing the call's `MS-RequestId`, follows paging links, and
polls the `Location` of a 202. Responses are parsed only through the
`*_from_wire` functions of `models`.

The bearer token never leaves the `Authorization` header: it is not logged,
not kept in any error, and scrubbed from error bodies the service echoes.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.partnercenter.auth import TokenProvider, check_endpoint_url
from reconciler.partnercenter.errors import (
    AUTH_HINTS,
    RULE_REFUSALS,
    InsecureEndpointError,
    NotFound,
    PartnerCenterError,
)
from reconciler.partnercenter.models import (
    AzureEntitlement,
    Customer,
    Entitlement,
    Order,
    Subscription,
    SubscriptionStatus,
    azure_entitlement_from_wire,
    customer_from_wire,
    entitlement_from_wire,
    order_from_wire,
    relationship_request_from_wire,
    subscription_from_wire,
)
from reconciler.partnercenter.ratelimit import RateLimiter

__all__ = [
    "InsecureEndpointError",
    "NotFound",
    "PartnerCenterClient",
    "PartnerCenterError",
    "RateLimiter",
]

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
# The largest page size is not documented; a smaller cap on the service's side only
# means shorter pages, and paging follows `links.next` either way.
DEFAULT_PAGE_SIZE = 500
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
POLL_BASE_SECONDS = 1.0
POLL_CAP_SECONDS = 5.0
MAX_POLLS = 30
MAX_PAGES = 10_000

# The service's writable subscription states, by what pcr calls them.
WRITABLE_STATUSES = frozenset({"active", "suspended", "deleted"})
# The one cancellation reason the Azure entitlement API documents (reference §14); it
# rejects others it does not know (900307), and which others it takes is unconfirmed.
AZURE_CANCELLATION_REASON = "compromise"

_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class PartnerCenterClient:
    """The Partner Center REST API (`/v1`), typed in and out."""

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        transport: httpx.BaseTransport | None = None,
        rate_per_minute: float = 500,
        max_concurrency: int = 8,
        max_attempts: int = 6,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
        correlation_id: str | None = None,
    ) -> None:
        root = check_endpoint_url(base_url, allow_any=transport is not None)
        if max_attempts < 1 or max_concurrency < 1:
            raise ValueError("max_attempts and max_concurrency must be at least 1")
        self.base_url = str(root).rstrip("/").removesuffix(API_PREFIX)
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._token_provider = token_provider
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._random = random.Random()
        self._limiter = RateLimiter.per_minute(rate_per_minute, sleep=sleep)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._counter_lock = threading.Lock()
        self._request_count = 0
        self._throttled_count = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,  # a redirect must not carry the bearer token elsewhere
        )

    def __repr__(self) -> str:
        return f"PartnerCenterClient({self.base_url!r}, correlation_id={self.correlation_id!r})"

    def __enter__(self) -> PartnerCenterClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def request_count(self) -> int:
        """HTTP requests sent, retries and polls included."""
        with self._counter_lock:
            return self._request_count

    @property
    def throttled_count(self) -> int:
        """429 responses received."""
        with self._counter_lock:
            return self._throttled_count

    # -- reads ---------------------------------------------------------------------------

    def iter_customers(self, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Customer]:
        # Pages are the critical path: every deep read waits for the page that names it.
        for wire in self._iter_collection("/customers", {"size": page_size}, priority=True):
            yield customer_from_wire(wire)

    def list_customers(self, page_size: int = DEFAULT_PAGE_SIZE) -> list[Customer]:
        return list(self.iter_customers(page_size))

    def get_customer(self, customer_id: str) -> Customer:
        return customer_from_wire(self._get_json(_customer_path(customer_id)))

    def relationship_request_url(self) -> str:
        """The link a customer's admin opens to accept a reseller relationship (App+User).

        It names only the partner, so one link serves every customer (unconfirmed).
        """
        return relationship_request_from_wire(self._get_json("/customers/relationshiprequests"))

    def list_subscriptions(self, customer_id: str) -> list[Subscription]:
        path = f"{_customer_path(customer_id)}/subscriptions"
        return [subscription_from_wire(customer_id, w) for w in self._iter_collection(path)]

    def get_subscription(self, customer_id: str, subscription_id: str) -> Subscription:
        wire = self._get_json(_subscription_path(customer_id, subscription_id))
        return subscription_from_wire(customer_id, wire)

    def list_entitlements(self, customer_id: str) -> list[Entitlement]:
        """Reserved instances and software, with expiry dates where the service knows them."""
        path = f"{_customer_path(customer_id)}/entitlements"
        items = self._iter_collection(path, params={"showExpiry": "true"})
        return [entitlement_from_wire(customer_id, w) for w in items]

    def list_azure_entitlements(self, customer_id: str, plan_id: str) -> list[AzureEntitlement]:
        """The Azure subscriptions under an Azure plan (reference §14)."""
        path = f"{_subscription_path(customer_id, plan_id)}/azureEntitlements"
        return [
            azure_entitlement_from_wire(customer_id, plan_id, w)
            for w in self._iter_collection(path)
        ]

    def get_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str
    ) -> AzureEntitlement:
        wire = self._get_json(_azure_entitlement_path(customer_id, plan_id, entitlement_id))
        return azure_entitlement_from_wire(customer_id, plan_id, wire)

    def get_order(self, customer_id: str, order_id: str) -> Order:
        return order_from_wire(customer_id, self._get_json(_order_path(customer_id, order_id)))

    # -- writes --------------------------------------------------------------------------

    def update_subscription(
        self,
        customer_id: str,
        subscription_id: str,
        *,
        status: SubscriptionStatus | str | None = None,
        auto_renew: bool | None = None,
        request_id: str | None = None,
        precondition: Callable[[Subscription], None] | None = None,
    ) -> Subscription:
        """Suspend (`suspended`), reactivate (`active`), cancel (`deleted`), or set auto-renew.

        The body is the full resource as just read: a minimal body makes the
        service silently turn auto-renew off. Nothing is sent when the
        subscription already is as asked. `precondition` sees the resource as
        read, before anything is sent, and stops the change by raising.
        """
        new_status = None if status is None else str(status).lower()
        if new_status is not None and new_status not in WRITABLE_STATUSES:
            raise ValueError(f"cannot set a subscription to {status!r}")
        path = _subscription_path(customer_id, subscription_id)
        body = self._get_json(path)
        if precondition is not None:  # may raise: the caller's check of the fresh resource
            precondition(subscription_from_wire(customer_id, body))
        changes: dict[str, Any] = {}
        if new_status is not None and str(body.get("status", "")).lower() != new_status:
            changes["status"] = new_status
        if auto_renew is not None and body.get("autoRenewEnabled") is not auto_renew:
            changes["autoRenewEnabled"] = auto_renew
        if not changes:
            return subscription_from_wire(customer_id, body)
        result = self._write("PATCH", path, {**body, **changes}, request_id)
        if result is None:
            return self.get_subscription(customer_id, subscription_id)
        return subscription_from_wire(customer_id, result)

    def cancel_software_order(
        self, customer_id: str, order_id: str, request_id: str | None = None
    ) -> Order:
        """Cancel every line of a software order (only inside its cancellation window)."""
        path = _order_path(customer_id, order_id)
        order = self._get_json(path)
        if str(order.get("status", "")).lower() == "cancelled":
            return order_from_wire(customer_id, order)
        body = {
            "id": order.get("id", order_id),
            "status": "cancelled",
            "lineItems": [
                {"lineItemNumber": line.get("lineItemNumber"), "offerId": line.get("offerId")}
                for line in order.get("lineItems") or []
            ],
        }
        result = self._write("PATCH", path, body, request_id)
        return order_from_wire(customer_id, result if result is not None else self._get_json(path))

    def cancel_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str, request_id: str | None = None
    ) -> None:
        """Ask for an Azure subscription under a plan to be cancelled. Irreversible for the
        partner (the customer may reactivate it in the Azure portal while the plan is
        active). The service takes about ten minutes to show it `inactive`; the docs
        disagree on 200 with the entitlement or 202, and both are taken."""
        path = _azure_entitlement_path(customer_id, plan_id, entitlement_id) + "/cancel"
        body = {"cancellationReason": AZURE_CANCELLATION_REASON}
        self._write("POST", path, body, request_id)

    def wait(self, seconds: float) -> None:
        """Sleep on the client's clock (tests give it one that does not block)."""
        self._sleep(seconds)

    def remove_relationship(self, customer_id: str, request_id: str | None = None) -> Customer:
        """End the reseller relationship. Irreversible from the partner's side.

        The service answers with a mostly-null Customer; the id is filled in
        from the request so the result still says whose relationship ended.
        """
        body = {"relationshipToPartner": "none", "attributes": {"objectType": "Customer"}}
        result = self._write("PATCH", _customer_path(customer_id), body, request_id) or {}
        return customer_from_wire({**result, "id": result.get("id") or customer_id})

    # -- plumbing ------------------------------------------------------------------------

    def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return _json_body(self._request("GET", path, params=params))

    def _iter_collection(
        self, path: str, params: Mapping[str, Any] | None = None, *, priority: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Yield the items of a collection, following `links.next` and its continuation token."""
        page = _json_body(self._request("GET", path, params=params, priority=priority))
        seen_tokens: set[str] = set()
        for _ in range(MAX_PAGES):
            yield from page.get("items") or []
            link = (page.get("links") or {}).get("next")
            if not link:
                return
            headers = _link_headers(link)
            token = headers.get("MS-ContinuationToken", "")
            if token in seen_tokens:  # a service bug must not become an endless loop
                raise PartnerCenterError(None, None, f"paging of {path} repeats itself", None)
            seen_tokens.add(token)
            next_page = self._resolve(str(link.get("uri", "")))
            page = _json_body(self._request("GET", next_page, headers=headers, priority=priority))
        raise PartnerCenterError(None, None, f"paging of {path} exceeded {MAX_PAGES} pages", None)

    def _write(
        self, method: str, path: str, body: Mapping[str, Any], request_id: str | None
    ) -> dict[str, Any] | None:
        """Send a change; wait out a 202. None when the service returns no resource."""
        response = self._request(method, path, json_body=body, request_id=request_id)
        if response.status_code == 202:
            location = response.headers.get("Location")
            if not location:
                return None
            return self._poll(location, _retry_after(response))
        return _json_body(response) if response.content else None

    def _poll(self, location: str, first_wait: float | None) -> dict[str, Any]:
        wait = first_wait if first_wait is not None else POLL_BASE_SECONDS
        for attempt in range(1, MAX_POLLS + 1):
            if wait > 0:
                self._sleep(wait)
            response = self._request("GET", self._resolve(location))
            if response.status_code != 202:
                return _json_body(response)
            location = response.headers.get("Location") or location
            retry_after = _retry_after(response)
            wait = retry_after if retry_after is not None else _poll_backoff(attempt)
        raise PartnerCenterError(
            202, None, f"operation at {location} still running after {MAX_POLLS} polls", None
        )

    def _resolve(self, link: str) -> str:
        """A link or Location from the service, as a path under the API root.

        Links come as `/v1/customers?...`, and Location headers as
        `/customers/...` (relative to `/v1`, per the update-subscription
        example); both are accepted. An absolute URL must point back at the
        same API root: the token is never sent anywhere else.
        """
        if link.startswith(("http://", "https://")):
            target, root = httpx.URL(link), httpx.URL(self.base_url)
            if (target.scheme, target.host, target.port) != (root.scheme, root.host, root.port):
                raise PartnerCenterError(
                    None, None, f"refusing to follow a link to another host: {target.host}", None
                )
            return link
        path = "/" + link.lstrip("/")
        return path if path.startswith(API_PREFIX + "/") else API_PREFIX + path

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        priority: bool = False,
    ) -> httpx.Response:
        """One logical call: a fixed MS-RequestId across all its attempts."""
        request_id = request_id or str(uuid.uuid4())
        url = (
            path
            if path.startswith(("http://", "https://", API_PREFIX + "/"))
            else API_PREFIX + path
        )
        for attempt in range(1, self._max_attempts + 1):
            token = self._token_provider()
            try:
                response = self._send(
                    method, url, token, request_id, params, json_body, headers, priority
                )
            except _RETRYABLE_TRANSPORT_ERRORS as exc:
                error = PartnerCenterError(None, None, f"{type(exc).__name__}: {exc}", request_id)
                wait: float | None = self._backoff(attempt)
            else:
                if response.status_code < 400:
                    return response
                error = _error_from_response(response, request_id, token)
                wait = self._retry_wait(response, attempt)
            if wait is None:
                raise error
            if attempt == self._max_attempts:
                raise type(error)(
                    error.status,
                    error.code,
                    f"gave up after {attempt} attempts: {error.description}",
                    request_id,
                )
            log.warning("%s %s: %s; retrying in %.1f s", method, _path_of(url), error, wait)
            self._sleep(wait)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        request_id: str,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None,
        priority: bool = False,
    ) -> httpx.Response:
        headers = {
            **(extra_headers or {}),
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "MS-Contract-Version": "v1",
            "MS-RequestId": request_id,
            "MS-CorrelationId": self.correlation_id,
        }
        with self._slots:
            self._limiter.acquire(priority=priority)
            with self._counter_lock:
                self._request_count += 1
            response = self._http.request(
                method, url, params=params, json=json_body, headers=headers
            )
            response.read()
        if response.status_code == 429:
            with self._counter_lock:
                self._throttled_count += 1
        log.debug(
            "%s %s -> %s [request %s]", method, _path_of(url), response.status_code, request_id
        )
        return response

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying this response, or None if it must not be retried.

        429 waits exactly as long as `Retry-After` says. 409 (what the service
        answers while a subscription renews) and 5xx use it when present too,
        else back off.
        """
        status = response.status_code
        if status != 429 and status != 409 and status < 500:
            return None
        retry_after = _retry_after(response)
        return retry_after if retry_after is not None else self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff plus up to 50% jitter, so parallel workers spread out."""
        base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return float(base + self._random.uniform(0, base / 2))


def _customer_path(customer_id: str) -> str:
    return f"/customers/{quote(customer_id, safe='')}"


def _subscription_path(customer_id: str, subscription_id: str) -> str:
    return f"{_customer_path(customer_id)}/subscriptions/{quote(subscription_id, safe='')}"


def _azure_entitlement_path(customer_id: str, plan_id: str, entitlement_id: str) -> str:
    entitlement = quote(entitlement_id, safe="")
    return f"{_subscription_path(customer_id, plan_id)}/azureEntitlements/{entitlement}"


def _order_path(customer_id: str, order_id: str) -> str:
    return f"{_customer_path(customer_id)}/orders/{quote(order_id, safe='')}"


def _path_of(url: str) -> str:
    return httpx.URL(url).path


def _link_headers(link: Mapping[str, Any]) -> dict[str, str]:
    """The headers a paging link asks for (`[{"key", "value"}]`), minus any that are ours to set."""
    ours = {"authorization", "ms-requestid", "ms-correlationid", "accept", "ms-contract-version"}
    return {
        str(h["key"]): str(h.get("value", ""))
        for h in link.get("headers") or []
        if h.get("key") and str(h["key"]).lower() not in ours
    }


def _json_body(response: httpx.Response) -> dict[str, Any]:
    # The service prefixes some bodies with a UTF-8 byte order mark, which json refuses.
    try:
        payload = json.loads(response.content.decode("utf-8-sig"))
    except ValueError:
        raise PartnerCenterError(
            response.status_code,
            None,
            "the response is not JSON",
            response.request.headers.get("MS-RequestId"),
        ) from None
    if not isinstance(payload, dict):
        raise PartnerCenterError(
            response.status_code, None, "the response is not a JSON object", None
        )
    return payload


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (the service sends seconds; an HTTP date is accepted too)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _poll_backoff(attempt: int) -> float:
    return float(min(POLL_CAP_SECONDS, POLL_BASE_SECONDS * 2 ** (attempt - 1)))


def _error_from_response(
    response: httpx.Response, request_id: str, token: str
) -> PartnerCenterError:
    """Read the classic `{code, description}` body, or the throttle's `{statusCode, message}`."""
    try:
        payload = json.loads(response.content.decode("utf-8-sig")) if response.content else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = payload.get("code")
    description = str(
        payload.get("description")
        or payload.get("message")
        or response.reason_phrase
        or "no description"
    )
    error_class: type[PartnerCenterError] = (
        NotFound if response.status_code == 404 else PartnerCenterError
    )
    if response.status_code in AUTH_HINTS and str(code) not in RULE_REFUSALS:
        error_class, hint = AUTH_HINTS[response.status_code]
        description = f"{description} — {hint}"
    if token:
        description = description.replace(token, "<hidden>")  # in case the service echoes it
    return error_class(
        response.status_code,
        None if code in (None, "") else str(code),
        description,
        request_id,
    )
