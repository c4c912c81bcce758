"""What one server can make the client spend is bounded: bytes (endless bodies, gzip bombs),
time (slow-loris answers, silence, ports that never accept, and the retries after them),
pages, and waits it asks for. Each limit ends in one clear error; the servers are loopback
sockets of the test's own (`tests.timeouts.RawServer`), never the internet."""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reconciler import cli
from reconciler.commands.backend import client_limits
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import DEFAULT_ANSWER_TIMEOUT
from reconciler.live.config import DEFAULT_CONNECT_TIMEOUT
from reconciler.live.config import DEFAULT_MAX_ANSWER_BYTES
from reconciler.live.config import DEFAULT_MAX_PAGES
from reconciler.live.config import DEFAULT_READ_TIMEOUT
from reconciler.live.config import Limits
from reconciler.live.errors import AnswerTimeout
from reconciler.live.errors import AnswerTooLarge
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import PagingError
from reconciler.live.errors import PartnerCenterError
from tests.conftest import EXAMPLE
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import SleepRecorder
from tests.live.pc_support import with_limits
from tests.timeouts import SAFETY_SECONDS
from tests.timeouts import Connection
from tests.timeouts import RawServer

MiB = 1024 * 1024
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


def client(url: str, **kwargs: object) -> PartnerCenterClient:
    return PartnerCenterClient(
        url, StaticToken(FAKE_TOKEN), **with_limits(dict(kwargs), rate_per_minute=100_000)
    )


def failure(call: PartnerCenterClient) -> PartnerCenterError:
    """The error listing customers ends in."""
    with pytest.raises(PartnerCenterError) as caught:
        call.list_customers()
    return caught.value


# -- bytes ------------------------------------------------------------------------------------


def endless(connection: Connection) -> None:
    """A 200 whose chunked body never ends: `{"items": [0, 0, 0, ...`."""
    connection.read_request()
    connection.send(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    piece = b"0," * 32768
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    if not connection.send(b"11\r\n" + b'{"items": [0, 0, ' + b"\r\n"):
        return
    deadline = time.monotonic() + SAFETY_SECONDS
    while time.monotonic() < deadline and not connection.stopped.is_set():
        if not connection.send(chunk):
            return


def gzip_bomb(size: int) -> bytes:
    """A valid JSON answer, `size` bytes inflated, a few KiB deflated."""
    squeezer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [squeezer.compress(b'{"items": [], "padding": "')]
    block = b" " * MiB
    parts += [squeezer.compress(block) for _ in range(size // MiB)]
    parts.append(squeezer.compress(b'"}') + squeezer.flush())
    return b"".join(parts)


def serving(head: bytes, body: bytes) -> RawServer:
    def answer(connection: Connection) -> None:
        connection.read_request()
        connection.send(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)

    return RawServer(answer)


def peak_memory(call: PartnerCenterClient) -> tuple[PartnerCenterError, int]:
    """The error, and the most memory Python held at once while it came about."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        error = failure(call)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return error, peak


def test_an_endless_body_stops_at_the_cap_fast_and_in_bounded_memory() -> None:
    with RawServer(endless) as server, client(server.url, max_answer_bytes=4 * MiB) as c:
        error, peak = peak_memory(c)
    assert isinstance(error, AnswerTooLarge)
    assert str(error).startswith(
        "Partner Center 200: the answer is larger than 4 MiB, the most pcr reads: it goes on "
        "past that (GET /v1/customers) [request "
    ), error
    assert peak < 12 * MiB, peak
    assert c.request_count == 1  # not retried: it would only say the same again


def test_a_gzip_bomb_stops_at_the_cap_however_far_it_would_inflate() -> None:
    bomb = gzip_bomb(256 * MiB)
    assert len(bomb) < 512 * 1024
    head = OK_HEAD + b"Content-Encoding: gzip\r\n"
    with serving(head, bomb) as server, client(server.url, max_answer_bytes=4 * MiB) as c:
        error, peak = peak_memory(c)
    assert isinstance(error, AnswerTooLarge), error
    assert "the answer is larger than 4 MiB" in str(error)
    assert peak < 12 * MiB, peak


def test_a_compressed_answer_under_the_cap_is_read() -> None:
    body = gzip.compress(json.dumps({"items": [{"id": "c1"}]}).encode())
    head = OK_HEAD + b"Content-Encoding: gzip\r\n"
    with serving(head, body) as server, client(server.url) as c:
        assert [customer.id for customer in c.list_customers()] == ["c1"]


def test_an_answer_that_says_it_is_too_large_is_not_read_at_all() -> None:
    def answer(connection: Connection) -> None:
        connection.read_request()
        connection.send(OK_HEAD + b"Content-Length: 999999999999\r\n\r\n{")
        connection.wait(SAFETY_SECONDS)

    with RawServer(answer) as server, client(server.url) as c:
        error = failure(c)
    assert isinstance(error, AnswerTooLarge)
    assert "larger than 32 MiB, the most pcr reads: it says it is 999,999,999,999 bytes" in (
        str(error)
    )
    assert c.request_count == 1  # refused on its headers, not read and not retried


def test_the_cap_holds_for_in_process_transports_too() -> None:
    big = json.dumps({"items": [], "padding": "x" * (2 * MiB)}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=big))
    with (
        PartnerCenterClient(
            "https://pc.test",
            StaticToken("t"),
            transport=transport,
            limits=Limits(max_answer_bytes=MiB),
        ) as c,
        pytest.raises(AnswerTooLarge, match="larger than 1 MiB"),
    ):
        c.list_customers()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"items": [' + b"{}," * (3 * MiB) + b"{}]}",
            "holds more than 524,288 objects and lists",
        ),
        (b'{"items": [' + b"0," * (4 * MiB) + b"0]}", "holds more than 1,048,576 values"),
    ],
)
def test_an_answer_built_to_blow_up_when_parsed_is_refused_unparsed(
    body: bytes, expected: str
) -> None:
    """Under the byte cap, `[{},{},…]` would still be 700 MiB of dicts for 32 MiB of answer."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with PartnerCenterClient("https://pc.test", StaticToken("t"), transport=transport) as c:
        tracemalloc.start()
        try:
            with pytest.raises(AnswerTooLarge) as caught:
                c.list_customers()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(caught.value).startswith(f"Partner Center 200: the answer {expected}, the most pcr")
    assert peak < 4 * MiB, peak


@pytest.mark.parametrize(
    ("encoding", "body", "expected"),
    [
        ("br", b"\x1b\x00", "the answer is in a content encoding pcr did not ask for ('br')"),
        ("gzip", b"not gzip at all", "the answer is not valid gzip"),
    ],
)
def test_an_encoding_pcr_cannot_undo_is_a_clear_error(
    encoding: str, body: bytes, expected: str
) -> None:
    head = OK_HEAD + b"Content-Encoding: " + encoding.encode() + b"\r\n"
    with serving(head, body) as server, client(server.url) as c:
        error = failure(c)
    assert isinstance(error, MalformedAnswer)
    assert str(error).startswith(
        f"Partner Center answered something pcr does not understand: {expected}"
    )


def test_the_client_asks_only_for_encodings_it_inflates_in_bounded_pieces() -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Accept-Encoding"])
        return httpx.Response(200, json={"items": []})

    with PartnerCenterClient(
        "https://pc.test", StaticToken("t"), transport=httpx.MockTransport(record)
    ) as c:
        c.list_customers()
    assert seen == ["gzip, deflate"]


# -- time -------------------------------------------------------------------------------------


def trickle(head: bytes, byte: bytes, every: float) -> RawServer:
    """An answer that starts with `head`, then sends `byte` every `every` seconds, for ever."""

    def answer(connection: Connection) -> None:
        connection.read_request()
        if not connection.send(head):
            return
        deadline = time.monotonic() + SAFETY_SECONDS
        while time.monotonic() < deadline and connection.wait(every):
            if not connection.send(byte):
                return

    return RawServer(answer)


@pytest.mark.parametrize(
    ("where", "head", "byte"),
    [
        ("body", OK_HEAD + b"Content-Length: 100000\r\n\r\n" + b'{"items": [', b" "),
        ("headers", OK_HEAD + b"X-Slow: ", b"a"),
    ],
)
def test_a_slow_loris_fails_within_the_answer_deadline(
    where: str, head: bytes, byte: bytes
) -> None:
    # A byte every 0.1 s never lets the 5 s read timeout (silence) fire; the deadline does.
    with (
        trickle(head, byte, every=0.1) as server,
        client(server.url, answer_timeout=1.0, read_timeout=5.0) as c,
    ):
        error = failure(c)
    # Only the deadline raises this, and only after the one attempt it allows: nothing here
    # times the client (it says how long it took, on a machine that may be busy).
    assert isinstance(error, AnswerTimeout), error
    assert re.match(
        r"Partner Center \(no response\): gave up after 1 attempt in \d+\.\d s, the most one "
        r"call may take: the answer did not arrive in full within 1 s \(GET /v1/customers\) "
        r"\[request ",
        str(error),
    ), error
    assert c.request_count == 1 and server.connections == 1


def test_a_server_that_accepts_and_never_answers_fails_in_the_call_budget() -> None:
    def silent(connection: Connection) -> None:
        connection.read_request()
        connection.wait(SAFETY_SECONDS)

    with (
        RawServer(silent) as server,
        client(server.url, read_timeout=0.3, answer_timeout=5.0, call_timeout=1.5) as c,
    ):
        error = failure(c)
    message = str(error)
    assert message.startswith("Partner Center (no response): gave up after "), message
    # The call's budget ended it, not the count of attempts (6 of 0.3 s and their backoff
    # would take over 9 s).
    assert ", the most one call may take: " in message
    assert "127.0.0.1 sent nothing for 0.3 s" in message or "did not arrive in full" in message
    assert 1 <= server.connections < 6


def test_a_port_that_never_accepts_fails_at_the_connect_timeout() -> None:
    with (
        RawServer(accept=False) as server,
        client(server.url, connect_timeout=0.3, call_timeout=1.5) as c,
    ):
        error = failure(c)
    message = str(error)
    assert message.startswith("Partner Center (no response): gave up after "), message
    assert "could not connect to 127.0.0.1 within 0.3 s" in message
    assert ", the most one call may take: " in message  # the budget ended it


class Clock:
    """A clock for the client that only moves when a fake attempt or a sleep moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps = SleepRecorder()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps(seconds)
        self.now += seconds


@pytest.mark.parametrize(
    ("error", "phase"),
    [(httpx.ConnectTimeout, "connect"), (httpx.ReadTimeout, "read")],
)
def test_with_the_default_limits_a_dead_service_costs_a_call_a_minute_not_202_s(
    error: type[httpx.TimeoutException], phase: str
) -> None:
    """A blackholed port (connect timeouts) or a server that accepts and says nothing (read
    timeouts), under the defaults: the attempts and their backoff end within the call's
    60 s, on a clock that moves as a real one would, each attempt waiting out its timeout."""
    clock = Clock()

    def dead(request: httpx.Request) -> httpx.Response:
        clock.now += request.extensions["timeout"][phase]
        raise error("timed out", request=request)

    with (
        PartnerCenterClient(
            "https://pc.test",
            StaticToken(FAKE_TOKEN),
            transport=httpx.MockTransport(dead),
            sleep=clock.sleep,
            clock=clock,
            limits=Limits(
                rate_per_minute=100_000
            ),  # no pacing: only the attempts and their backoff count
        ) as c,
        pytest.raises(PartnerCenterError) as caught,
    ):
        c.list_customers()
    assert clock.now <= DEFAULT_ANSWER_TIMEOUT + 0.5, clock.now
    assert "gave up after" in str(caught.value) and "the most one call may take" in str(
        caught.value
    )
    assert (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_ANSWER_TIMEOUT) == (10, 30, 60)


def test_waits_the_service_asks_for_do_not_use_up_the_call_budget(
    sleep: SleepRecorder,
) -> None:
    answers = iter([429, 429, 429, 200])

    def throttled(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 429:
            return httpx.Response(429, json={"message": "slow down"}, headers={"Retry-After": "50"})
        return httpx.Response(200, json={"items": []})

    with PartnerCenterClient(
        "https://pc.test",
        StaticToken("t"),
        transport=httpx.MockTransport(throttled),
        sleep=sleep,
        limits=Limits(rate_per_minute=100_000),
    ) as c:
        assert c.list_customers() == []
    assert sleep.calls == [50, 50, 50]


@pytest.mark.parametrize("value", ["3600", "1e9", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_of_hours_is_an_error_not_a_hang(value: str, sleep: SleepRecorder) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "Rate limit."}, headers={"Retry-After": value})

    with (
        PartnerCenterClient(
            "https://pc.test", StaticToken("t"), transport=httpx.MockTransport(answer), sleep=sleep
        ) as c,
        pytest.raises(PartnerCenterError) as caught,
    ):
        c.list_customers()
    assert "and it asks pcr to wait " in str(caught.value)
    assert "longer than the 300 s pcr waits" in str(caught.value)
    assert sleep.calls == [] and c.request_count == 1


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "soon"])
def test_a_retry_after_that_is_no_number_of_seconds_means_back_off(
    value: str, sleep: SleepRecorder
) -> None:
    answers = iter([503, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, json={"items": []}, headers={"Retry-After": value})

    with PartnerCenterClient(
        "https://pc.test",
        StaticToken("t"),
        transport=httpx.MockTransport(answer),
        sleep=sleep,
        limits=Limits(rate_per_minute=100_000),
    ) as c:
        assert c.list_customers() == []
    (wait,) = sleep.calls
    assert 0.5 <= wait <= 0.75


def test_a_redirect_is_an_error_that_says_the_token_stays_home() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://evil.example/v1/customers"})

    with (
        PartnerCenterClient(
            "https://pc.test", StaticToken("t"), transport=httpx.MockTransport(answer)
        ) as c,
        pytest.raises(PartnerCenterError) as caught,
    ):
        c.list_customers()
    assert str(caught.value).startswith(
        "Partner Center 302: a redirect, which pcr does not follow: the bearer token goes to "
        "pc.test only"
    )


# -- pages ------------------------------------------------------------------------------------


def endless_pages(same_token: bool = False) -> Iterator[httpx.MockTransport]:
    sent: list[httpx.Request] = []

    def page(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        token = "again" if same_token else f"token-{len(sent)}"
        next_link = {
            "uri": "/v1/customers?seekOperation=Next",
            "headers": [{"key": "MS-ContinuationToken", "value": token}],
        }
        items = [{"id": f"c{len(sent)}"}]
        return httpx.Response(200, json={"items": items, "links": {"next": next_link}})

    yield httpx.MockTransport(page)


def test_an_endless_listing_with_a_new_token_each_page_ends_at_max_pages() -> None:
    (transport,) = endless_pages()
    with (
        PartnerCenterClient(
            "https://pc.test", StaticToken("t"), transport=transport, limits=Limits(max_pages=5)
        ) as c,
        pytest.raises(PagingError) as caught,
    ):
        c.list_customers()
    assert str(caught.value).startswith(
        "Partner Center (no response): the listing of /v1/customers does not end: it goes on "
        "past 5 pages, the most pcr reads (PCR_MAX_PAGES) [request "
    ), caught.value
    assert c.request_count == 5
    assert DEFAULT_MAX_PAGES == 1_000


def test_a_listing_that_repeats_a_continuation_token_is_stopped_at_once() -> None:
    (transport,) = endless_pages(same_token=True)
    with (
        PartnerCenterClient("https://pc.test", StaticToken("t"), transport=transport) as c,
        pytest.raises(PagingError, match="page 2 links back to a page it has already given"),
    ):
        c.list_customers()
    assert c.request_count == 2


# -- the knobs --------------------------------------------------------------------------------


def test_the_limits_are_set_on_the_client_or_in_the_environment() -> None:
    env = {"PCR_TIMEOUT": "90", "PCR_MAX_ANSWER_MB": "64", "PCR_MAX_PAGES": "5000"}
    assert client_limits(env) == {
        "answer_timeout": 90.0,
        "max_answer_bytes": 64 * MiB,
        "max_pages": 5000,
    }
    assert 32 * MiB == DEFAULT_MAX_ANSWER_BYTES
    for variable, raw in [("PCR_TIMEOUT", "nan"), ("PCR_MAX_PAGES", "-1"), ("PCR_TIMEOUT", "inf")]:
        with pytest.raises(ConfigurationError, match=f"{variable}='{raw}': expected a positive"):
            client_limits({variable: raw})


def test_pcr_plan_against_a_slow_loris_exits_1_within_pcr_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PCR_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("PCR_TIMEOUT", "1")
    head = OK_HEAD + b"Content-Length: 100000\r\n\r\n{"
    with trickle(head, b" ", every=0.1) as server, pytest.raises(SystemExit) as exit_info:
        cli.main(["plan", "--desired", str(EXAMPLE), "--endpoint", server.url])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "the answer did not arrive in full within 1 s (GET /v1/customers)" in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("pcr: "), err
    assert server.connections == 1  # one attempt: the deadline, not a retry, ended it


def test_concurrent_calls_each_keep_their_own_deadline() -> None:
    """The deadline lives with the thread that reads: a slow answer on one thread does not cut
    short, or stretch, another's."""
    fast = json.dumps({"items": [{"id": "c1"}]}).encode()

    def answer(connection: Connection) -> None:
        request = connection.read_request()
        if b"slow" in request.split(b"\r\n", 1)[0]:
            connection.send(OK_HEAD + b"Content-Length: 100\r\n\r\n{")
            while connection.wait(0.1) and connection.send(b" "):
                pass
        else:
            connection.send(OK_HEAD + b"Content-Length: %d\r\n\r\n" % len(fast) + fast)

    errors: list[BaseException] = []
    with RawServer(answer) as server, client(server.url, answer_timeout=1.0) as c:

        def slow() -> None:
            try:
                c._get_json("/slow")
            except PartnerCenterError as exc:
                errors.append(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        for _ in range(5):
            assert [customer.id for customer in c.list_customers()] == ["c1"]
        thread.join(SAFETY_SECONDS)
    (error,) = errors
    assert isinstance(error, AnswerTimeout)


def test_a_proxy_from_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client brings its own transport (for the deadlines), so it reads HTTPS_PROXY and
    NO_PROXY itself, as httpx would have: the proxy is asked to CONNECT to the endpoint, and
    a host NO_PROXY names is reached directly."""
    seen: list[bytes] = []

    def proxy(connection: Connection) -> None:
        seen.append(connection.read_request().split(b"\r\n", 1)[0])
        connection.send(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    listing = json.dumps({"items": [{"id": "c1"}]}).encode()
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with RawServer(proxy) as proxy_server, serving(OK_HEAD, listing) as direct:
        monkeypatch.setenv("HTTPS_PROXY", proxy_server.url)
        with client("https://pc.example", max_attempts=1) as c, pytest.raises(PartnerCenterError):
            c.list_customers()  # only the proxy is contacted: pc.example is never resolved
        monkeypatch.setenv("HTTP_PROXY", proxy_server.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with client(direct.url) as c:
            assert [customer.id for customer in c.list_customers()] == ["c1"]
    assert seen == [b"CONNECT pc.example:443 HTTP/1.1"]
