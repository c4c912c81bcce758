"""The HTTP machinery the Partner Center and Microsoft Graph clients share: one request/retry loop.

An `ApiClient` is synchronous and thread-safe: apply calls it from a thread pool. It
keeps a run under its service's budget with a sliding-window rate limiter and a
concurrency cap, retries what is worth retrying (429 after exactly `Retry-After`,
5xx/timeouts with capped exponential backoff and jitter) under the request id Microsoft's
rule gives each attempt (`CallId`), and follows paging links. What tells one service's
API apart (its path prefix, its request-id header, how it writes an error) is an `Api`;
a client of a service subclasses `ApiClient` with the calls of that service.

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
the text of any transport error. Redirects are not followed, and a paging link
is followed only back to the same root.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import Any
from typing import ClassVar
from typing import TypedDict
from typing import TypeVar
from typing import Unpack

import httpx

from reconciler.live.answer import Answer
from reconciler.live.answer import TooLarge
from reconciler.live.answer import late
from reconciler.live.answer import read_body
from reconciler.live.answer import retry_after_seconds
from reconciler.live.answer import seconds
from reconciler.live.auth import TokenProvider
from reconciler.live.auth import check_endpoint_url
from reconciler.live.auth import check_token
from reconciler.live.closing import Closing
from reconciler.live.config import BACKOFF_BASE_SECONDS
from reconciler.live.config import BACKOFF_CAP_SECONDS
from reconciler.live.config import MAX_RETRY_AFTER_SECONDS
from reconciler.live.config import Limits
from reconciler.live.errors import AnswerTimeout
from reconciler.live.errors import AnswerTooLarge
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import PagingError
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import one_line
from reconciler.live.errors import scrub
from reconciler.live.models import NextPage
from reconciler.live.models import Page
from reconciler.live.ratelimit import RateLimiter
from reconciler.live.scrubbing import SECRETS
from reconciler.live.scrubbing import guarded
from reconciler.live.transport import answer_deadline
from reconciler.live.transport import default_transport
from reconciler.live.transport import environment_proxy
from reconciler.wording import plural

__all__ = ["Api", "ApiClient", "ErrorReader"]

T = TypeVar("T")

# (answer, the token sent, the host) -> the error that answer is.
ErrorReader = Callable[[Answer, str, str | None], PartnerCenterError]

_RETRYABLE_TRANSPORT_ERRORS = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


class CallId:
    """The request id of one logical call (`MS-RequestId`, Graph's `client-request-id`).

    Microsoft's rule (docs/partner-center.md): the id is the call's idempotency key. A
    retry after no answer (a timeout, a lost connection) sends the same id, so that the
    service can tell a call it may already have taken; once an answer came, whatever its
    status, the next attempt gets a new id, or a service that remembers answers by id
    would answer it again with the same refusal. `on_new` hears each new id before it is
    sent: apply journals it, so that a run killed mid-call is checked under the id it sent.
    """

    def __init__(self, value: str | None = None, on_new: Callable[[str], None] | None = None):
        self.value = value or str(uuid.uuid4())
        self._on_new = on_new

    def renew(self) -> None:
        self.value = str(uuid.uuid4())
        if self._on_new is not None:
            self._on_new(self.value)


# A write whose answer was a 5xx may have been carried out all the same: only a fresh read
# can tell. `Landed` is that read (True: the change is in place).
Landed = Callable[[], bool]


@dataclass(frozen=True)
class Api:
    """What tells one service's REST API apart on the wire."""

    service: str  # as messages name it: "Partner Center", "Microsoft Graph"
    prefix: str  # every path is under it: "/v1", "/v1.0"
    request_id_header: str  # one id per logical call, the same on each of its attempts
    read_error: ErrorReader  # how an answer that is an error is read


class _Failed(Exception):
    """An attempt that got no usable answer; `retryable` if another attempt may."""

    def __init__(self, error: PartnerCenterError, retryable: bool, elapsed: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.elapsed = elapsed


class ClientOptions(TypedDict, total=False):
    """What a client may be built with besides its root and token (tests set all four)."""

    limits: Limits  # the budget and what one call and one answer may cost
    transport: httpx.BaseTransport | None  # a swapped transport: the fake in process
    sleep: Callable[[float], None]
    clock: Callable[[], float]


class Sending(TypedDict, total=False):
    """What a write is sent with, so that it happens once (docs/partner-center.md, "Request ids"):
    its first attempt's request id (`CallId`), and how to tell it is in place when a 5xx
    left it open (`Landed`). Every client's write takes these, and passes them on whole."""

    request_id: str | CallId | None
    landed: Landed | None


class CallOptions(Sending, total=False):
    """What one call may carry besides its method and path (`ApiClient._call`)."""

    params: Mapping[str, Any] | None
    json_body: Mapping[str, Any] | None
    headers: Mapping[str, str] | None
    priority: bool  # first in line for the rate and a place in flight: the next page


class ApiClient(Closing):
    """One service's REST API root, called under the limits (see the module's docstring).
    A service's client names its `api` and its `default_limits`."""

    api: ClassVar[Api]
    default_limits: ClassVar[Limits]

    def __init__(
        self, base_url: str, token_provider: TokenProvider, **options: Unpack[ClientOptions]
    ) -> None:
        limits = options.get("limits", self.default_limits)
        transport = options.get("transport")
        sleep = options.get("sleep", time.sleep)
        clock = options.get("clock", time.monotonic)
        api = self.api
        root = check_endpoint_url(base_url, allow_any=transport is not None)
        self._limits = limits
        self.base_url = str(root).rstrip("/").removesuffix(api.prefix)
        self.host = root.host
        # Each service's client logs under its own module's name, always scrubbed.
        self._log = guarded(logging.getLogger(type(self).__module__))
        self._token_provider = token_provider
        self._sleep = sleep
        self._clock = clock
        self._random = random.Random()
        # The rate and the concurrency cap in one queue, so that a priority call (the next
        # page of a listing) is first in line for both: it never waits for a place in flight
        # behind ordinary calls that are themselves only waiting for the rate.
        self._limiter = RateLimiter.per_minute(
            limits.rate_per_minute, sleep=sleep, max_in_flight=limits.max_concurrency
        )
        self._counter_lock = threading.Lock()
        self._request_count = 0
        self._throttled_count = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport if transport is not None else default_transport(root),
            timeout=limits.timeouts(limits.answer_timeout),
            follow_redirects=False,  # a redirect must not carry the bearer token elsewhere
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

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

    def wait(self, seconds: float) -> None:
        """Sleep on the client's clock (tests give it one that does not block)."""
        self._sleep(seconds)

    # -- what a service's client builds on -----------------------------------------------

    def _get(
        self, path: str, parse: Callable[[Any], T], params: Mapping[str, Any] | None = None
    ) -> T:
        return self._request("GET", path, params=params).parse(parse)

    def _iter_pages(
        self,
        answer: Answer,
        parse_page: Callable[[Any], Page[T]],
        listing: str,
        *,
        link_name: str,
        priority: bool = False,
    ) -> Iterator[T]:
        """The items of a listing whose first page is `answer`, page after page; `listing`
        names it in errors, `link_name` the field of a page that links to the next.

        Each page is checked whole before any of its items is handed out. A listing ends
        when a page has no link to the next; one that links back to a page it has given
        already, or runs past `max_pages`, is an error rather than an endless loop.
        """
        seen: set[bytes] = set()
        for number in itertools.count(1):
            page = answer.parse(parse_page, number)
            yield from page.items
            if page.next is None:
                return
            if number >= self._limits.max_pages:
                raise self._error(
                    PagingError,
                    f"the listing of {listing} does not end: it goes on past "
                    f"{self._limits.max_pages} pages, the most pcr reads (PCR_MAX_PAGES)",
                    answer.request_id,
                )
            headers = self._link_headers(page.next)
            where = _page_key(page.next.uri, headers)
            if where in seen:  # a service bug must not become an endless loop
                raise self._error(
                    PagingError,
                    f"the listing of {listing} does not end: page {number} links back to a "
                    "page it has already given (a continuation token seen before)",
                    answer.request_id,
                )
            seen.add(where)
            next_page = self._resolve_link(page.next.uri, f"page {number}'s {link_name}")
            answer = self._request("GET", next_page, headers=headers, priority=priority)

    def _link_headers(self, link: NextPage) -> dict[str, str]:
        """The headers a paging link asks to be sent with it: none unless a service says so."""
        return {}

    def _resolve_link(self, link: str, what: str) -> str:
        """A link from the service, as what `_request` takes: here only an absolute URL."""
        target = self._parse_link(link, what)
        if not target.is_absolute_url:
            raise MalformedAnswer(what, "is not an absolute link", service=self.api.service)
        return self._same_root(target)

    def _parse_link(self, link: str, what: str) -> httpx.URL:
        try:
            return httpx.URL(link)
        except httpx.InvalidURL:
            raise MalformedAnswer(
                what, "is not a link pcr can follow", service=self.api.service
            ) from None

    def _same_root(self, target: httpx.URL) -> str:
        """An absolute link that points back at the API root: the token goes nowhere else."""
        root = httpx.URL(self.base_url)
        if (target.scheme, target.host, target.port) != (root.scheme, root.host, root.port):
            raise self._error(
                PartnerCenterError,
                f"refusing to follow a link to another host: {one_line(target.host, 100)}",
                None,
            )
        return str(target)

    def _service_headers(self) -> dict[str, str]:
        """Headers of the service's own, sent with every request."""
        return {}

    def _wait_if_busy(
        self, answer: Answer, error: PartnerCenterError, waited: float, method: str, url: str
    ) -> float | None:
        """The seconds waited out for an answer that says the resource is busy, or None
        for an answer that does not say so (it is then retried or not by its status)."""
        return None

    def _error(
        self,
        kind: type[PartnerCenterError],
        description: str,
        request_id: str | None,
        status: int | None = None,
        code: str | None = None,
    ) -> PartnerCenterError:
        """An error of pcr's own finding, named as this service's."""
        return kind(status, code, description, request_id, service=self.api.service)

    # -- the request/retry loop ----------------------------------------------------------

    def _request(self, method: str, path: str, **options: Unpack[CallOptions]) -> Answer:
        """One logical call (`_call`) whose answer is always wanted."""
        answer = self._call(method, path, **options)
        assert answer is not None  # only a write's landed check ends a call without one
        return answer

    def _call(self, method: str, path: str, **options: Unpack[CallOptions]) -> Answer | None:
        """One logical call, its attempts under the request ids `CallId` gives them.

        The attempts and the backoff between them share `call_timeout`; each attempt
        gets what is left of it, `answer_timeout` at most. Waits that the service asks
        for (`Retry-After`) are not counted, and are refused past a few minutes.

        A write answered 5xx may have been carried out: it is tried again only once
        `landed` (a fresh read) says it is not in place, and without `landed` it is not
        tried again at all. None: `landed` found it in place.
        """
        request_id, landed = options.get("request_id"), options.get("landed")
        call = request_id if isinstance(request_id, CallId) else CallId(request_id)
        send = partial(
            self._send,
            params=options.get("params"),
            json_body=options.get("json_body"),
            extra_headers=options.get("headers"),
            priority=options.get("priority", False),
        )
        prefix = self.api.prefix
        url = path if path.startswith(("http://", "https://", prefix + "/")) else prefix + path
        spent = 0.0  # attempts and backoff, in seconds
        busy = 0.0  # busy answers waited out: not attempts, and not counted in `spent`
        attempt = 1
        while True:
            token = check_token(self._token_provider(), "the bearer token")
            allowance = min(self._limits.answer_timeout, self._limits.per_call - spent)
            try:
                answer = send(method, url, token, call.value, allowance=allowance)
            except _Failed as failed:  # no answer: the same id again
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
                error = self.api.read_error(answer, token, self.host)
                paused = self._wait_if_busy(answer, error, busy, method, url)
                if paused is not None:
                    busy += paused
                    call.renew()  # an answer came: the next attempt is a new request
                    continue
                wait, asked = self._retry_wait(answer, attempt, error)
                if wait is not None and answer.status >= 500 and method != "GET":
                    if landed is None:
                        raise error  # it may be in place: the caller must read to know
                    if landed():
                        return None
                if wait is not None:
                    call.renew()
            if wait is None:
                raise error
            out_of_time = spent + (0.0 if asked else wait) >= self._limits.per_call
            if attempt == self._limits.max_attempts or out_of_time:
                within = f" in {spent:.1f} s, the most one call may take" if out_of_time else ""
                raise error.retold(
                    f"gave up after {plural(attempt, 'attempt')}{within}: {error.description}",
                    call.value,
                )
            self._log.warning("%s %s: %s; retrying in %.1f s", method, path_of(url), error, wait)
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
        *,
        params: Mapping[str, Any] | None,
        json_body: Mapping[str, Any] | None,
        extra_headers: Mapping[str, str] | None,
        priority: bool,
        allowance: float,
    ) -> Answer:
        """One attempt, read whole within `allowance` seconds, or `_Failed`."""
        headers = self._headers(token, request_id, extra_headers)
        path = path_of(url)
        SECRETS.add(token)
        with self._limiter.slot(priority=priority):
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
        self._log.debug("%s %s -> %s [request %s]", method, path, status, request_id)
        return Answer(
            method,
            path,
            status,
            reason,
            answer_headers,
            body,
            request_id,
            elapsed,
            service=self.api.service,
        )

    def _headers(
        self, token: str, request_id: str, extra_headers: Mapping[str, str] | None
    ) -> dict[str, str]:
        return {
            **(extra_headers or {}),
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            # Only what `Inflate` undoes in bounded pieces (never br or zstd).
            "Accept-Encoding": "gzip, deflate",
            **self._service_headers(),
            self.api.request_id_header: request_id,
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
            return exc.answering(call, None, request_id, self.api.service), False
        if isinstance(exc, TooLarge):
            description = f"{exc.description} ({call})"
            return self._error(AnswerTooLarge, description, request_id, exc.status), False
        error_class, description, retryable = self._transport_failure(
            exc, token, deadline, allowance
        )
        return self._error(error_class, f"{description} ({call})", request_id), retryable

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
        if isinstance(exc, httpx.ConnectError) and _refused(exc):
            # Nothing listens there: retrying for the whole call budget only makes a wrong
            # endpoint (or a fake that is not running) take half a minute to say so.
            where = self.base_url.rstrip("/")
            if environment_proxy(httpx.URL(where)):  # the proxy is what refused
                where = f"the proxy the environment names for {where}"
            return PartnerCenterError, f"nothing accepts connections at {where} ({text})", False
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
            raise self._error(
                PartnerCenterError,
                f"{description} — and it asks pcr to wait {wait:.0f} s before trying again, "
                f"longer than the {MAX_RETRY_AFTER_SECONDS:.0f} s pcr waits",
                answer.request_id,
                answer.status,
                error.code if error is not None else None,
            )
        return wait

    def _retry_wait(
        self, answer: Answer, attempt: int, error: PartnerCenterError
    ) -> tuple[float | None, bool]:
        """How long to wait before retrying this answer (None: it must not be retried), and
        whether the service asked for that wait.

        429 waits exactly as long as `Retry-After` says; 5xx uses it when present
        too, else backs off (a busy answer is waited out apart: `_wait_if_busy`).
        Anything else (a redirect included) is not retried.
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


def _refused(exc: BaseException) -> bool:
    """Whether a connection failed because nothing listens at the address."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        if isinstance(seen, OSError) and seen.errno == errno.ECONNREFUSED:
            return True
        seen = seen.__cause__ or seen.__context__
    return "connection refused" in str(exc).lower()


def path_of(url: str) -> str:
    """The path of `url`, for a message: never its query, which may be long or personal."""
    try:
        return httpx.URL(url).path
    except httpx.InvalidURL:
        return "(an invalid URL)"


def _page_key(uri: str, headers: Mapping[str, str]) -> bytes:
    """What identifies a page asked for, in 32 bytes however long the token."""
    digest = hashlib.sha256(uri.encode())
    for name, value in sorted(headers.items()):
        digest.update(b"\0" + name.lower().encode() + b"\0" + value.encode())
    return digest.digest()
