"""Answers of a shape pcr cannot read: each is one clear error naming the place and the types,
before anything is used or changed, never an AttributeError, KeyError or TypeError. A value
pcr does not know, in a field of the right type, stays a planner concern (an unknown)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import cli
from reconciler.fake import FakePartnerCenter
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import PartnerCenterError
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import SubscriptionStatus
from reconciler.live.models import customer_from_wire
from reconciler.live.models import page_from_wire
from reconciler.live.models import subscription_from_wire
from tests.conftest import EXAMPLE
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_BASIC_NCE
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import WIDE_WORLD
from tests.live.pc_support import WIDE_WORLD_ORDER
from tests.live.pc_support import WIDE_WORLD_SOFTWARE
from tests.live.pc_support import example_state
from tests.live.pc_support import make_client
from tests.live.pc_support import serve_wsgi

PREFIX = "Partner Center answered something pcr does not understand: "
NOW = "2026-11-22T09:00:00Z"


def answering(body: object, status: int = 200, **headers: str) -> httpx.MockTransport:
    """A transport whose every answer is `body` (JSON unless it is bytes)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content, headers=headers)

    return httpx.MockTransport(handle)


def client_for(transport: httpx.BaseTransport, **kwargs: Any) -> PartnerCenterClient:
    kwargs.setdefault("sleep", lambda seconds: None)
    return PartnerCenterClient(
        "https://pc.test", StaticToken(FAKE_TOKEN), transport=transport, **kwargs
    )


def problem(call: Callable[[PartnerCenterClient], object], body: object) -> str:
    """The message of the error `call` raises when every answer is `body`."""
    with client_for(answering(body)) as client, pytest.raises(MalformedAnswer) as caught:
        call(client)
    message = str(caught.value)
    assert "\n" not in message and FAKE_TOKEN not in message
    return message


def list_customers(client: PartnerCenterClient) -> object:
    return client.list_customers()


def list_subscriptions(client: PartnerCenterClient) -> object:
    return client.list_subscriptions(FABRIKAM)


# -- listings ---------------------------------------------------------------------------------

CUSTOMER_LISTINGS: list[tuple[object, str]] = [
    ({"items": ["x"]}, "items[0] is a string, expected an object"),
    ({"items": [7]}, "items[0] is a number, expected an object"),
    ({"items": [None]}, "items[0] is null, expected an object"),
    ({"items": [[{"id": "c"}]]}, "items[0] is a list, expected an object"),
    ({"items": [True]}, "items[0] is true/false, expected an object"),
    ({"items": {"id": "c"}}, "items is an object, expected a list"),
    ({"items": "c"}, "items is a string, expected a list"),
    ({"items": [], "links": {"next": "abc"}}, "links.next is a string, expected an object"),
    ({"items": [], "links": ["next"]}, "links is a list, expected an object"),
    ({"items": [], "links": {"next": {}}}, "links.next.uri is missing, expected a link"),
    ({"items": [], "links": {"next": {"uri": 5}}}, "links.next.uri is a number, expected a string"),
    (
        {"items": [], "links": {"next": {"uri": "/v1/customers", "headers": "x"}}},
        "links.next.headers is a string, expected a list",
    ),
    (
        {"items": [], "links": {"next": {"uri": "/v1/c", "headers": [{"key": "A", "value": 1}]}}},
        "links.next.headers[0].value is a number, expected a string",
    ),
    (
        {"items": [{"id": "c", "companyProfile": "Contoso"}]},
        "items[0].companyProfile is a string, expected an object",
    ),
    (
        {"items": [{"id": "c", "companyProfile": {"companyName": ["Contoso"]}}]},
        "items[0].companyProfile.companyName is a list, expected a string",
    ),
    ({"items": [{"id": 42}]}, "items[0].id is a number, expected a string"),
    ({"items": [{"companyProfile": {}}]}, "items[0].id is missing, expected an id"),
    ({"items": [{"id": "c", "relationshipToPartner": {}}]}, "items[0].relationshipToPartner is"),
    ({"items": [], "totalCount": "ten"}, "totalCount is a string, expected a whole number"),
    (["x"], "the answer is a list, expected an object"),
    ("customers", "the answer is a string, expected an object"),
    (None, "the answer is null, expected an object"),
    (b"<html>oops</html>", "the answer is not JSON"),
    (b"\xff\xfe{", "the answer is not JSON"),
    (b"[" * 100_000, "the answer is nested deeper than pcr reads"),
]


@pytest.mark.parametrize(("body", "expected"), CUSTOMER_LISTINGS)
def test_a_customer_listing_of_the_wrong_shape_is_a_clear_error(
    body: object, expected: str
) -> None:
    message = problem(list_customers, body)
    assert message.startswith(PREFIX + expected), message
    assert "(GET /v1/customers)" in message


def test_a_listing_without_items_is_an_error_not_an_empty_list() -> None:
    message = problem(list_customers, {"code": 500, "description": "oops"})
    assert message.startswith(
        PREFIX + "items is missing, expected a list; it reads like an error report (code 500) "
        "(GET /v1/customers) [request "
    ), message
    assert problem(list_subscriptions, {"totalCount": 0}).startswith(
        PREFIX + "items is missing, expected a list (GET /v1/customers/"
    )


SUBSCRIPTION_LISTINGS: list[tuple[object, str]] = [
    ({"items": [{"offerId": "x"}]}, "items[0].id is missing, expected an id (a non-empty string)"),
    ({"items": [{"id": ""}]}, "items[0].id is an empty string, expected an id"),
    ({"items": [{"id": "s", "productType": "OnlineServicesNCE"}]}, "items[0].productType is a st"),
    (
        {"items": [{"id": "s", "productType": {"id": 3}}]},
        "items[0].productType.id is a number, expected a string",
    ),
    (
        {"items": [{"id": "s", "productType": {"id": "Azure", "subType": "x"}}]},
        "items[0].productType.subType is a string, expected an object",
    ),
    ({"items": [{"id": "s", "quantity": "15"}]}, "items[0].quantity is a string, expected a whole"),
    ({"items": [{"id": "s", "quantity": 1.5}]}, "items[0].quantity is a number, expected a whole"),
    ({"items": [{"id": "s", "status": 1}]}, "items[0].status is a number, expected a string"),
    ({"items": [{"id": "s", "offerId": ["x"]}]}, "items[0].offerId is a list, expected a string"),
    ({"items": [{"id": "s"}, "x"]}, "items[1] is a string, expected an object"),
]


@pytest.mark.parametrize(("body", "expected"), SUBSCRIPTION_LISTINGS)
def test_a_subscription_listing_of_the_wrong_shape_is_a_clear_error(
    body: object, expected: str
) -> None:
    message = problem(list_subscriptions, body)
    assert message.startswith(PREFIX + expected), message
    assert f"(GET /v1/customers/{FABRIKAM}/subscriptions)" in message


SINGLE_READS: list[tuple[Callable[[PartnerCenterClient], object], object, str]] = [
    (lambda c: c.get_customer(CONTOSO), {"companyProfile": 1}, "companyProfile is a number"),
    (lambda c: c.get_customer(CONTOSO), [], "the answer is a list, expected an object"),
    (lambda c: c.get_subscription(FABRIKAM, "s"), {"id": "s", "productType": "x"}, "productType"),
    (lambda c: c.get_subscription(FABRIKAM, "s"), {"id": None}, "id is null, expected an id"),
    (lambda c: c.list_entitlements(WIDE_WORLD), {"items": [{"referenceOrder": "o"}]}, "items[0]"),
    (
        lambda c: c.list_entitlements(WIDE_WORLD),
        {"items": [{"entitledArtifacts": [{"resourceId": 5}]}]},
        "items[0].entitledArtifacts[0].resourceId is a number, expected a string",
    ),
    (
        lambda c: c.list_azure_entitlements(CONTOSO, "plan"),
        {"items": [{"status": "active"}]},
        "items[0].id is missing",
    ),
    (lambda c: c.get_order(WIDE_WORLD, WIDE_WORLD_ORDER), {"lineItems": {}}, "lineItems is an"),
    (
        lambda c: c.get_order(WIDE_WORLD, WIDE_WORLD_ORDER),
        {"lineItems": [{"lineItemNumber": "0"}]},
        "lineItems[0].lineItemNumber is a string, expected a whole number",
    ),
    (
        lambda c: c.get_order(WIDE_WORLD, WIDE_WORLD_ORDER),
        {"creationDate": "yesterday"},
        "creationDate is a string pcr cannot read as a time",
    ),
    (lambda c: c.relationship_request_url(), {"url": 1}, "url is a number, expected a string"),
    (lambda c: c.relationship_request_url(), {"url": "http://x"}, "url is not an https:// link"),
]


@pytest.mark.parametrize(("call", "body", "expected"), SINGLE_READS)
def test_every_read_checks_the_shape_of_its_answer(
    call: Callable[[PartnerCenterClient], object], body: object, expected: str
) -> None:
    assert problem(call, body).startswith(PREFIX + expected)


def test_a_bad_item_on_a_later_page_says_which_page() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if "seekOperation" not in str(request.url):
            next_link = {"uri": "/v1/customers?seekOperation=Next", "headers": []}
            return httpx.Response(200, json={"items": [{"id": "a"}], "links": {"next": next_link}})
        return httpx.Response(200, json={"items": [{"id": "b"}, {"id": "c", "companyProfile": 1}]})

    with client_for(httpx.MockTransport(handle)) as client:
        pages = client.iter_customers()
        assert next(pages).id == "a"
        with pytest.raises(MalformedAnswer) as caught:
            next(pages)  # nothing of page 2 is handed out: it is checked whole first
    assert str(caught.value).startswith(
        PREFIX + "items[1].companyProfile is a number, expected an object "
        "(GET /v1/customers, page 2)"
    )


def test_a_paging_header_pcr_cannot_send_is_refused_not_sent() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        header = {"key": "MS-ContinuationToken", "value": "a\r\nX-Injected: 1"}
        next_link = {"uri": "/v1/customers?seekOperation=Next", "headers": [header]}
        return httpx.Response(200, json={"items": [], "links": {"next": next_link}})

    with client_for(httpx.MockTransport(handle)) as client, pytest.raises(MalformedAnswer) as e:
        client.list_customers()
    assert str(e.value).startswith(
        PREFIX + "links.next.headers[0].value is not a header value pcr can send"
    )
    assert len(sent) == 1


def test_a_paging_link_sets_only_its_own_ms_headers() -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) > 1:
            return httpx.Response(200, json={"items": []})
        headers = [
            {"key": "MS-ContinuationToken", "value": "next-please"},
            {"key": "Host", "value": "evil.example"},
            {"key": "Authorization", "value": "Bearer stolen"},
            {"key": "Cookie", "value": "a=b"},
        ]
        next_link = {"uri": "/v1/customers?seekOperation=Next", "headers": headers}
        return httpx.Response(200, json={"items": [], "links": {"next": next_link}})

    with client_for(httpx.MockTransport(handle)) as client:
        assert client.list_customers() == []
    second = sent[1].headers
    assert second["MS-ContinuationToken"] == "next-please"
    assert second["Host"] == "pc.test" and second["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert "Cookie" not in second


@pytest.mark.parametrize("uri", ["//evil.example/v1/customers", "http://[::1/v1"])
def test_a_paging_link_pcr_cannot_follow_is_an_error(uri: str) -> None:
    page = {"items": [], "links": {"next": {"uri": uri}}}
    with client_for(answering(page)) as client, pytest.raises(PartnerCenterError) as caught:
        client.list_customers()
    assert "page 1's links.next.uri is not a link pcr can follow" in str(caught.value)
    assert client.request_count == 1


def test_models_check_shapes_when_called_directly_too() -> None:
    with pytest.raises(MalformedAnswer, match="^" + re.escape(PREFIX + "companyProfile is a str")):
        customer_from_wire({"id": "c", "companyProfile": "x"})
    with pytest.raises(MalformedAnswer, match=re.escape("items[2] is null, expected an object")):
        page_from_wire({"items": [{"id": "a"}, {"id": "b"}, None]}, customer_from_wire)


# -- values pcr does not know are still the planner's ---------------------------------------


def test_a_value_pcr_does_not_know_is_an_unknown_not_an_error() -> None:
    """The fail-closed rules: a field of the right type (or one the reader already keeps as
    an unknown) with a value pcr does not know is parsed, and marked."""
    wire = {
        "id": "s1",
        "offerId": "hw-offer",
        "productType": {"id": "Hardware"},
        "status": "frozen",
        "billingCycle": 12,
        "autoRenewEnabled": "yes",
        "commitmentEndDate": "someday",
        "refundOptions": "full",
    }
    subscription = subscription_from_wire(FABRIKAM, wire)
    assert subscription.kind is SubscriptionKind.UNKNOWN
    assert subscription.status_text == "frozen"
    assert {u.split()[0] for u in subscription.unknowns} == {
        "billingCycle",
        "autoRenewEnabled",
        "commitmentEndDate",
        "refundOptions",
    }


# -- nothing is changed on an answer pcr cannot read ----------------------------------------


class Corrupting:
    """The fake, with the JSON of answers to one method and path rewritten by `change`."""

    def __init__(
        self, app: FakePartnerCenter, method: str, path: str, change: Callable[[Any], Any]
    ) -> None:
        self.app, self.method, self.path, self.change = app, method, re.compile(path), change

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != self.method or not self.path.search(environ["PATH_INFO"]):
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, keep))
        changed = json.dumps(self.change(json.loads(body))).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(changed)))])
        return [changed]


def test_no_change_is_sent_when_the_resource_read_first_is_not_understood() -> None:
    app = FakePartnerCenter(example_state())
    path = f"/subscriptions/{FABRIKAM_BASIC_NCE}$"
    corrupt = Corrupting(app, "GET", path, lambda body: {**body, "productType": "NCE"})
    with make_client(corrupt) as client, pytest.raises(MalformedAnswer) as caught:
        client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="suspended")
    assert str(caught.value).startswith(PREFIX + "productType is a string, expected an object")
    assert [r.method for r in app.requests] == ["GET"] and app.mutations == []


def test_no_order_is_cancelled_when_the_order_read_first_is_not_understood() -> None:
    app = FakePartnerCenter(example_state())
    path = f"/orders/{WIDE_WORLD_ORDER}$"
    corrupt = Corrupting(app, "GET", path, lambda body: {**body, "lineItems": ["line 0"]})
    with make_client(corrupt) as client, pytest.raises(MalformedAnswer, match=r"lineItems\[0\]"):
        client.cancel_order_line(WIDE_WORLD, WIDE_WORLD_ORDER, WIDE_WORLD_SOFTWARE)
    assert app.mutations == []


# -- through the command line ---------------------------------------------------------------


@contextmanager
def hostile_endpoint(method: str, path: str, change: Callable[[Any], Any]) -> Iterator[str]:
    app = FakePartnerCenter(example_state())
    with serve_wsgi(Corrupting(app, method, path, change)) as url:
        yield url


def run_pcr(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return code if isinstance(code, int) else 1, out, err


@pytest.fixture
def estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "desired-state")
    monkeypatch.setenv("PCR_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("PCR_RATE_LIMIT", "60000")
    return tmp_path / "desired-state"


@pytest.mark.parametrize(
    ("path", "change", "expected"),
    [
        ("/customers$", lambda body: {"items": ["x"]}, "items[0] is a string, expected an object"),
        (
            "/customers$",
            lambda body: {**body, "links": {"next": "more"}},
            "links.next is a string, expected an object",
        ),
        (
            f"/customers/{FABRIKAM}/subscriptions$",
            lambda body: {"items": [{**body["items"][0], "productType": "NCE"}]},
            "items[0].productType is a string, expected an object",
        ),
        (
            f"/customers/{FABRIKAM}/subscriptions$",
            lambda body: {"items": [{k: v for k, v in body["items"][0].items() if k != "id"}]},
            "items[0].id is missing, expected an id",
        ),
    ],
)
def test_pcr_plan_on_an_answer_of_the_wrong_shape_exits_1_in_one_line(
    estate: Path,
    capsys: pytest.CaptureFixture[str],
    path: str,
    change: Callable[[Any], Any],
    expected: str,
) -> None:
    with hostile_endpoint("GET", path, change) as url:
        code, out, err = run_pcr(
            ["plan", "--desired", str(estate), "--endpoint", url, "--now", NOW], capsys
        )
    assert code == 1
    assert err.startswith("pcr: " + PREFIX + expected), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error" not in err and FAKE_TOKEN not in out + err


def test_pcr_import_of_a_listing_without_items_writes_nothing_and_exits_1(
    estate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "imported"
    error_report = {"code": 500, "description": "oops"}
    with hostile_endpoint("GET", "/customers$", lambda body: error_report) as url:
        code, out, err = run_pcr(["import", "--endpoint", url, "--out", str(out_dir)], capsys)
    assert code == 1
    assert err.startswith("pcr: " + PREFIX + "items is missing, expected a list"), err
    assert len(err.strip().splitlines()) == 1
    assert not out_dir.exists() or not list(out_dir.rglob("*.yaml"))


# -- text that is only shown is made safe to print; an id must print as itself ----------------

# A screen clear, a window title set, a right-to-left override, a line break and a tab.
ESCAPES = "\x1b[2J\x1b]0;owned\x07\u202e\n\t"


def test_names_and_statuses_are_kept_as_the_service_sent_them() -> None:
    # Made safe where they are shown (`reconciler.printable`), never changed on the way in:
    # `pcr import` writes them back as they are, and names are compared as they are.
    customer = customer_from_wire(
        {"id": "c1", "companyProfile": {"companyName": f"Evil{ESCAPES}Corp", "domain": "x"}}
    )
    assert customer.name == f"Evil{ESCAPES}Corp"
    subscription = subscription_from_wire(CONTOSO, {"id": "s1", "status": f"active{ESCAPES}"})
    assert subscription.status is SubscriptionStatus.UNKNOWN
    assert subscription.status_text == f"active{ESCAPES}"


@pytest.mark.parametrize("bad_id", ["sub\x1b[31m", "sub\n1", "\u202esub"])
def test_an_id_that_does_not_print_as_itself_is_no_id(bad_id: str) -> None:
    with pytest.raises(MalformedAnswer, match=re.escape("id is a string, expected an id")):
        subscription_from_wire(CONTOSO, {"id": bad_id})
    with pytest.raises(MalformedAnswer, match=re.escape("id is a string, expected an id")):
        customer_from_wire({"id": bad_id})


def with_escapes_in_every_name(body: Any) -> Any:
    for item in body["items"]:
        if "companyProfile" in item:
            item["companyProfile"]["companyName"] += ESCAPES
        else:
            item["offerName"] = item["friendlyName"] = f"Seats{ESCAPES}"
    return body


@pytest.mark.parametrize("output_format", ["text", "markdown", "json"])
def test_pcr_plan_prints_no_escape_that_a_hostile_service_sent(
    estate: Path, capsys: pytest.CaptureFixture[str], output_format: str
) -> None:
    # Every customer's name, and the names of an offboarding customer's subscriptions
    # (which its plan's steps name).
    listings = rf"/customers(/{FABRIKAM}/subscriptions)?$"
    with hostile_endpoint("GET", listings, with_escapes_in_every_name) as url:
        args = ["plan", "--desired", str(estate), "--endpoint", url, "--now", NOW]
        code, out, err = run_pcr([*args, "--format", output_format], capsys)
    assert code == 0, err
    for character in ("\x1b", "\x07", "\u202e"):
        assert character not in out + err
    if output_format == "text":  # shown, as escapes (Markdown escapes brackets on top)
        assert "Seats\\x1b[2J\\x1b]0;owned\\x07\\u202e" in out
    elif output_format == "markdown":
        assert "Seats\\\\x1b" in out  # its backslash escaped for Markdown
    else:  # kept as it came, in JSON's own escapes
        assert any(f"Seats{ESCAPES}" in text for text in strings_in(json.loads(out)))


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
