"""A synchronous, thread-safe Partner Center REST client on httpx.

One instance serves a whole run: apply calls it from a thread pool. It keeps
the run under the documented 500 requests/minute with a sliding-window rate
limiter and a concurrency cap, retries what is worth retrying (429 after
exactly `Retry-After`, 409/5xx/timeouts with capped exponential backoff and
jitter) while reusing the call's `MS-RequestId`, follows paging links, and
polls the `Location` of a 202. Responses are parsed only through the
`*_from_wire` functions of `models`, which check the shape of every answer
before anything is read from it.

What a server can make the client spend is bounded: an answer is read as it
streams in and refused past `max_answer_bytes` (decompressed, so a gzip bomb
stops at the cap too), each attempt must deliver its whole answer within
`answer_timeout` however steadily it trickles, connecting gives up after
`connect_timeout` and silence after `read_timeout`, the attempts of one call
and the backoff between them share `call_timeout` (waits the service asks for
with `Retry-After` aside, each capped), and a listing stops at `max_pages`.

The bearer token never leaves the `Authorization` header: it is checked before
it is sent (no line breaks, nothing a header cannot carry), not logged, not
kept in any error, and scrubbed from error bodies the service echoes and from
the text of any transport error.

The client holds the calls and the request/retry loop; the rest follows the data
flow: `transport` holds the sockets to the answer's deadline, `answer` reads an
answer under the caps and says what it means, `secrets` keeps tokens out of logs,
and `config` has the limits and their defaults.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from reconciler.partnercenter.answer import (
    Answer,
    TooLarge,
    error_from_answer,
    late,
    read_body,
    retry_after_seconds,
    seconds,
)
from reconciler.partnercenter.auth import TokenProvider, check_endpoint_url, check_token
from reconciler.partnercenter.config import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    BUSY_PAUSE_CAP_SECONDS,
    BUSY_PAUSE_FIRST_SECONDS,
    DEFAULT_ANSWER_TIMEOUT,
    DEFAULT_BUSY_WAIT,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_PAGES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RATE_PER_MINUTE,
    DEFAULT_READ_TIMEOUT,
    MAX_POLLS,
    MAX_RETRY_AFTER_SECONDS,
    POLL_BASE_SECONDS,
    POLL_CAP_SECONDS,
    Limits,
)
from reconciler.partnercenter.errors import (
    AnswerTimeout,
    AnswerTooLarge,
    InsecureEndpointError,
    MalformedAnswer,
    NotFound,
    PagingError,
    PartnerCenterError,
    one_line,
    scrub,
)
from reconciler.partnercenter.models import (
    AzureEntitlement,
    Customer,
    Entitlement,
    NextPage,
    Order,
    Page,
    Subscription,
    SubscriptionStatus,
    azure_entitlement_from_wire,
    customer_from_wire,
    entitlement_from_wire,
    object_from_wire,
    order_from_wire,
    page_from_wire,
    relationship_request_from_wire,
    subscription_from_wire,
)
from reconciler.partnercenter.ratelimit import RateLimiter
from reconciler.partnercenter.scrubbing import SECRETS
from reconciler.partnercenter.transport import (
    answer_deadline,
    default_transport,
)

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
# Headers of pcr's own, which a paging link does not get to set. Only `MS-` headers are
# taken from a link at all (it carries `MS-ContinuationToken`): never Host, Cookie & co.
_OWN_HEADERS = frozenset(
    {"authorization", "ms-requestid", "ms-correlationid", "accept", "ms-contract-version"}
)


class _Failed(Exception):
    """An attempt that got no usable answer; `retryable` if another attempt may."""

    def __init__(self, error: PartnerCenterError, retryable: bool, elapsed: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.elapsed = elapsed


class PartnerCenterClient:
    """The Partner Center REST API (`/v1`), typed in and out."""

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        transport: httpx.BaseTransport | None = None,
        rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        answer_timeout: float = DEFAULT_ANSWER_TIMEOUT,
        call_timeout: float | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        max_pages: int = DEFAULT_MAX_PAGES,
        busy_wait: float = DEFAULT_BUSY_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        correlation_id: str | None = None,
    ) -> None:
        """`call_timeout` (default: `answer_timeout`) is what one call may spend on its
        attempts and the backoff between them; waits the service asks for are not counted.
        The limits are checked as a `Limits`."""
        root = check_endpoint_url(base_url, allow_any=transport is not None)
        self._limits = Limits(
            max_attempts=max_attempts,
            max_concurrency=max_concurrency,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            answer_timeout=answer_timeout,
            call_timeout=call_timeout,
            max_answer_bytes=max_answer_bytes,
            max_pages=max_pages,
            busy_wait=busy_wait,
        )
        self.base_url = str(root).rstrip("/").removesuffix(API_PREFIX)
        self.host = root.host
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._token_provider = token_provider
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        self._limiter = RateLimiter.per_minute(rate_per_minute, sleep=sleep)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._counter_lock = threading.Lock()
        self._request_count = 0
        self._throttled_count = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport if transport is not None else default_transport(root),
            timeout=self._limits.timeouts(answer_timeout),
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
        """The Azure subscriptions under an Azure plan (reference §14)."""
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
        request_id: str | None = None,
        precondition: Callable[[Subscription], None] | None = None,
    ) -> Subscription:
        """Suspend (`suspended`), reactivate (`active`), cancel (`deleted`), or set auto-renew.

        The body is the full resource as just read: a minimal body makes the
        service silently turn auto-renew off. Nothing is sent when the
        subscription already is as asked, nor when the resource as read is not
        one pcr understands. `precondition` sees the resource as read, before
        anything is sent, and stops the change by raising.
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
        result = self._write("PATCH", path, {**body, **changes}, request_id)
        if result is None:
            return self.get_subscription(customer_id, subscription_id)
        return result.parse(_with(subscription_from_wire, customer_id))

    def cancel_software_order(
        self, customer_id: str, order_id: str, request_id: str | None = None
    ) -> Order:
        """Cancel every line of a software order (only inside its cancellation window)."""
        path = _order_path(customer_id, order_id)
        answer = self._request("GET", path)
        current = answer.parse(_with(order_from_wire, customer_id))  # understood, or nothing sent
        order = answer.parse(object_from_wire)
        if current.status == "cancelled":
            return current
        body = {
            "id": order.get("id", order_id),
            "status": "cancelled",
            "lineItems": [
                {"lineItemNumber": line.get("lineItemNumber"), "offerId": line.get("offerId")}
                for line in order.get("lineItems") or []
            ],
        }
        result = self._write("PATCH", path, body, request_id)
        if result is None:
            return self._get(path, _with(order_from_wire, customer_id))
        return result.parse(_with(order_from_wire, customer_id))

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
        result = self._write("PATCH", _customer_path(customer_id), body, request_id)
        if result is None:
            return customer_from_wire({"id": customer_id, "relationshipToPartner": "none"})

        def parse(wire: Any) -> Customer:
            answered = object_from_wire(wire)
            return customer_from_wire({**answered, "id": answered.get("id") or customer_id})

        return result.parse(parse)

    # -- plumbing ------------------------------------------------------------------------

    def _get(
        self, path: str, parse: Callable[[Any], T], params: Mapping[str, Any] | None = None
    ) -> T:
        return self._request("GET", path, params=params).parse(parse)

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
        """The items of a collection, following `links.next` and its continuation token.

        Each page is checked whole before any of its items is handed out. A listing
        ends when a page has no `links.next`; one that links back to a page it has given
        already, or runs past `max_pages`, is an error rather than an endless loop.
        """
        answer = self._request("GET", path, params=params, priority=priority)
        seen: set[bytes] = set()
        for number in itertools.count(1):
            page: Page[T] = answer.parse(lambda wire: page_from_wire(wire, parse), number)
            yield from page.items
            if page.next is None:
                return
            if number >= self._limits.max_pages:
                raise PagingError(
                    None,
                    None,
                    f"the listing of {API_PREFIX}{path} does not end: it goes on past "
                    f"{self._limits.max_pages} pages, the most pcr reads (PCR_MAX_PAGES)",
                    answer.request_id,
                )
            headers = _link_headers(page.next)
            where = _page_key(page.next.uri, headers)
            if where in seen:  # a service bug must not become an endless loop
                raise PagingError(
                    None,
                    None,
                    f"the listing of {API_PREFIX}{path} does not end: page {number} links "
                    "back to a page it has already given (a continuation token seen before)",
                    answer.request_id,
                )
            seen.add(where)
            next_page = self._resolve(page.next.uri, f"page {number}'s links.next.uri")
            answer = self._request("GET", next_page, headers=headers, priority=priority)

    def _write(
        self, method: str, path: str, body: Mapping[str, Any], request_id: str | None
    ) -> Answer | None:
        """Send a change; wait out a 202. None when the service returns no resource."""
        answer = self._request(method, path, json_body=body, request_id=request_id)
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
            answer = self._request("GET", self._resolve(location, "the Location header"))
            if answer.status != 202:
                return answer
            location = answer.headers.get("Location") or location
            retry_after = self._retry_after(answer)
            wait = retry_after if retry_after is not None else _poll_backoff(attempt)
        raise PartnerCenterError(
            202, None, f"operation at {location} still running after {MAX_POLLS} polls", None
        )

    def _resolve(self, link: str, what: str) -> str:
        """A link or Location from the service, as a path under the API root.

        Links come as `/v1/customers?...`, and Location headers as
        `/customers/...` (relative to `/v1`, per the update-subscription
        example); both are accepted. An absolute URL must point back at the
        same API root: the token is never sent anywhere else.
        """
        try:
            target = httpx.URL(link)
        except httpx.InvalidURL:
            raise MalformedAnswer(what, "is not a link pcr can follow") from None
        if target.is_absolute_url:
            root = httpx.URL(self.base_url)
            if (target.scheme, target.host, target.port) != (root.scheme, root.host, root.port):
                raise PartnerCenterError(
                    None,
                    None,
                    f"refusing to follow a link to another host: {one_line(target.host, 100)}",
                    None,
                )
            return str(target)
        if target.scheme or target.host:
            raise MalformedAnswer(what, "is not a link pcr can follow")
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
    ) -> Answer:
        """One logical call: a fixed MS-RequestId across all its attempts.

        The attempts and the backoff between them share `call_timeout`; each attempt
        gets what is left of it, `answer_timeout` at most. Waits that the service asks
        for (`Retry-After`) are not counted, and are refused past a few minutes.
        """
        request_id = request_id or str(uuid.uuid4())
        url = (
            path
            if path.startswith(("http://", "https://", API_PREFIX + "/"))
            else API_PREFIX + path
        )
        spent = 0.0  # attempts and backoff, in seconds
        busy = 0.0  # 409s waited out: not attempts, and not counted in `spent`
        attempt = 1
        while True:
            token = check_token(self._token_provider(), "the bearer token")
            allowance = min(self._limits.answer_timeout, self._limits.per_call - spent)
            try:
                answer = self._send(
                    method, url, token, request_id, params, json_body, headers, priority, allowance
                )
            except _Failed as failed:
                spent += failed.elapsed
                if not failed.retryable:
                    raise failed.error from None
                error = failed.error
                wait: float | None = self._backoff(attempt)
                asked = False
            else:
                spent += answer.elapsed
                if answer.status < 300:
                    return answer
                error = error_from_answer(answer, token, self.host)
                if answer.status == 409:
                    busy += self._wait_while_busy(answer, error, busy, method, url)
                    continue
                wait, asked = self._retry_wait(answer, attempt, error)
            if wait is None:
                raise error
            out_of_time = spent + (0.0 if asked else wait) >= self._limits.per_call
            if attempt == self._limits.max_attempts or out_of_time:
                within = f" in {spent:.1f} s, the most one call may take" if out_of_time else ""
                raise type(error)(
                    error.status,
                    error.code,
                    f"gave up after {_attempts(attempt)}{within}: {error.description}",
                    request_id,
                )
            log.warning("%s %s: %s; retrying in %.1f s", method, _path_of(url), error, wait)
            self._sleep(wait)
            if not asked:
                spent += wait
            attempt += 1
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
        priority: bool,
        allowance: float,
    ) -> Answer:
        """One attempt, read whole within `allowance` seconds, or `_Failed`."""
        headers = self._headers(token, request_id, extra_headers)
        path = _path_of(url)
        SECRETS.add(token)
        with self._slots:
            self._limiter.acquire(priority=priority)
            with self._counter_lock:
                self._request_count += 1
            started = self._clock()
            deadline = started + allowance
            try:
                with (
                    answer_deadline(deadline, self._clock),
                    self._http.stream(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers=headers,
                        timeout=self._limits.timeouts(allowance),
                    ) as response,
                ):
                    body = read_body(
                        response,
                        max_bytes=self._limits.max_answer_bytes,
                        deadline=deadline,
                        allowance=allowance,
                        clock=self._clock,
                    )
                    status, reason = response.status_code, response.reason_phrase
                    answer_headers = response.headers
            except (MalformedAnswer, TooLarge, httpx.HTTPError, httpx.InvalidURL) as exc:
                error, retryable = self._failure(
                    exc, f"{method} {path}", token, request_id, deadline, allowance
                )
                raise _Failed(error, retryable, self._clock() - started) from None
        elapsed = self._clock() - started
        if status == 429:
            with self._counter_lock:
                self._throttled_count += 1
        log.debug("%s %s -> %s [request %s]", method, path, status, request_id)
        return Answer(method, path, status, reason, answer_headers, body, request_id, elapsed)

    def _headers(
        self, token: str, request_id: str, extra_headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        return {
            **(extra_headers or {}),
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # Only what `Inflate` undoes in bounded pieces (never br or zstd).
            "Accept-Encoding": "gzip, deflate",
            "MS-Contract-Version": "v1",
            "MS-RequestId": request_id,
            "MS-CorrelationId": self.correlation_id,
        }

    def _failure(
        self,
        exc: Exception,
        call: str,
        token: str,
        request_id: str,
        deadline: float,
        allowance: float,
    ) -> tuple[PartnerCenterError, bool]:
        """The error an attempt that got no usable answer ends in, and whether to retry."""
        if isinstance(exc, MalformedAnswer):  # an encoding pcr cannot undo
            return exc.answering(call, None, request_id), False
        if isinstance(exc, TooLarge):
            return AnswerTooLarge(
                exc.status, None, f"{exc.description} ({call})", request_id
            ), False
        error_class, description, retryable = self._transport_failure(
            exc, token, deadline, allowance
        )
        return error_class(None, None, f"{description} ({call})", request_id), retryable

    def _transport_failure(
        self, exc: Exception, token: str, deadline: float, allowance: float
    ) -> tuple[type[PartnerCenterError], str, bool]:
        """What went wrong, in one line without secrets, and whether to try again."""
        host = self.host
        timeouts: dict[str, Any] = {}
        with suppress(AttributeError, RuntimeError):  # raised before there was a request
            timeouts = getattr(exc, "request").extensions.get("timeout") or {}  # noqa: B009
        text = one_line(scrub(str(exc), token), 200)
        if isinstance(exc, httpx.TimeoutException) and self._clock() >= deadline - 0.01:
            return AnswerTimeout, late(allowance), True
        if isinstance(exc, httpx.ConnectTimeout):
            limit = timeouts.get("connect", self._limits.connect_timeout)
            return PartnerCenterError, f"could not connect to {host} within {seconds(limit)}", True
        if isinstance(exc, httpx.ReadTimeout):
            limit = timeouts.get("read", self._limits.read_timeout)
            return PartnerCenterError, f"{host} sent nothing for {seconds(limit)}", True
        if isinstance(exc, httpx.WriteTimeout):
            return PartnerCenterError, f"could not send the request to {host} in time", True
        if isinstance(exc, httpx.TimeoutException):
            return PartnerCenterError, f"{type(exc).__name__} talking to {host}", True
        if isinstance(exc, httpx.ConnectError):
            return PartnerCenterError, f"cannot connect to {host}: {text}", True
        if isinstance(exc, httpx.RemoteProtocolError):
            return PartnerCenterError, f"{host} broke the HTTP protocol: {text}", True
        if isinstance(exc, _RETRYABLE_TRANSPORT_ERRORS):
            return PartnerCenterError, f"the connection to {host} failed: {text}", True
        if isinstance(exc, httpx.LocalProtocolError | httpx.InvalidURL):
            # Its text may quote a header, the token's included: never shown.
            return PartnerCenterError, f"could not send the request ({type(exc).__name__})", False
        return PartnerCenterError, f"{type(exc).__name__}: {text}", False

    def _retry_after(self, answer: Answer, error: PartnerCenterError | None = None) -> float | None:
        """`Retry-After` in seconds; one longer than `MAX_RETRY_AFTER_SECONDS` is an error."""
        wait = retry_after_seconds(answer.headers)
        if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
            description = error.description if error is not None else "the operation is running"
            raise PartnerCenterError(
                answer.status,
                error.code if error is not None else None,
                f"{description} — and it asks pcr to wait {wait:.0f} s before trying again, "
                f"longer than the {MAX_RETRY_AFTER_SECONDS:.0f} s pcr waits",
                answer.request_id,
            )
        return wait

    def _wait_while_busy(
        self, answer: Answer, error: PartnerCenterError, waited: float, method: str, url: str
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
            method,
            _path_of(url),
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

    def _retry_wait(
        self, answer: Answer, attempt: int, error: PartnerCenterError
    ) -> tuple[float | None, bool]:
        """How long to wait before retrying this answer (None: it must not be retried), and
        whether the service asked for that wait.

        429 waits exactly as long as `Retry-After` says; 5xx uses it when present
        too, else backs off (409 is waited out apart: `_wait_while_busy`). Anything
        else (a redirect included) is not retried.
        """
        status = answer.status
        if status != 429 and status < 500:
            return None, False
        retry_after = self._retry_after(answer, error)
        if retry_after is not None:
            return retry_after, True
        return self._backoff(attempt), False

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff plus up to 50% jitter, so parallel workers spread out."""
        base = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
        return float(base + self._random.uniform(0, base / 2))


def _with(parse: Callable[[str, Mapping[str, Any]], T], customer_id: str) -> Callable[[Any], T]:
    def parsed(wire: Any) -> T:
        return parse(customer_id, wire)

    return parsed


def _attempts(count: int) -> str:
    return "1 attempt" if count == 1 else f"{count} attempts"


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
    try:
        return httpx.URL(url).path
    except httpx.InvalidURL:
        return "(an invalid URL)"


def _link_headers(link: NextPage) -> dict[str, str]:
    """The headers a paging link asks for: its `MS-` headers, minus any that are ours."""
    return {
        name: value
        for name, value in link.headers
        if name.lower().startswith("ms-") and name.lower() not in _OWN_HEADERS
    }


def _page_key(uri: str, headers: Mapping[str, str]) -> bytes:
    """What identifies a page asked for, in 32 bytes however long the token."""
    digest = hashlib.sha256(uri.encode())
    for name, value in sorted(headers.items()):
        digest.update(b"\0" + name.lower().encode() + b"\0" + value.encode())
    return digest.digest()


def _poll_backoff(attempt: int) -> float:
    return float(min(POLL_CAP_SECONDS, POLL_BASE_SECONDS * 2 ** (attempt - 1)))
