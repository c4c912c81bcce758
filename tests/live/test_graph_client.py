"""The Microsoft Graph client for GDAP, against the fake's Graph (in process and over loopback)
and against hand-made answers: paging by `@odata.nextLink`, retries, Graph's errors, the
rules of terminating and deleting, and the token kept out of every message."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.graph import TERMINATED_AFTER
from reconciler.fake.graph import TERMINATING_AFTER
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import InvalidIdentifier
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import NotFound
from reconciler.live.errors import PagingError
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import PreconditionFailed
from reconciler.live.errors import Unauthorized
from reconciler.live.graph import GraphClient
from reconciler.live.models import GdapRequestStatus
from reconciler.live.models import GdapStatus
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import SleepRecorder
from tests.live.pc_support import example_state
from tests.live.pc_support import with_limits

RELATIONSHIPS = "/v1.0/tenantRelationships/delegatedAdminRelationships"
# Only a safety net for waits that end on events.
SAFETY_SECONDS = 60


@dataclass
class GraphLive:
    """A Graph client wired to the fake, and the fake's app."""

    client: GraphClient
    app: FakePartnerCenter
    sleep: SleepRecorder

    @property
    def state(self) -> FakeState:
        return self.app.state

    def relationship(self, name: str) -> dict[str, Any]:
        with self.app.lock:
            return next(r for r in self.state.data["gdapRelationships"] if r["displayName"] == name)

    def advance(self, by: timedelta) -> None:
        self.app.set_now(self.state.now + by)


def gdap_state() -> FakeState:
    """The example estate, with GDAP relationships: five active with Contoso, and Fabrikam's
    draft, one waiting for approval and one terminated."""
    state = example_state()
    for number in range(1, 6):
        state.add_gdap_relationship(CONTOSO, display_name=f"Contoso admins {number}")
    state.add_gdap_relationship(FABRIKAM, status="created", display_name="Fabrikam draft")
    state.add_gdap_relationship(FABRIKAM, status="approvalPending", display_name="Fabrikam ask")
    state.add_gdap_relationship(FABRIKAM, status="terminated", display_name="Fabrikam old")
    return state


def graph_client(transport: httpx.BaseTransport | None, url: str, **kwargs: Any) -> GraphClient:
    return GraphClient(
        url,
        StaticToken(FAKE_TOKEN),
        transport=transport,
        **with_limits(kwargs, rate_per_minute=100_000),
    )


@pytest.fixture(params=["in-process", "loopback"])
def graph(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphLive]:
    """The fake's Graph behind a client: in process (WSGITransport), then over real sockets."""
    sleep = SleepRecorder()
    state = gdap_state()
    if request.param == "in-process":
        app = FakePartnerCenter(state)
        transport = httpx.WSGITransport(app=app)
        with graph_client(transport, "https://graph.test", sleep=sleep) as client:
            yield GraphLive(client, app, sleep)
        return
    path = tmp_path / "fake-state.json"
    state.save(path)
    with FakeServer(path) as server, graph_client(None, server.url, sleep=sleep) as client:
        yield GraphLive(client, server.app, sleep)


def answering(handle: Callable[[httpx.Request], httpx.Response]) -> GraphClient:
    return graph_client(httpx.MockTransport(handle), "https://graph.test", sleep=SleepRecorder())


def page(*items: dict[str, Any], next_link: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": list(items)}
    if next_link is not None:
        body["@odata.nextLink"] = next_link
    return body


def relationship_wire(number: int, tenant: str = CONTOSO, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"5d027261-d21f-4aa9-b7db-7fa1f56fb16{number}-8777b240-c6f0-4469-9e98-a3205431b836",
        "displayName": f"relationship {number}",
        "customer": {"tenantId": tenant},
        "status": "active",
        "@odata.etag": f'W/"etag-{number}"',
        **fields,
    }


# -- listing and paging ---------------------------------------------------------------------


def test_a_customer_listing_follows_every_page(graph: GraphLive) -> None:
    graph.state.gdap.set_page_size(2)
    listed = graph.client.list_relationships(CONTOSO)
    assert sorted(r.name for r in listed) == [f"Contoso admins {n}" for n in range(1, 6)]
    assert {r.customer_id for r in listed} == {CONTOSO}
    assert all(r.status is GdapStatus.ACTIVE and r.etag.startswith('W/"') for r in listed)
    gets = [r for r in graph.app.requests if r.path == RELATIONSHIPS]
    assert len(gets) == 3  # 2 + 2 + 1
    assert "$filter=customer/tenantId%20eq%20'" in gets[0].query
    assert all("$skiptoken=" in r.query and "$filter=" in r.query for r in gets[1:])


def test_a_listing_may_end_on_a_page_of_no_items(graph: GraphLive) -> None:
    graph.state.gdap.set_page_size(5)  # Contoso's five fill the page: a sixth comes back empty
    assert len(graph.client.list_relationships(CONTOSO)) == 5
    assert len([r for r in graph.app.requests if r.path == RELATIONSHIPS]) == 2


def test_the_whole_list_holds_every_customer(graph: GraphLive) -> None:
    graph.state.gdap.set_page_size(3)
    listed = list(graph.client.iter_all_relationships())
    assert len(listed) == 8 and {r.customer_id for r in listed} == {CONTOSO, FABRIKAM}
    first = next(r for r in graph.app.requests if r.path == RELATIONSHIPS)
    assert first.query == "$top=300"


def test_next_links_are_followed_verbatim() -> None:
    odd = (
        f"https://graph.test{RELATIONSHIPS}?$filter=customer%2ftenantId+eq+'{CONTOSO}'"
        "&$skiptoken=RFNwdCFZ%3d%3d&other=%27x%27"
    )
    asked: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if len(asked) == 1:
            return httpx.Response(200, json=page(relationship_wire(1), next_link=odd))
        return httpx.Response(200, json=page(relationship_wire(2)))

    with answering(handle) as client:
        assert len(client.list_relationships(CONTOSO)) == 2
    assert asked[1] == odd


@pytest.mark.parametrize(
    "link",
    [
        f"https://elsewhere.test{RELATIONSHIPS}?$skiptoken=x",
        f"http://graph.test{RELATIONSHIPS}?$skiptoken=x",
        f"https://graph.test:8443{RELATIONSHIPS}?$skiptoken=x",
    ],
)
def test_a_next_link_off_the_graph_root_is_refused(link: str) -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=page(relationship_wire(1), next_link=link))

    with answering(handle) as client, pytest.raises(PartnerCenterError, match="another host"):
        client.list_relationships(CONTOSO)
    assert len(seen) == 1  # the token went nowhere else


def test_a_next_link_seen_before_ends_the_listing_in_an_error() -> None:
    again = f"https://graph.test{RELATIONSHIPS}?$skiptoken=same"

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page(next_link=again))

    with answering(handle) as client, pytest.raises(PagingError, match="seen before"):
        list(client.iter_all_relationships())
    assert client.request_count == 2


def test_a_listing_stops_at_max_pages() -> None:
    count = iter(range(1_000))

    def handle(request: httpx.Request) -> httpx.Response:
        link = f"https://graph.test{RELATIONSHIPS}?$skiptoken={next(count)}"
        return httpx.Response(200, json=page(next_link=link))

    transport = httpx.MockTransport(handle)
    with (
        graph_client(transport, "https://graph.test", max_pages=3) as client,
        pytest.raises(PagingError, match="past 3 pages"),
    ):
        list(client.iter_all_relationships())
    assert client.request_count == 3


def test_a_relative_next_link_is_not_followed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page(next_link=f"{RELATIONSHIPS}?$skiptoken=1"))

    with answering(handle) as client, pytest.raises(MalformedAnswer, match=r"@odata\.nextLink"):
        client.list_relationships(CONTOSO)


def test_a_customer_listing_with_another_tenant_in_it_is_refused() -> None:
    """Graph ignoring the filter must not hand one customer's relationships to another."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page(relationship_wire(1, tenant=FABRIKAM)))

    with answering(handle) as client, pytest.raises(MalformedAnswer) as caught:
        client.list_relationships(CONTOSO)
    assert "value[0].customer.tenantId is another customer's" in str(caught.value)
    assert str(caught.value).startswith("Microsoft Graph answered something")


def test_a_page_without_value_is_not_an_empty_page() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": {"code": "x", "message": "y"}})

    with answering(handle) as client, pytest.raises(MalformedAnswer, match="value is missing"):
        client.list_relationships(CONTOSO)


def test_an_unknown_status_is_parsed_as_unknown(graph: GraphLive) -> None:
    with graph.app.edit():
        graph.relationship("Contoso admins 1")["status"] = "someNewStatus"
    (found,) = [r for r in graph.client.list_relationships(CONTOSO) if r.status_text != "active"]
    assert found.status is GdapStatus.UNKNOWN
    assert found.status_text == "someNewStatus"
    assert found.unknowns == ("status 'someNewStatus'",)


def test_ids_are_checked_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=page())

    with answering(handle) as client:
        for call in (
            lambda: client.list_relationships("contoso' or 1 eq 1"),
            lambda: client.get_relationship("../../users"),
            lambda: client.get_relationship(CONTOSO),  # a GUID, not a relationship id
            lambda: client.terminate_relationship("x/requests"),
            lambda: client.get_request(relationship_wire(1)["id"], "../x"),
            lambda: client.delete_relationship(relationship_wire(1)["id"], ""),
            lambda: client.delete_relationship(relationship_wire(1)["id"], 'W/"a"\r\nX: y'),
        ):
            with pytest.raises(InvalidIdentifier):
                call()
    assert sent == []


def test_every_call_sends_graphs_headers() -> None:
    seen: list[httpx.Headers] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json=page())

    with answering(handle) as client:
        client.list_relationships(CONTOSO)
    (headers,) = seen
    assert headers["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert headers["Accept"] == "application/json"
    assert len(headers["client-request-id"]) == 36
    assert "MS-RequestId" not in headers and "MS-CorrelationId" not in headers


# -- retries ----------------------------------------------------------------------------------


def test_429_waits_exactly_a_fractional_retry_after(graph: GraphLive) -> None:
    graph.app.add_fault("GET", f"{RELATIONSHIPS}$", status=429, retry_after=2.128)
    assert len(graph.client.list_relationships(CONTOSO)) == 5
    assert graph.sleep.calls == [2.128]
    assert (graph.client.request_count, graph.client.throttled_count) == (2, 1)
    first, retry = [r for r in graph.app.requests if r.path == RELATIONSHIPS]
    assert (first.status, retry.status) == (429, 200)
    assert first.request_id != retry.request_id  # an answer came: a new request


def test_a_5xx_write_is_sent_again_under_a_new_id_once_a_read_says_it_did_not_land(
    graph: GraphLive,
) -> None:
    target = graph.relationship("Contoso admins 2")["id"]
    graph.app.add_fault("POST", "/requests$", status=503, count=2)

    def landed() -> bool:
        return graph.client.get_relationship(target).status is not GdapStatus.ACTIVE

    made = graph.client.terminate_relationship(target, request_id="call-7", landed=landed)
    assert made is not None
    assert made.action == "terminate" and made.status is GdapRequestStatus.CREATED
    posts = [r for r in graph.app.requests if r.method == "POST"]
    assert [r.status for r in posts] == [503, 503, 201]
    assert posts[0].request_id == "call-7" and len({r.request_id for r in posts}) == 3
    assert len(graph.sleep.calls) == 2
    (mutation,) = graph.app.mutations  # only the accepted attempt changed anything
    assert mutation["request_id"] == posts[-1].request_id


def test_409_is_a_plain_refusal_on_graph(graph: GraphLive) -> None:
    target = graph.relationship("Contoso admins 1")["id"]
    graph.app.add_fault("GET", target, status=409, code="conflict", description="busy")
    with pytest.raises(PartnerCenterError) as caught:
        graph.client.get_relationship(target)
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert graph.client.request_count == 1 and graph.sleep.calls == []


def test_attempts_are_bounded(graph: GraphLive) -> None:
    graph.app.add_fault("GET", f"{RELATIONSHIPS}$", status=500, count=None)
    with pytest.raises(PartnerCenterError, match="gave up after 6 attempts") as caught:
        graph.client.list_relationships(CONTOSO)
    assert str(caught.value).startswith("Microsoft Graph 500")


# -- terminating ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Fabrikam draft", "Fabrikam ask", "Fabrikam old"])
def test_only_an_active_relationship_is_terminated(graph: GraphLive, name: str) -> None:
    target = graph.relationship(name)["id"]
    with pytest.raises(PartnerCenterError) as caught:
        graph.client.terminate_relationship(target)
    assert (caught.value.status, caught.value.code) == (400, "invalidRequest")
    assert "only an active one" in caught.value.description
    assert graph.app.mutations == []


def test_a_termination_settles_on_the_fakes_clock(graph: GraphLive) -> None:
    graph.state.gdap.set_terminate_reads(1_000)  # only the clock moves it on
    target = graph.relationship("Contoso admins 3")
    before = graph.client.get_relationship(target["id"])
    made = graph.client.terminate_relationship(target["id"])
    assert made.status is GdapRequestStatus.CREATED

    def now() -> tuple[GdapStatus, GdapRequestStatus, str]:
        relationship = graph.client.get_relationship(target["id"])
        request = graph.client.get_request(target["id"], made.id)
        return relationship.status, request.status, relationship.etag

    status, request, requested_etag = now()
    assert (status, request) == (GdapStatus.TERMINATION_REQUESTED, GdapRequestStatus.CREATED)
    assert requested_etag != before.etag  # each change gets a new ETag
    graph.advance(TERMINATING_AFTER)
    status, request, terminating_etag = now()
    assert (status, request) == (GdapStatus.TERMINATING, GdapRequestStatus.PENDING)
    assert terminating_etag != requested_etag
    graph.advance(TERMINATED_AFTER - TERMINATING_AFTER)
    assert now()[:2] == (GdapStatus.TERMINATED, GdapRequestStatus.SUCCEEDED)
    (mutation,) = graph.app.mutations
    assert mutation["action"] == "terminate_gdap_relationship"
    assert (mutation["customer_id"], mutation["target"]) == (CONTOSO, target["id"])
    assert mutation["changes"] == {"status": ["active", "terminationRequested"]}


def test_a_termination_settles_within_reads_while_the_clock_stands(graph: GraphLive) -> None:
    graph.state.gdap.set_terminate_reads(3)
    target = graph.relationship("Contoso admins 4")["id"]
    graph.client.terminate_relationship(target)
    seen = [graph.client.get_relationship(target).status for _ in range(3)]
    waiting = GdapStatus.TERMINATION_REQUESTED
    assert seen == [waiting, waiting, GdapStatus.TERMINATED]
    with pytest.raises(PartnerCenterError, match="only an active one"):
        graph.client.terminate_relationship(target)


def test_by_default_the_next_read_shows_it_terminated(graph: GraphLive) -> None:
    target = graph.relationship("Contoso admins 5")["id"]
    graph.client.terminate_relationship(target)
    (ended,) = [r for r in graph.client.list_relationships(CONTOSO) if r.id == target]
    assert ended.status is GdapStatus.TERMINATED


def test_a_held_terminate_waits_at_the_door(graph: GraphLive) -> None:
    target = graph.relationship("Contoso admins 1")["id"]
    done = threading.Event()
    with graph.app.hold("POST", "/requests$") as hold:
        worker = threading.Thread(
            target=lambda: (
                graph.client.terminate_relationship(target, request_id="held-1"),
                done.set(),
            )
        )
        worker.start()
        assert hold.arrived.wait(SAFETY_SECONDS)
        assert graph.app.mutations == [] and hold.request_ids == ["held-1"]
        hold.release()
        worker.join(SAFETY_SECONDS)
    assert done.is_set() and len(graph.app.mutations) == 1


# -- deleting -------------------------------------------------------------------------------


def test_a_draft_is_deleted_with_its_etag(graph: GraphLive) -> None:
    draft = next(
        r for r in graph.client.list_relationships(FABRIKAM) if r.status is GdapStatus.CREATED
    )
    graph.client.delete_relationship(draft.id, draft.etag, request_id="del-1")
    with pytest.raises(NotFound):
        graph.client.get_relationship(draft.id)
    (mutation,) = graph.app.mutations
    assert mutation["action"] == "delete_gdap_relationship"
    assert (mutation["customer_id"], mutation["target"]) == (FABRIKAM, draft.id)
    assert mutation["request_id"] == "del-1"
    (delete,) = [r for r in graph.app.requests if r.method == "DELETE"]
    assert delete.status == 204


def test_a_stale_etag_is_a_precondition_failure(graph: GraphLive) -> None:
    draft = graph.relationship("Fabrikam draft")
    with pytest.raises(PreconditionFailed) as caught:
        graph.client.delete_relationship(draft["id"], 'W/"JyJzdGFsZSIn"')
    assert caught.value.status == 412
    assert graph.client.get_relationship(draft["id"]).status is GdapStatus.CREATED
    assert graph.app.mutations == []


def test_only_a_draft_is_deleted(graph: GraphLive) -> None:
    active = graph.client.get_relationship(graph.relationship("Contoso admins 1")["id"])
    with pytest.raises(PartnerCenterError) as caught:
        graph.client.delete_relationship(active.id, active.etag)
    assert caught.value.status == 400 and "only a created one" in caught.value.description
    assert graph.app.mutations == []


def test_an_unknown_relationship_is_not_found(graph: GraphLive) -> None:
    missing = relationship_wire(9)["id"]
    with pytest.raises(NotFound) as caught:
        graph.client.get_relationship(missing)
    assert caught.value.code == "itemNotFound"
    assert str(caught.value).startswith("Microsoft Graph 404")


# -- the fake's Graph on the wire -------------------------------------------------------------


def raw_fake() -> tuple[FakePartnerCenter, httpx.Client]:
    app = FakePartnerCenter(gdap_state())
    return app, httpx.Client(transport=httpx.WSGITransport(app=app), base_url="https://g.test")


def test_the_fake_wants_if_match_on_a_delete() -> None:
    app, http = raw_fake()
    draft = next(r for r in app.state.data["gdapRelationships"] if r["status"] == "created")
    with http:
        answer = http.delete(
            f"{RELATIONSHIPS}/{draft['id']}", headers={"Authorization": "Bearer t"}
        )
    assert answer.status_code == 400
    assert "If-Match" in answer.json()["error"]["message"]


def test_the_fake_answers_graph_errors_with_graphs_ids() -> None:
    app, http = raw_fake()
    app.add_fault("GET", RELATIONSHIPS, status=503)
    with http:
        anonymous = http.get(RELATIONSHIPS, headers={"client-request-id": "c-1"})
        faulted = http.get(RELATIONSHIPS, headers={"Authorization": "Bearer t"})
        listed = http.get(f"{RELATIONSHIPS}?$top=2", headers={"Authorization": "Bearer t"})
    error = anonymous.json()["error"]
    assert anonymous.status_code == 401 and error["code"] == "InvalidAuthenticationToken"
    assert anonymous.headers["client-request-id"] == "c-1"
    assert error["innerError"]["request-id"] == anonymous.headers["request-id"]
    assert error["innerError"]["client-request-id"] == "c-1"
    assert faulted.status_code == 503 and faulted.json()["error"]["code"] == "serviceNotAvailable"
    next_link = listed.json()["@odata.nextLink"]
    assert next_link.startswith(f"https://g.test{RELATIONSHIPS}?$top=2&$skiptoken=")
    assert all("@odata.etag" in item for item in listed.json()["value"])


def test_the_fakes_throttle_answers_graph_in_graphs_words() -> None:
    app, http = raw_fake()
    app.state.set_throttle(1)
    with http:
        http.get(RELATIONSHIPS, headers={"Authorization": "Bearer t"})
        throttled = http.get(RELATIONSHIPS, headers={"Authorization": "Bearer t"})
    assert throttled.status_code == 429 and float(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "TooManyRequests"


def test_old_state_files_load_without_graph_and_save_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    original = example_state().to_json()
    path.write_text(original)
    loaded = FakeState.load(path)
    assert loaded.data["gdapRelationships"] == []
    assert loaded.to_json() == original
    loaded.add_gdap_relationship(CONTOSO, display_name="kept")
    loaded.save(path)
    assert [r["displayName"] for r in FakeState.load(path).data["gdapRelationships"]] == ["kept"]


# -- Graph's errors, and the token ----------------------------------------------------------


def test_a_graph_error_keeps_its_code_and_request_id() -> None:
    body = {
        "error": {
            "code": "Request_BadRequest",
            "message": "Invalid filter.",
            "innerError": {"date": "2026-01-01", "innerError": {"request-id": "graph-rid-1"}},
        }
    }

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=body)

    with answering(handle) as client, pytest.raises(PartnerCenterError) as caught:
        client.list_relationships(CONTOSO)
    error = caught.value
    assert (error.status, error.code, error.request_id) == (
        400,
        "Request_BadRequest",
        "graph-rid-1",
    )
    assert str(error) == (
        "Microsoft Graph 400 (code Request_BadRequest): Invalid filter. [request graph-rid-1]"
    )


def test_without_an_inner_request_id_the_header_names_the_request() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "x"}}, headers={"request-id": "h-1"})

    with answering(handle) as client, pytest.raises(NotFound) as caught:
        client.get_relationship(relationship_wire(1)["id"])
    assert caught.value.request_id == "h-1" and caught.value.description == "Not Found"


def test_401_says_a_graph_token_is_needed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        error = {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}
        return httpx.Response(401, json={"error": error})

    with answering(handle) as client, pytest.raises(Unauthorized) as caught:
        client.list_relationships(CONTOSO)
    assert "PCR_GRAPH_TOKEN" in str(caught.value)
    assert "a Partner Center token is not valid here" in str(caught.value)


def test_the_token_never_appears_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echoed = {"error": {"code": "Bad", "message": f"bad token Bearer {FAKE_TOKEN} here"}}
    answers = iter([httpx.Response(503, json=echoed), httpx.Response(400, json=echoed)])

    def handle(request: httpx.Request) -> httpx.Response:
        return next(answers)

    with answering(handle) as client, pytest.raises(PartnerCenterError) as caught:
        client.terminate_relationship(relationship_wire(1)["id"])
    assert "<hidden>" in str(caught.value)
    assert caplog.text
    for text in (caplog.text, str(caught.value), repr(caught.value), repr(client)):
        assert FAKE_TOKEN not in text


def test_a_transport_error_quoting_the_token_is_scrubbed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused; Authorization: Bearer {FAKE_TOKEN}", request=request)

    transport = httpx.MockTransport(handle)
    with (
        graph_client(transport, "https://graph.test", max_attempts=1) as client,
        pytest.raises(PartnerCenterError) as caught,
    ):
        client.list_relationships(CONTOSO)
    assert FAKE_TOKEN not in str(caught.value)
    assert str(caught.value).startswith("Microsoft Graph (no response)")


def test_the_graph_root_may_be_given_with_its_version() -> None:
    with graph_client(None, "https://graph.microsoft.com/v1.0") as client:
        assert client.base_url == "https://graph.microsoft.com"
    with pytest.raises(InsecureEndpointError, match="use https"):
        graph_client(None, "http://graph.example.com")


def test_the_request_record_answers_as_json() -> None:
    """The fake's 201 names the request it made, where Graph's Location would."""
    app, http = raw_fake()
    target = next(r for r in app.state.data["gdapRelationships"] if r["status"] == "active")
    with http:
        made = http.post(
            f"{RELATIONSHIPS}/{target['id']}/requests",
            content=json.dumps({"action": "terminate"}),
            headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
        )
    assert made.status_code == 201
    assert made.headers["Location"].endswith(f"/requests/{made.json()['id']}")
    assert made.headers["Location"].startswith("https://g.test/v1.0/")


def test_a_token_echoed_in_the_code_or_request_id_is_scrubbed() -> None:
    echoed = {"error": {"code": FAKE_TOKEN, "innerError": {"request-id": f"id {FAKE_TOKEN}"}}}

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json=echoed)

    with answering(handle) as client, pytest.raises(PartnerCenterError) as caught:
        client.list_relationships(CONTOSO)
    assert FAKE_TOKEN not in str(caught.value)
    assert (caught.value.code, caught.value.request_id) == ("<hidden>", "id <hidden>")
