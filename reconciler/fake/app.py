"""A fake Partner Center: a stdlib WSGI app speaking the same wire format as the real API.

It serves the endpoints pcr uses (customers with paging, subscriptions,
entitlements, orders, the Azure subscriptions under an Azure plan with their
cancel and reactivate, relationship removal, polling of 202s), checks that a
bearer token is present, echoes `MS-RequestId`/`MS-CorrelationId`, and
applies the service's rules through `FakeState`. Beside it, under `/v1.0`, it is
Microsoft Graph's GDAP API (`delegatedAdminRelationships`: listed with `$filter` and
`$top`, paged by absolute `@odata.nextLink`s, one got, terminated, deleted), in Graph's
own error bodies and headers (`client-request-id` echoed, a `request-id` of its own),
its rules in `fake.graph`. Fault rules and a throttle
make it answer 429/409/5xx, go slow, or accept writes asynchronously, so the
client's resilience can be exercised. A hold (`FakePartnerCenter.hold`) keeps
matching requests waiting at the door until a test releases them, so a test
orders what the client and the service do by events instead of by sleeping.

The same app runs in-process (as an `httpx.WSGITransport`) or on a loopback
socket (`fake.server`). One lock serialises access to the state; injected
latency is slept outside it so parallel callers really overlap.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from collections import OrderedDict
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote

from reconciler.fake import graph as fake_graph
from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import CODE_NOT_FOUND
from reconciler.fake.errors import CODE_PENDING_OPERATION
from reconciler.fake.errors import FakeApiError
from reconciler.fake.estate import in_partner_list
from reconciler.fake.graph import GRAPH_PREFIX
from reconciler.fake.graph import RELATIONSHIPS_PATH
from reconciler.fake.graph import GraphApiError
from reconciler.fake.mutations import Origin
from reconciler.fake.state import FakeState
from reconciler.fake.tokens import tenant_of
from reconciler.fake.wire import count_within
from reconciler.fake.wire import decode_token
from reconciler.fake.wire import encode_token

__all__ = ["FakePartnerCenter", "FakeState", "Hold", "RequestRecord"]

API_PREFIX = "/v1"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500  # the real maximum is not documented
REQUEST_LOG_SIZE = 10_000
ANSWERS_KEPT = 10_000  # writes' answers kept to answer a repeated request id again
# Guess: the body of a 401 for a missing token is not documented; the status doubles as the code.
CODE_UNAUTHENTICATED = 401
# How long a held request waits for its release at most: only a safety net, so that a test
# that fails before it releases a hold cannot leave a request (and its client) hanging.
HOLD_TIMEOUT_SECONDS = 120.0

# Answers in compact JSON: smaller, and quicker to write and to read.
_ENCODER = json.JSONEncoder(separators=(",", ":"))

WsgiStartResponse = Callable[[str, list[tuple[str, str]]], Any]
Handler = Callable[["FakePartnerCenter", "_Request", dict[str, str]], "_Response"]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it (never the token: only whether one was sent)."""

    method: str
    path: str
    query: str
    request_id: str | None
    correlation_id: str | None
    authorized: bool
    status: int
    # When it arrived and when it was answered, on the fake's clock (monotonic seconds): a
    # test sees how long a client waited between two attempts without timing the client.
    arrived: float = 0.0
    answered: float = 0.0


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, list[str]]
    query_string: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    root: str = ""  # scheme and host the request was sent to: where absolute links point

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> _Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        query_string = str(environ.get("QUERY_STRING") or "")
        return cls(
            method=str(environ["REQUEST_METHOD"]).upper(),
            path=str(environ.get("PATH_INFO") or "/"),
            query=parse_qs(query_string),
            query_string=query_string,
            headers=headers,
            body=environ["wsgi.input"].read(length) if length else b"",
            root=_root(environ),
        )

    @property
    def graph(self) -> bool:
        """Whether this is a request to Microsoft Graph (under `/v1.0`)."""
        return self.path.startswith(GRAPH_PREFIX + "/")

    @property
    def request_id(self) -> str | None:
        """The id of the logical call: `MS-RequestId`, or Graph's `client-request-id`."""
        header = "client-request-id" if self.graph else "ms-requestid"
        return self.headers.get(header)

    def param(self, name: str) -> str | None:
        for key, values in self.query.items():
            if key.lower() == name.lower() and values:
                return values[0]
        return None

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body.decode("utf-8-sig") or "null")
        except ValueError:
            raise FakeApiError(400, CODE_INVALID_REQUEST, "The request body is not JSON.") from None
        if not isinstance(payload, dict):
            raise FakeApiError(400, CODE_INVALID_REQUEST, "The request body must be a JSON object.")
        return payload

    def optional_json(self) -> dict[str, Any] | None:
        """The body, or None without one: where a missing body is an error of its own."""
        return self.json() if self.body.strip() else None

    def origin(self) -> Origin:
        return Origin(
            self.method,
            self.path,
            self.request_id,
            self.headers.get("ms-correlationid"),
        )


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    changed: bool = False  # did this request change the state?


class Hold:
    """Requests matching `method` and `path` (a regular expression searched in the path) wait
    at the fake's door, before they are authenticated, throttled or acted on, until released.

    The first `skip` matching requests pass; the next `count` (None: all) are held. `arrived`
    is set when a request is caught, `answered` once a held request has been acted on (any
    change it made is in the state, its answer is ready to send). Either event may be one the
    caller owns, so that one wait covers several happenings; `until` (default: `release()`)
    is what held requests wait for. Made by `FakePartnerCenter.hold`; used as a context
    manager, it is released and removed from the fake at the end of the block.
    """

    def __init__(
        self,
        method: str,
        path: str,
        *,
        skip: int = 0,
        count: int | None = 1,
        until: threading.Event | None = None,
        arrived: threading.Event | None = None,
        answered: threading.Event | None = None,
        timeout: float = HOLD_TIMEOUT_SECONDS,
    ) -> None:
        self.method = method.upper()
        self.path = re.compile(path)
        self.skip = skip
        self.count = count
        self.until = until if until is not None else threading.Event()
        self.arrived = arrived if arrived is not None else threading.Event()
        self.answered = answered if answered is not None else threading.Event()
        self.timeout = timeout
        self.request_ids: list[str | None] = []  # of the requests held, in order of arrival
        self._owner: FakePartnerCenter | None = None

    @property
    def caught(self) -> int:
        """How many requests this hold has caught so far."""
        return len(self.request_ids)

    def release(self) -> None:
        """Let the held requests (and any the hold catches from now on) through."""
        self.until.set()

    def close(self) -> None:
        """Release, and catch no more requests."""
        if self._owner is not None:
            self._owner._drop_hold(self)
        self.release()

    def _takes(self, request: _Request) -> bool:
        """Whether this hold catches `request` (called under the fake's lock)."""
        if self.method not in ("*", request.method) or not self.path.search(request.path):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        if self.count is not None and self.caught >= self.count:
            return False
        self.request_ids.append(request.request_id)
        return True

    def _wait(self) -> None:
        self.arrived.set()
        self.until.wait(self.timeout)

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class FakePartnerCenter:
    """The WSGI callable. `on_change(state)` runs, under the lock, after any change to the state."""

    def __init__(
        self,
        state: FakeState,
        *,
        on_change: Callable[[FakeState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.state = state
        self.on_change = on_change
        self.lock = threading.RLock()
        self._clock = clock
        self._sleep = sleep
        self._requests: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)
        # Counted apart from the bounded log, so long runs report every answer.
        self.status_counts: Counter[int] = Counter()
        self._recent: deque[float] = deque()  # arrival times, for the throttle
        self._holds: list[Hold] = []
        self._answers: OrderedDict[str, _Response] = OrderedDict()  # a write's, by its id

    # -- the Python API ------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self.lock:
            return list(self._requests)

    @property
    def mutations(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.state.mutations]

    def set_now(self, when: datetime | str) -> None:
        with self.lock:
            self.state.set_now(when)
            self._changed()

    @contextlib.contextmanager
    def edit(self) -> Iterator[FakeState]:
        """Change the state in place, outside the service's rules (what a person does in the
        portal, or a test): under the lock, and afterwards the fake works out afresh what it
        keeps to answer quickly, and saves the state (`on_change`)."""
        with self.lock:
            try:
                yield self.state
            finally:
                self.state.edited()
                self._changed()

    def add_fault(self, method: str, path: str, **rule: Any) -> None:
        with self.lock:
            self.state.add_fault(method, path, **rule)
            self._changed()

    def hold(self, method: str, path: str, **options: Any) -> Hold:
        """Hold matching requests until released (see `Hold`); holds are tried in the order
        they were added, and a request is caught by one hold at most."""
        hold = Hold(method, path, **options)
        hold._owner = self
        with self.lock:
            self._holds.append(hold)
        return hold

    def _drop_hold(self, hold: Hold) -> None:
        with self.lock:
            if hold in self._holds:
                self._holds.remove(hold)

    def release_holds(self) -> None:
        """Release every hold and forget them (a stopping server leaves nobody waiting)."""
        with self.lock:
            holds, self._holds = self._holds, []
        for hold in holds:
            hold.release()

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: WsgiStartResponse
    ) -> Iterable[bytes]:
        request = _Request.from_environ(environ)
        response = self.handle(request)
        # Under the lock: a body may hold the state's own dicts, which a request on another
        # thread could be changing meanwhile.
        with self.lock:
            payload = b"" if response.body is None else _ENCODER.encode(response.body).encode()
        headers = [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(payload))),
            *response.headers.items(),
        ]
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}", headers)
        return [payload]

    def handle(self, request: _Request) -> _Response:
        arrived = self._clock()
        with self.lock:
            hold = next((h for h in self._holds if h._takes(request)), None)
        if hold is not None:
            hold._wait()  # outside the lock: everything else goes on meanwhile
        response = self._replayed(request)
        if response is None:
            try:
                response = self._handle(request)
            except (FakeApiError, GraphApiError) as exc:
                response = _Response(exc.status, exc.body())
            self._remember(request, response)
        if request.graph:
            _graph_ids(request, response, self.state.data["now"])
        for name in ("MS-RequestId", "MS-CorrelationId"):
            if name.lower() in request.headers:
                response.headers[name] = request.headers[name.lower()]
        with self.lock:
            self.status_counts[response.status] += 1
            self._requests.append(
                RequestRecord(
                    request.method,
                    request.path,
                    request.query_string,
                    request.request_id,
                    request.headers.get("ms-correlationid"),
                    request.headers.get("authorization", "").startswith("Bearer "),
                    response.status,
                    arrived,
                    self._clock(),
                )
            )
            if response.changed:
                self._changed()
        if hold is not None:
            hold.answered.set()
        return response

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state)

    # A write's request id is its idempotency key (docs/partner-center.md): the service
    # answers a write it has answered before, under the same id, with that same answer,
    # and does nothing again. So a retry after a lost answer is safe, and a retry after an
    # answer must come under a new id.

    def _replayed(self, request: _Request) -> _Response | None:
        if request.method == "GET" or not request.request_id:
            return None
        with self.lock:
            answered = self._answers.get(request.request_id)
        if answered is None:
            return None
        return _Response(answered.status, copy.deepcopy(answered.body), dict(answered.headers))

    def _remember(self, request: _Request, response: _Response) -> None:
        if request.method == "GET" or not request.request_id:
            return
        with self.lock:
            self._answers[request.request_id] = _Response(
                response.status, copy.deepcopy(response.body), dict(response.headers)
            )
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)

    def _handle(self, request: _Request) -> _Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            if request.graph:
                raise GraphApiError(401, fake_graph.CODE_UNAUTHENTICATED, "Access token is empty.")
            raise FakeApiError(
                401, CODE_UNAUTHENTICATED, "Authorization header with a bearer token is required."
            )
        throttled = self._throttle(request.graph)
        if throttled is not None:
            return throttled
        with self.lock:
            rule = self.state.faults.take(request.method, request.path)
        if rule is not None and rule["latency"]:
            self._sleep(float(rule["latency"]))
        failing = rule if rule is not None and rule["status"] not in (None, 202) else None
        if failing is not None and not failing.get("applied"):
            return _fault_response(failing, request.graph)  # changed: the rule has one use less
        handler, params = _route(request)
        with self.lock:
            lifecycle_changed = self.state.apply_lifecycle()
            graph_version = self.state.gdap.version
            response = handler(self, request, params)
            graph_changed = self.state.gdap.version != graph_version
            response.changed |= lifecycle_changed or graph_changed or rule is not None
            if rule is not None and rule["status"] == 202 and response.status == 200:
                response = self._accept_later(response, rule)
        if failing is not None:  # carried out, then answered with the error
            response = replace(_fault_response(failing, request.graph), changed=True)
        return response

    def _throttle(self, to_graph: bool = False) -> _Response | None:
        """Sliding-window throttle, on real time: the service limits requests per minute.
        One window for Partner Center and Graph alike: a fake's throttle is a test's knob."""
        with self.lock:
            config = self.state.data.get("throttle")
            if not config:
                return None
            now, window = self._clock(), float(config["window_seconds"])
            while self._recent and self._recent[0] <= now - window:
                self._recent.popleft()
            if len(self._recent) < int(config["limit"]):
                self._recent.append(now)
                return None
            wait = max(1, math.ceil(self._recent[0] + window - now))
        return _graph_throttle_response(wait) if to_graph else _throttle_response(wait)

    def _accept_later(self, done: _Response, rule: dict[str, Any]) -> _Response:
        """Answer 202 for a change already made; the Location reports it done after `polls` polls.

        The real service points Location at the resource itself; the fake
        uses its own `/operations/{id}` so that polling can be observed.
        """
        operation_id = self.state.operations.start(done.body, int(rule["polls"]))
        headers = {"Location": f"/operations/{operation_id}"}
        if rule["retry_after"] is not None:
            headers["Retry-After"] = _seconds(rule["retry_after"])
        return _Response(202, None, headers, changed=True)

    # -- handlers ------------------------------------------------------------------------

    def _list_customers(self, request: _Request, params: dict[str, str]) -> _Response:
        size = _page_size(request.param("size"))
        after = None
        if (request.param("seekOperation") or "").lower() == "next":
            cursor = decode_token(request.headers.get("ms-continuationtoken", ""))
            after, size = cursor.get("after"), _page_size(str(cursor.get("size", size)))
        everyone = self.state.data["customers"]
        start = 0
        if after is not None:
            position = self.state.position(str(after))
            if position is None:
                raise FakeApiError(400, CODE_INVALID_REQUEST, "Invalid continuation token.")
            start = position + 1
        # Position in the full list, so a removal mid-listing skips nobody.
        listed = (c for c in itertools.islice(everyone, start, None) if in_partner_list(c))
        remaining = list(itertools.islice(listed, size + 1))
        page = [_listed(c) for c in remaining[:size]]
        links: dict[str, Any] = {"self": _link(f"/v1/customers?size={size}")}
        if len(remaining) > size:
            continuation = encode_token({"after": page[-1]["id"], "size": size})
            links["next"] = _link("/v1/customers?seekOperation=Next", continuation)
        return _Response(200, _collection(page, links))

    def _relationship_request(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.relationship_request())

    def _get_customer(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.customer(params["cid"]))

    def _patch_customer(self, request: _Request, params: dict[str, str]) -> _Response:
        body = self.state.patch_customer(params["cid"], request.json(), request.origin())
        return _Response(200, body, changed=True)

    def _list_subscriptions(self, request: _Request, params: dict[str, str]) -> _Response:
        items = self.state.subscriptions(params["cid"])
        return _listing(request, items)

    def _get_subscription(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.subscription(params["cid"], params["sid"]))

    def _patch_subscription(self, request: _Request, params: dict[str, str]) -> _Response:
        body = self.state.patch_subscription(
            params["cid"], params["sid"], request.json(), request.origin()
        )
        return _Response(200, body, changed=True)

    def _list_entitlements(self, request: _Request, params: dict[str, str]) -> _Response:
        items = self.state.entitlements(
            params["cid"],
            request.param("entitlementType"),
            show_expiry=(request.param("showExpiry") or "").lower() == "true",
        )
        return _listing(request, items)

    def _get_order(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.order(params["cid"], params["oid"]))

    def _patch_order(self, request: _Request, params: dict[str, str]) -> _Response:
        body = self.state.patch_order(
            params["cid"], params["oid"], request.json(), request.origin()
        )
        return _Response(200, body, changed=True)

    # A read of Azure entitlements counts towards settling a pending cancellation, so it
    # may change the state.
    def _list_azure_entitlements(self, request: _Request, params: dict[str, str]) -> _Response:
        items = self.state.azure_entitlements(params["cid"], params["sid"])
        # The documented answer carries no links.
        body = {
            "totalCount": len(items),
            "items": items,
            "attributes": {"objectType": "Collection"},
        }
        return _Response(200, body, changed=True)

    def _get_azure_entitlement(self, request: _Request, params: dict[str, str]) -> _Response:
        item = self.state.azure_entitlement(params["cid"], params["sid"], params["eid"])
        return _Response(200, item, changed=True)

    def _cancel_azure_entitlement(self, request: _Request, params: dict[str, str]) -> _Response:
        # 200 + the entitlement, as the dev doc says (the REST reference says 202).
        item = self.state.cancel_azure_entitlement(
            params["cid"], params["sid"], params["eid"], request.optional_json(), request.origin()
        )
        return _Response(200, item, changed=True)

    def _reactivate_azure_entitlement(self, request: _Request, params: dict[str, str]) -> _Response:
        self.state.reactivate_azure_entitlement(
            params["cid"], params["sid"], params["eid"], request.origin()
        )
        return _Response(202, None, changed=True)  # 202 without a Location: nothing to poll

    def _poll_operation(self, request: _Request, params: dict[str, str]) -> _Response:
        result = self.state.operations.poll(params["opid"])
        if result is None:
            headers = {"Location": request.path.removeprefix(API_PREFIX), "Retry-After": "0"}
            return _Response(202, None, headers, changed=True)
        return _Response(200, result, changed=True)

    # -- Microsoft Graph: GDAP relationships ---------------------------------------------
    # Reads count towards settling a termination, so they may change the state.

    def _list_gdap_relationships(self, request: _Request, params: dict[str, str]) -> _Response:
        items, skiptoken = self.state.gdap.listing(
            request.param("$filter"), request.param("$top"), request.param("$skiptoken")
        )
        body: dict[str, Any] = {
            "@odata.context": f"{request.root}{GRAPH_PREFIX}/tenantRelationships/"
            "$metadata#delegatedAdminRelationships",
            "value": items,
        }
        if skiptoken is not None:
            body["@odata.nextLink"] = _next_link(request, skiptoken)
        return _Response(200, body)

    def _get_gdap_relationship(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.gdap.relationship(params["rid"]))

    def _delete_gdap_relationship(self, request: _Request, params: dict[str, str]) -> _Response:
        self.state.gdap.delete(params["rid"], request.headers.get("if-match"), request.origin())
        return _Response(204, None)

    def _request_on_gdap_relationship(self, request: _Request, params: dict[str, str]) -> _Response:
        body = _graph_json(request)
        made = self.state.gdap.terminate(params["rid"], body, request.origin())
        location = f"{request.root}{request.path.rstrip('/')}/{made['id']}"
        return _Response(201, made, {"Location": location})

    def _get_gdap_request(self, request: _Request, params: dict[str, str]) -> _Response:
        return _Response(200, self.state.gdap.request(params["rid"], params["qid"]))

    # -- Microsoft Graph: a customer's own tenant, the token's -------------------------------

    def _tenant(self, request: _Request) -> tuple[str, dict[str, Any]]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return self.state.tenants.entered(tenant_of(token))

    def _list_users(self, request: _Request, params: dict[str, str]) -> _Response:
        _, record = self._tenant(request)
        items, skip = self.state.tenants.users(
            record, request.param("$filter"), request.param("$top"), request.param("$skiptoken")
        )
        body: dict[str, Any] = {"@odata.context": f"{request.root}{GRAPH_PREFIX}/$metadata#users"}
        body["value"] = items
        if skip is not None:
            body["@odata.nextLink"] = _next_link(request, skip)
        return _Response(200, body)

    def _get_user(self, request: _Request, params: dict[str, str]) -> _Response:
        _, record = self._tenant(request)
        return _Response(200, self.state.tenants.one(record, "users", params["uid"]))

    def _get_service_principal(self, request: _Request, params: dict[str, str]) -> _Response:
        _, record = self._tenant(request)
        return _Response(200, self.state.tenants.one(record, "servicePrincipals", params["spid"]))

    def _delete_user(self, request: _Request, params: dict[str, str]) -> _Response:
        tenant, record = self._tenant(request)
        self.state.tenants.delete(tenant, record, "users", params["uid"], request.origin())
        return _Response(204, None, changed=True)

    def _get_organization(self, request: _Request, params: dict[str, str]) -> _Response:
        _, record = self._tenant(request)
        return _Response(200, {"value": [copy.deepcopy(record["organization"])]})

    def _patch_organization(self, request: _Request, params: dict[str, str]) -> _Response:
        tenant, record = self._tenant(request)
        body = _graph_json(request)
        self.state.tenants.update_organization(
            tenant, record, params["oid"], body, request.origin()
        )
        return _Response(204, None, changed=True)

    def _list_service_principals(self, request: _Request, params: dict[str, str]) -> _Response:
        _, record = self._tenant(request)
        items = self.state.tenants.service_principals(
            record,
            request.param("$filter"),
            request.param("$count"),
            request.headers.get("consistencylevel"),
        )
        body: dict[str, Any] = {"value": items}
        if (request.param("$count") or "").lower() == "true":  # Graph counts when asked
            body = {"@odata.count": len(items)} | body
        return _Response(200, body)

    def _delete_service_principal(self, request: _Request, params: dict[str, str]) -> _Response:
        tenant, record = self._tenant(request)
        self.state.tenants.delete(
            tenant, record, "servicePrincipals", params["spid"], request.origin()
        )
        return _Response(204, None, changed=True)


_CUSTOMER = r"/customers/(?P<cid>[^/]+)"
_AZURE_ENTITLEMENTS = _CUSTOMER + r"/subscriptions/(?P<sid>[^/]+)/azureEntitlements"
_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/customers"), {"GET": FakePartnerCenter._list_customers}),
    # Before the customer route, which would take "relationshiprequests" for an id.
    (
        re.compile(r"/customers/relationshiprequests"),
        {"GET": FakePartnerCenter._relationship_request},
    ),
    (
        re.compile(_CUSTOMER),
        {"GET": FakePartnerCenter._get_customer, "PATCH": FakePartnerCenter._patch_customer},
    ),
    (re.compile(_CUSTOMER + r"/subscriptions"), {"GET": FakePartnerCenter._list_subscriptions}),
    (
        re.compile(_CUSTOMER + r"/subscriptions/(?P<sid>[^/]+)"),
        {
            "GET": FakePartnerCenter._get_subscription,
            "PATCH": FakePartnerCenter._patch_subscription,
        },
    ),
    (re.compile(_AZURE_ENTITLEMENTS), {"GET": FakePartnerCenter._list_azure_entitlements}),
    (
        re.compile(_AZURE_ENTITLEMENTS + r"/(?P<eid>[^/]+)"),
        {"GET": FakePartnerCenter._get_azure_entitlement},
    ),
    (
        re.compile(_AZURE_ENTITLEMENTS + r"/(?P<eid>[^/]+)/cancel"),
        {"POST": FakePartnerCenter._cancel_azure_entitlement},
    ),
    (
        re.compile(_AZURE_ENTITLEMENTS + r"/(?P<eid>[^/]+)/reactivate"),
        {"POST": FakePartnerCenter._reactivate_azure_entitlement},
    ),
    (re.compile(_CUSTOMER + r"/entitlements"), {"GET": FakePartnerCenter._list_entitlements}),
    (
        re.compile(_CUSTOMER + r"/orders/(?P<oid>[^/]+)"),
        {"GET": FakePartnerCenter._get_order, "PATCH": FakePartnerCenter._patch_order},
    ),
    (re.compile(r"/operations/(?P<opid>[^/]+)"), {"GET": FakePartnerCenter._poll_operation}),
]
_RELATIONSHIP = RELATIONSHIPS_PATH + r"/(?P<rid>[^/]+)"
_GRAPH_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(RELATIONSHIPS_PATH), {"GET": FakePartnerCenter._list_gdap_relationships}),
    (
        re.compile(_RELATIONSHIP),
        {
            "GET": FakePartnerCenter._get_gdap_relationship,
            "DELETE": FakePartnerCenter._delete_gdap_relationship,
        },
    ),
    (
        re.compile(_RELATIONSHIP + r"/requests"),
        {"POST": FakePartnerCenter._request_on_gdap_relationship},
    ),
    (
        re.compile(_RELATIONSHIP + r"/requests/(?P<qid>[^/]+)"),
        {"GET": FakePartnerCenter._get_gdap_request},
    ),
    (re.compile(r"/users"), {"GET": FakePartnerCenter._list_users}),
    (
        re.compile(r"/users/(?P<uid>[^/]+)"),
        {"GET": FakePartnerCenter._get_user, "DELETE": FakePartnerCenter._delete_user},
    ),
    (re.compile(r"/organization"), {"GET": FakePartnerCenter._get_organization}),
    (
        re.compile(r"/organization/(?P<oid>[^/]+)"),
        {"PATCH": FakePartnerCenter._patch_organization},
    ),
    (re.compile(r"/servicePrincipals"), {"GET": FakePartnerCenter._list_service_principals}),
    (
        re.compile(r"/servicePrincipals/(?P<spid>[^/]+)"),
        {
            "GET": FakePartnerCenter._get_service_principal,
            "DELETE": FakePartnerCenter._delete_service_principal,
        },
    ),
]
# Each API's path prefix, its routes, and how it says "no such thing" and "not allowed".
_APIS = (
    (
        API_PREFIX,
        _ROUTES,
        lambda text: FakeApiError(404, CODE_NOT_FOUND, text),
        lambda text: FakeApiError(405, CODE_INVALID_REQUEST, text),
    ),
    (
        GRAPH_PREFIX,
        _GRAPH_ROUTES,
        lambda text: GraphApiError(404, fake_graph.CODE_NOT_FOUND, text),
        lambda text: GraphApiError(405, fake_graph.CODE_NOT_ALLOWED, text),
    ),
)


def serves(method: str, path: str) -> bool:
    """Whether the fake has a handler for `method path` (ids filled in), Graph's included."""
    path = path.rstrip("/")
    return any(
        path.startswith(prefix + "/")
        and any(
            pattern.fullmatch(path.removeprefix(prefix)) and method in methods
            for pattern, methods in routes
        )
        for prefix, routes, _, _ in _APIS
    )


def _route(request: _Request) -> tuple[Handler, dict[str, str]]:
    path = request.path.rstrip("/")
    for prefix, routes, not_found, not_allowed in _APIS:
        if not path.startswith(prefix + "/"):
            continue
        for pattern, methods in routes:
            match = pattern.fullmatch(path.removeprefix(prefix))
            if match is None:
                continue
            if request.method not in methods:
                raise not_allowed(f"{request.method} is not allowed here.")
            return methods[request.method], match.groupdict()
        raise not_found(f"No resource at {request.path}.")
    raise FakeApiError(404, CODE_NOT_FOUND, f"No resource at {request.path}.")


def _page_size(raw: str | None) -> int:
    if (size := count_within(raw, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)) is None:
        raise FakeApiError(400, CODE_INVALID_REQUEST, f"size must be 1 to {MAX_PAGE_SIZE}.")
    return size


def _listed(customer: dict[str, Any]) -> dict[str, Any]:
    """A customer as the list shows it: `allowDelegatedAccess` only comes with a GET by id."""
    return {key: value for key, value in customer.items() if key != "allowDelegatedAccess"}


def _link(uri: str, continuation: str | None = None) -> dict[str, Any]:
    headers = (
        [] if continuation is None else [{"key": "MS-ContinuationToken", "value": continuation}]
    )
    return {"uri": uri, "method": "GET", "headers": headers}


def _listing(request: _Request, items: list[dict[str, Any]]) -> _Response:
    """A whole collection in one page, linked to itself."""
    return _Response(200, _collection(items, {"self": _link(request.path)}))


def _collection(items: list[dict[str, Any]], links: dict[str, Any]) -> dict[str, Any]:
    # totalCount = items in this page, as the SDK reads it.
    return {
        "totalCount": len(items),
        "items": items,
        "links": links,
        "attributes": {"objectType": "Collection"},
    }


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _throttle_response(wait: float) -> _Response:
    body = {
        "statusCode": 429,
        "message": f"Rate limit is exceeded. Try again in {_seconds(wait)} seconds.",
    }
    return _Response(429, body, {"Retry-After": _seconds(wait)})


def _fault_response(rule: dict[str, Any], to_graph: bool = False) -> _Response:
    status = int(rule["status"])
    if to_graph:
        return _graph_fault_response(rule, status)
    if status == 429:
        response = _throttle_response(rule["retry_after"] if rule["retry_after"] is not None else 1)
        response.changed = True
        return response
    default_code = CODE_PENDING_OPERATION if status == 409 else status
    description = rule["description"] or f"Injected fault: {HTTPStatus(status).phrase}."
    code = rule["code"] if rule["code"] is not None else default_code
    response = _Response(status, FakeApiError(status, code, description).body(), changed=True)
    if rule["retry_after"] is not None:
        response.headers["Retry-After"] = _seconds(rule["retry_after"])
    return response


# -- Microsoft Graph's wire ----------------------------------------------------------------


def _root(environ: dict[str, Any]) -> str:
    """Where the request was sent: scheme and host (with its port), as the client named it."""
    scheme = str(environ.get("wsgi.url_scheme") or "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return f"{scheme}://{host}"


def _next_link(request: _Request, skiptoken: str) -> str:
    """The absolute link to the next page: this request's query, `$skiptoken` replaced."""
    kept = [
        part
        for part in request.query_string.split("&")
        if part and unquote(part.split("=", 1)[0]).lower() != "$skiptoken"
    ]
    query = "&".join([*kept, f"$skiptoken={skiptoken}"])
    return f"{request.root}{request.path}?{query}"


def _graph_json(request: _Request) -> dict[str, Any] | None:
    try:
        return request.optional_json()
    except FakeApiError as exc:
        raise GraphApiError(400, fake_graph.CODE_INVALID_REQUEST, exc.description) from None


def _graph_ids(request: _Request, response: _Response, now: str) -> None:
    """Graph's ids on an answer: the caller's `client-request-id` echoed, a `request-id` of
    its own, both (and the date) in an error's `innerError`, as Graph writes them."""
    server_id = str(uuid.uuid4())
    response.headers["request-id"] = server_id
    client_id = request.headers.get("client-request-id")
    if client_id is not None:
        response.headers["client-request-id"] = client_id
    error = response.body.get("error") if isinstance(response.body, dict) else None
    if isinstance(error, dict):
        inner = error.setdefault("innerError", {})
        inner.update({"date": now, "request-id": server_id})
        if client_id is not None:
            inner["client-request-id"] = client_id


def _graph_throttle_response(wait: float) -> _Response:
    error = GraphApiError(429, fake_graph.CODE_THROTTLED, "Please retry again later.")
    body = error.body()
    body["error"]["innerError"].update({"code": "429", "status": "429"})
    return _Response(429, body, {"Retry-After": _seconds(wait)})


def _graph_fault_response(rule: dict[str, Any], status: int) -> _Response:
    if status == 429 and rule["code"] is None and rule["description"] is None:
        response = _graph_throttle_response(
            rule["retry_after"] if rule["retry_after"] is not None else 1
        )
    else:
        message = rule["description"] or f"Injected fault: {HTTPStatus(status).phrase}."
        error = GraphApiError(status, _graph_fault_code(rule, status), message)
        response = _Response(status, error.body())
        if rule["retry_after"] is not None:
            response.headers["Retry-After"] = _seconds(rule["retry_after"])
    response.changed = True
    return response


def _graph_fault_code(rule: dict[str, Any], status: int) -> str:
    if rule["code"] is not None:
        return str(rule["code"])
    fallback = "generalException" if status >= 500 else fake_graph.CODE_INVALID_REQUEST
    return _GRAPH_FAULT_CODES.get(status, fallback)


# Graph's generic codes for the statuses a test injects most (docs/partner-center.md,
# "Errors, throttling, sign-in").
_GRAPH_FAULT_CODES = {
    401: fake_graph.CODE_UNAUTHENTICATED,
    403: "accessDenied",
    404: fake_graph.CODE_NOT_FOUND,
    409: "conflict",
    412: fake_graph.CODE_PRECONDITION_FAILED,
    429: fake_graph.CODE_THROTTLED,
    503: "serviceNotAvailable",
}
