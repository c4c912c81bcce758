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
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import random
import re
import threading
import time
import urllib.request
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpcore
import httpx

from reconciler.partnercenter.auth import TokenProvider, check_endpoint_url, check_token
from reconciler.partnercenter.errors import (
    ANSWER,
    AUTH_HINTS,
    DESCRIPTION_LIMIT,
    RULE_REFUSALS,
    AnswerTimeout,
    AnswerTooLarge,
    ConfigurationError,
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

__all__ = [
    "DeadlineTransport",
    "InsecureEndpointError",
    "NotFound",
    "PartnerCenterClient",
    "PartnerCenterError",
    "RateLimiter",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

API_PREFIX = "/v1"
# The largest page size is not documented; a smaller cap on the service's side only
# means shorter pages, and paging follows `links.next` either way.
DEFAULT_PAGE_SIZE = 500
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
POLL_BASE_SECONDS = 1.0
POLL_CAP_SECONDS = 5.0
MAX_POLLS = 30
# A `Retry-After` longer than this is refused rather than slept: a run must not hang for
# an hour because an answer said so.
MAX_RETRY_AFTER_SECONDS = 300.0

# The limits on what one server can make the client spend (see the module docstring).
# The largest answer pcr reads: a page of 500 customers is well under 1 MiB.
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024
# Pages of one listing: 1,000 pages of 500 is half a million customers, and reading them
# takes two minutes of the 500-requests-a-minute budget on paging alone.
DEFAULT_MAX_PAGES = 1_000
DEFAULT_CONNECT_TIMEOUT = 10.0  # TCP connect and TLS handshake
DEFAULT_READ_TIMEOUT = 30.0  # silence: the most the server may send nothing
DEFAULT_ANSWER_TIMEOUT = 60.0  # one attempt, from sending the request to the answer's last byte

# What parsing may cost is bounded too: at most one object or list per this many bytes of
# the cap, and one value (a comma) per this many. Real answers have one object or list per
# 60-100 bytes and a comma per 35-45, so only answers built to blow up when parsed (32 MiB
# of `{},` is 700 MiB of dicts) come near: under these, the worst is some 60 MiB.
CONTAINER_BYTES = 64
VALUE_BYTES = 32
# Decompressed output is produced in pieces of at most this, so the cap is checked often.
_PIECE = 64 * 1024

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


# -- secrets in logs ------------------------------------------------------------------------

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"\\),;]+")
# The loggers of httpx and httpcore, whose debug records quote exceptions: a server that
# echoes the Authorization header in a line no parser takes would put the token in them.
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    __name__,
)


class _Secrets:
    """The last few bearer tokens the clients of this process sent, to scrub from logs."""

    def __init__(self, keep: int = 16) -> None:
        self._tokens: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        with self._lock:
            if token not in self._tokens:
                self._tokens.append(token)

    def scrub(self, text: str) -> str:
        with self._lock:
            tokens = tuple(self._tokens)
        return _BEARER.sub(r"\1<hidden>", scrub(text, *tokens))


_SECRETS = _Secrets()


class _ScrubSecrets(logging.Filter):
    """Takes any bearer token out of a log record's message before a handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SECRETS.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _install_log_scrubbing() -> None:
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubSecrets) for f in logger.filters):
            logger.addFilter(_ScrubSecrets())


_install_log_scrubbing()


# -- deadlines under the sockets ------------------------------------------------------------


class _Deadline(threading.local):
    """The deadline of the answer this thread is reading, on the client's clock."""

    at: float | None = None
    clock: Callable[[], float] = time.monotonic


_DEADLINE = _Deadline()


@contextmanager
def _answer_deadline(at: float, clock: Callable[[], float]) -> Iterator[None]:
    previous = (_DEADLINE.at, _DEADLINE.clock)
    _DEADLINE.at, _DEADLINE.clock = at, clock
    try:
        yield
    finally:
        _DEADLINE.at, _DEADLINE.clock = previous


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout`, shortened to what is left of this thread's answer deadline."""
    if _DEADLINE.at is None:
        return timeout
    left = _DEADLINE.at - _DEADLINE.clock()
    if left <= 0:
        raise error("the answer's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and handshake ends by the answer's deadline:
    httpx's read timeout starts afresh with each byte, so a server trickling a byte every
    few seconds would otherwise never time out, in the headers or the body."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, with every socket operation held to the answer deadline the
    client sets for the attempt. The client's default; a test's transport may subclass it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx takes no network backend, so it is put in under the pool it built. Should a
        # future httpx lay this out differently, the client still checks the deadline
        # between the chunks it reads, only less exactly.
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        else:  # pragma: no cover - a different httpx
            log.debug("httpx's transport has no network backend to hold to deadlines")


def _environment_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, ALL_PROXY, NO_PROXY), as httpx
    would have used it: with a transport of its own the client must look itself."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


# -- answers --------------------------------------------------------------------------------


@dataclass
class _Answer:
    """An answer read whole (and no larger than the cap), with what it answered."""

    method: str
    path: str
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes | bytearray
    request_id: str
    elapsed: float = 0.0
    _payload: Any = field(default=None, repr=False)
    _decoded: bool = field(default=False, repr=False)

    def describe(self, page: int = 1) -> str:
        return f"{self.method} {self.path}" + (f", page {page}" if page > 1 else "")

    def json(self) -> Any:
        if not self._decoded:
            self._payload = _decode_json(self.body)
            self._decoded = True
        return self._payload

    def parse(self, parse: Callable[[Any], T], page: int = 1) -> T:
        """The answer parsed by `parse`; a shape it cannot read names this call."""
        try:
            return parse(self.json())
        except MalformedAnswer as exc:
            raise exc.answering(self.describe(page), self.status, self.request_id) from None


def _decode_json(body: bytes | bytearray) -> Any:
    # The service prefixes some bodies with a UTF-8 byte order mark, which json refuses.
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    try:
        return json.loads(body)
    except RecursionError:  # a few MiB of "[[[[": json recurses per level
        raise MalformedAnswer(ANSWER, "is nested deeper than pcr reads") from None
    except ValueError:  # not JSON, not UTF-8, or a number of more digits than Python takes
        raise MalformedAnswer(ANSWER, "is not JSON") from None


class _Inflate:
    """Undo a gzip or deflate Content-Encoding in pieces of at most `_PIECE` bytes, so a
    small answer that inflates to gigabytes is stopped at the cap, never held whole."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # Some servers send deflate without zlib's header: tried when the header is not there.
        self._raw_fallback = encoding == "deflate"
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            raise MalformedAnswer(
                ANSWER, f"is in a content encoding pcr did not ask for ({encoding[:40]!r})"
            )

    def __call__(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            if data:
                yield data
            return
        while not self._zlib.eof:
            try:
                out = self._zlib.decompress(data, _PIECE)
            except zlib.error:
                if not self._raw_fallback:
                    raise MalformedAnswer(ANSWER, f"is not valid {self.encoding}") from None
                self._raw_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _PIECE:
                return


class _TooLarge(Exception):
    """Raised inside the read, where the request is not at hand; becomes AnswerTooLarge."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


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
        rate_per_minute: float = 500,
        max_concurrency: int = 8,
        max_attempts: int = 6,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        answer_timeout: float = DEFAULT_ANSWER_TIMEOUT,
        call_timeout: float | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        correlation_id: str | None = None,
    ) -> None:
        """`call_timeout` (default: `answer_timeout`) is what one call may spend on its
        attempts and the backoff between them; waits the service asks for are not counted."""
        root = check_endpoint_url(base_url, allow_any=transport is not None)
        if max_attempts < 1 or max_concurrency < 1:
            raise ValueError("max_attempts and max_concurrency must be at least 1")
        call_timeout = answer_timeout if call_timeout is None else call_timeout
        limits = (connect_timeout, read_timeout, answer_timeout, call_timeout)
        if not all(math.isfinite(t) and t > 0 for t in limits):
            raise ValueError("timeouts must be positive numbers of seconds")
        if max_answer_bytes < 1 or max_pages < 1:
            raise ValueError("max_answer_bytes and max_pages must be at least 1")
        self.base_url = str(root).rstrip("/").removesuffix(API_PREFIX)
        self.host = root.host
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._token_provider = token_provider
        self._max_attempts = max_attempts
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._answer_timeout = answer_timeout
        self._call_timeout = call_timeout
        self._max_answer_bytes = max_answer_bytes
        self._max_pages = max_pages
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        self._limiter = RateLimiter.per_minute(rate_per_minute, sleep=sleep)
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._counter_lock = threading.Lock()
        self._request_count = 0
        self._throttled_count = 0
        if transport is None:
            try:
                transport = DeadlineTransport(proxy=_environment_proxy(root))
            except (ValueError, httpx.InvalidURL, ImportError) as exc:  # its URL is not shown:
                raise ConfigurationError(  # it may hold the proxy's password
                    f"the proxy the environment names for {root.host} (HTTPS_PROXY, "
                    f"HTTP_PROXY or ALL_PROXY) cannot be used: {type(exc).__name__}"
                ) from None
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=self._timeouts(answer_timeout),
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
            if number >= self._max_pages:
                raise PagingError(
                    None,
                    None,
                    f"the listing of {API_PREFIX}{path} does not end: it goes on past "
                    f"{self._max_pages} pages, the most pcr reads (PCR_MAX_PAGES)",
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
    ) -> _Answer | None:
        """Send a change; wait out a 202. None when the service returns no resource."""
        answer = self._request(method, path, json_body=body, request_id=request_id)
        if answer.status == 202:
            location = answer.headers.get("Location")
            if not location:
                return None
            return self._poll(location, self._retry_after(answer))
        return answer if answer.body.strip() else None

    def _poll(self, location: str, first_wait: float | None) -> _Answer:
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
    ) -> _Answer:
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
        for attempt in range(1, self._max_attempts + 1):
            token = check_token(self._token_provider(), "the bearer token")
            allowance = min(self._answer_timeout, self._call_timeout - spent)
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
                error = _error_from_answer(answer, token, self.host)
                wait, asked = self._retry_wait(answer, attempt, error)
            if wait is None:
                raise error
            out_of_time = spent + (0.0 if asked else wait) >= self._call_timeout
            if attempt == self._max_attempts or out_of_time:
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
    ) -> _Answer:
        """One attempt, read whole within `allowance` seconds, or `_Failed`."""
        headers = {
            **(extra_headers or {}),
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # Only what `_Inflate` undoes in bounded pieces (never br or zstd).
            "Accept-Encoding": "gzip, deflate",
            "MS-Contract-Version": "v1",
            "MS-RequestId": request_id,
            "MS-CorrelationId": self.correlation_id,
        }
        path = _path_of(url)
        _SECRETS.add(token)
        with self._slots:
            self._limiter.acquire(priority=priority)
            with self._counter_lock:
                self._request_count += 1
            started = self._clock()
            deadline = started + allowance
            try:
                with (
                    _answer_deadline(deadline, self._clock),
                    self._http.stream(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers=headers,
                        timeout=self._timeouts(allowance),
                    ) as response,
                ):
                    body = self._read_body(response, deadline, allowance)
                    status, reason = response.status_code, response.reason_phrase
                    answer_headers = response.headers
            except MalformedAnswer as exc:  # an encoding pcr cannot undo
                error: PartnerCenterError = exc.answering(f"{method} {path}", None, request_id)
                raise _Failed(error, False, self._clock() - started) from None
            except _TooLarge as exc:
                error = AnswerTooLarge(
                    exc.status, None, f"{exc.description} ({method} {path})", request_id
                )
                raise _Failed(error, False, self._clock() - started) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                error_class, description, retryable = self._transport_failure(
                    exc, token, deadline, allowance
                )
                error = error_class(None, None, f"{description} ({method} {path})", request_id)
                raise _Failed(error, retryable, self._clock() - started) from None
        elapsed = self._clock() - started
        if status == 429:
            with self._counter_lock:
                self._throttled_count += 1
        log.debug("%s %s -> %s [request %s]", method, path, status, request_id)
        return _Answer(method, path, status, reason, answer_headers, body, request_id, elapsed)

    def _read_body(
        self, response: httpx.Response, deadline: float, allowance: float
    ) -> bytes | bytearray:
        """The answer's body, decompressed, refused as soon as it passes the cap or the
        deadline: memory stays within the cap and one piece, whatever the server sends."""
        limit, status = self._max_answer_bytes, response.status_code
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(status, f"says it is {int(declared):,} bytes long")
        if response.is_stream_consumed:  # an in-process transport built the answer whole
            content = response.content
            if len(content) > limit:
                raise self._too_large(status, f"is {len(content):,} bytes long")
            self._check_structure(status, content)
            return content
        inflate = _Inflate(response.headers.get("Content-Encoding", "").strip().lower())
        body = bytearray()
        for raw in response.iter_raw():
            for piece in inflate(raw):
                body += piece
                if len(body) > limit:
                    raise self._too_large(status, "goes on past that")
            if self._clock() > deadline:
                raise httpx.ReadTimeout(_late(allowance), request=response.request)
        self._check_structure(status, body)
        return body

    def _check_structure(self, status: int, body: bytes | bytearray) -> None:
        """Refuse an answer whose parse would cost many times its size: `[{},{},…]` of
        32 MiB is 700 MiB of Python objects. Counted on the bytes (in strings too, which
        only errs on the safe side); real answers are far below either bound."""
        containers = body.count(b"{") + body.count(b"[")
        if containers > self._max_answer_bytes // CONTAINER_BYTES:
            raise _TooLarge(
                status,
                f"the answer holds more than {self._max_answer_bytes // CONTAINER_BYTES:,} "
                "objects and lists, the most pcr reads",
            )
        if body.count(b",") > self._max_answer_bytes // VALUE_BYTES:
            raise _TooLarge(
                status,
                f"the answer holds more than {self._max_answer_bytes // VALUE_BYTES:,} "
                "values, the most pcr reads",
            )

    def _too_large(self, status: int, what: str) -> _TooLarge:
        cap = _size(self._max_answer_bytes)
        return _TooLarge(status, f"the answer is larger than {cap}, the most pcr reads: it {what}")

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
            return AnswerTimeout, _late(allowance), True
        if isinstance(exc, httpx.ConnectTimeout):
            limit = timeouts.get("connect", self._connect_timeout)
            return PartnerCenterError, f"could not connect to {host} within {_seconds(limit)}", True
        if isinstance(exc, httpx.ReadTimeout):
            limit = timeouts.get("read", self._read_timeout)
            return PartnerCenterError, f"{host} sent nothing for {_seconds(limit)}", True
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

    def _timeouts(self, allowance: float) -> httpx.Timeout:
        return httpx.Timeout(
            connect=min(self._connect_timeout, allowance),
            read=min(self._read_timeout, allowance),
            write=min(self._read_timeout, allowance),
            pool=min(self._connect_timeout, allowance),
        )

    def _retry_after(
        self, answer: _Answer, error: PartnerCenterError | None = None
    ) -> float | None:
        """`Retry-After` in seconds; one longer than `MAX_RETRY_AFTER_SECONDS` is an error."""
        wait = _retry_after(answer.headers)
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

    def _retry_wait(
        self, answer: _Answer, attempt: int, error: PartnerCenterError
    ) -> tuple[float | None, bool]:
        """How long to wait before retrying this answer (None: it must not be retried), and
        whether the service asked for that wait.

        429 waits exactly as long as `Retry-After` says. 409 (what the service
        answers while a subscription renews) and 5xx use it when present too,
        else back off. Anything else (a redirect included) is not retried.
        """
        status = answer.status
        if status != 429 and status != 409 and status < 500:
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


def _seconds(value: object) -> str:
    seconds = float(value) if isinstance(value, int | float) else 0.0
    return f"{round(seconds, 1):g} s"


def _late(allowance: float) -> str:
    return f"the answer did not arrive in full within {_seconds(allowance)}"


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count:,} bytes"


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


def _retry_after(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds (the service sends seconds; an HTTP date is accepted too)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _poll_backoff(attempt: int) -> float:
    return float(min(POLL_CAP_SECONDS, POLL_BASE_SECONDS * 2 ** (attempt - 1)))


def _error_from_answer(answer: _Answer, token: str, host: str | None) -> PartnerCenterError:
    """Read the classic `{code, description}` body, or the throttle's `{statusCode, message}`."""
    if 300 <= answer.status < 400:
        return PartnerCenterError(
            answer.status,
            None,
            f"a redirect, which pcr does not follow: the bearer token goes to {host} only",
            answer.request_id,
        )
    try:
        payload = _decode_json(answer.body) if answer.body.strip() else {}
    except MalformedAnswer:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    code = payload.get("code")
    if not isinstance(code, str | int) or isinstance(code, bool):
        code = None
    description = payload.get("description") or payload.get("message")
    if not isinstance(description, str):
        description = answer.reason or "no description"
    error_class: type[PartnerCenterError] = NotFound if answer.status == 404 else PartnerCenterError
    if answer.status in AUTH_HINTS and str(code) not in RULE_REFUSALS:
        error_class, hint = AUTH_HINTS[answer.status]
        description = f"{one_line(description, DESCRIPTION_LIMIT - len(hint) - 3)} — {hint}"
    description = scrub(description, token)  # in case the service echoes it
    return error_class(
        answer.status,
        None if code in (None, "") else str(code),
        description,
        answer.request_id,
    )
