"""Secrets and endpoints: a token that cannot go in a header is refused before any request and
never echoed; every error that formats a request, a header or a service's text is scrubbed;
an endpoint URL pcr cannot use is refused in one line, before credentials are looked at."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import cli
from reconciler.commands.backend import Backend
from reconciler.connect import open_client
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import StaticToken
from reconciler.live.auth import check_endpoint_url
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.errors import AuthError
from reconciler.live.errors import BackendError
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import InvalidEndpointError
from reconciler.live.errors import PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.sam import SecureApplicationModel
from reconciler.live.scrubbing import ScrubSecrets
from reconciler.live.tenant import TenantClient
from tests.conftest import EXAMPLE
from tests.live.pc_support import FAKE_TOKEN
from tests.timeouts import Connection
from tests.timeouts import RawServer

BAD_TOKENS = [
    "tok-SECRET-abc\ndef",
    "tok-SECRET-abc\r\nX-Injected: yes",
    "tok-SECRET-abc\x00def",
    "tok-SECRET-\x1b[31mred",
    "tok-SECRET-abc def",
    "tok-SECRET-abc\tdef",
    "tok-SECRET-ünicode",
]


def assert_hidden(texts: Iterable[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            for part in (secret, *secret.split()):
                assert part not in text or len(part) < 8, (part, text)


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_pcr_token_that_cannot_go_in_a_header_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(AuthError) as caught:
        StaticToken(token)
    message = str(caught.value)
    assert message == (
        "the bearer token in PCR_TOKEN contains a character an HTTP header cannot carry (a line "
        "break, a space, a control or non-ASCII character); it is not shown here"
    )
    assert_hidden([message, repr(caught.value)], token)


def test_a_token_with_a_line_break_at_its_ends_is_just_trimmed() -> None:
    assert StaticToken(f"\n{FAKE_TOKEN}\r\n")() == FAKE_TOKEN


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_the_client_refuses_a_bad_token_from_any_provider_before_sending_anything(
    token: str,
) -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"items": []})

    with (
        PartnerCenterClient(
            "https://pc.test", lambda: token, transport=httpx.MockTransport(record)
        ) as client,
        pytest.raises(AuthError) as caught,
    ):
        client.list_customers()
    assert sent == []
    assert str(caught.value).startswith("the bearer token contains a character an HTTP header")
    assert_hidden([str(caught.value), repr(caught.value)], token)


def test_over_real_sockets_a_bad_token_never_reaches_httpx(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """httpx itself would raise `LocalProtocolError: Illegal header value b'Bearer …'`."""
    caplog.set_level(logging.DEBUG)
    token = BAD_TOKENS[0]
    with (
        RawServer(lambda connection: None) as server,
        PartnerCenterClient(server.url, lambda: token) as client,
        pytest.raises(BackendError) as caught,
    ):
        client.list_customers()
    assert not isinstance(caught.value, httpx.HTTPError)
    assert server.connections == 0
    assert_hidden([str(caught.value), repr(caught.value), caplog.text], token)


def test_pcr_with_a_bad_pcr_token_exits_1_without_echoing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "tok-SECRET-abc\ndef"
    monkeypatch.setenv("PCR_TOKEN", token)
    with RawServer(lambda connection: None) as server, pytest.raises(SystemExit) as exit_info:
        cli.main(["import", "--endpoint", server.url, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert err.startswith("pcr: the bearer token in PCR_TOKEN contains a character"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert_hidden([out, err], token)
    assert server.connections == 0


def echoing(connection: Connection) -> None:
    """Answers with a header line no HTTP parser takes, quoting the request's Authorization."""
    request = connection.read_request().decode("latin-1")
    auth = next(line for line in request.split("\r\n") if line.lower().startswith("authorization"))
    connection.send(b"HTTP/1.1 200 OK\r\n" + auth.replace(":", "").encode() + b"\r\n\r\n")


# Every client pcr has, and a read of each: each logs its retries under its own name.
CLIENTS = {
    "partner center": (PartnerCenterClient, lambda c: c.list_customers()),
    "graph": (GraphClient, lambda c: c.iter_all_relationships()),
    "a customer's tenant": (TenantClient, lambda c: c.list_guests()),
}


@pytest.mark.parametrize("which", sorted(CLIENTS))
def test_a_transport_error_quoting_the_token_is_scrubbed_everywhere(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    caplog.set_level(logging.DEBUG)
    make, read = CLIENTS[which]
    with (
        RawServer(echoing) as server,
        make(
            server.url,
            StaticToken(FAKE_TOKEN),
            sleep=lambda seconds: None,
            limits=Limits(max_attempts=2),
        ) as client,
        pytest.raises(PartnerCenterError) as caught,
    ):
        list(read(client))
    # Its own logger scrubs too, whatever a later message may quote.
    assert any(isinstance(f, ScrubSecrets) for f in logging.getLogger(make.__module__).filters)
    message = str(caught.value)
    assert "127.0.0.1 broke the HTTP protocol" in message and "<hidden>" in message, message
    assert caplog.text  # the retry was logged, so the check below means something
    assert_hidden([message, repr(caught.value), caplog.text, *capsys.readouterr()], FAKE_TOKEN)


def sign_in(token_endpoint: Callable[..., Iterable[bytes]]) -> SecureApplicationModel:
    """MSAL against `token_endpoint` in process, behind the OpenID configuration it reads."""

    def login(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            return token_endpoint(environ, start_response)
        base = "https://login.test/tenant/oauth2/v2.0"
        configuration = {
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(configuration).encode()]

    return SecureApplicationModel(
        "tenant",
        "app",
        "client-SECRET-1",
        "refresh-SECRET-1",
        login_url="https://login.test",
        transport=httpx.WSGITransport(app=login),
    )


def test_a_refresh_that_hands_out_a_token_with_a_line_break_is_refused() -> None:
    def endpoint(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        body = {"access_token": "access-SECRET\r\nX-Evil: 1", "expires_in": "3600"}
        return [json.dumps(body).encode()]

    with sign_in(endpoint) as tokens, pytest.raises(AuthError) as caught:
        tokens.token(PARTNER_CENTER)
    assert str(caught.value).startswith(
        "the access token from the token endpoint contains a character an HTTP header cannot"
    )
    assert_hidden([str(caught.value)], "access-SECRET", "client-SECRET-1", "refresh-SECRET-1")


def test_a_token_endpoint_that_answers_without_end_is_refused() -> None:
    def endless(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        while True:
            yield b" " * 65536

    with (
        sign_in(endless) as tokens,
        pytest.raises(AuthError, match="answered with more than 1024 KiB"),
    ):
        tokens.token(PARTNER_CENTER)


def test_the_cli_net_shows_only_the_kind_of_a_raw_httpx_error() -> None:
    """The client wraps httpx's errors itself; should one slip through, its text (which may
    quote a header) is not shown, and no secret from the environment is either."""
    backend = Backend(env={"PCR_TOKEN": FAKE_TOKEN, "PCR_CLIENT_SECRET": "client-SECRET-2"})
    raw = httpx.LocalProtocolError(f"Illegal header value b'Bearer {FAKE_TOKEN}'")
    assert backend.failure_message(raw) == "cannot reach Partner Center: LocalProtocolError"
    echoed = AuthError(f"refused client-SECRET-2 and {FAKE_TOKEN}\nsecond line")
    assert backend.failure_message(echoed) == "refused <hidden> and <hidden> second line"


def test_a_service_description_is_one_short_printable_line() -> None:
    description = "Denied.\x1b]0;pwned\x07\r\nInjected line " + "x" * 5000

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"code": "1", "description": description})

    with (
        PartnerCenterClient(
            "https://pc.test", StaticToken(FAKE_TOKEN), transport=httpx.MockTransport(answer)
        ) as client,
        pytest.raises(PartnerCenterError) as caught,
    ):
        client.list_customers()
    message = str(caught.value)
    assert message.startswith("Partner Center 400 (code 1): Denied.?]0;pwned? Injected line xxx")
    assert message.isprintable() and len(message) < 600


# -- endpoints --------------------------------------------------------------------------------

BAD_ENDPOINTS = [
    ("http://[::1", "refusing endpoint 'http://[::1': not a valid URL (Invalid port: ':1')"),
    (
        "https://127.0.0.1:1:2",
        "refusing endpoint 'https://127.0.0.1:1:2': not a valid URL (Invalid port: '1:2')",
    ),
    (
        "https://api.partnercenter.microsoft.com/\nX-Injected: 1",
        "refusing endpoint 'https://api.partnercenter.microsoft.com/\\nX-Injected: 1': a URL "
        "cannot contain spaces, line breaks or other control characters",
    ),
    ("https://", "refusing endpoint 'https://': it names no host"),
    ("https:///v1", "refusing endpoint 'https:///v1': it names no host"),
    ("http://:8080", "refusing endpoint 'http://:8080': it names no host"),
    ("https://exa mple.com", "refusing endpoint 'https://exa mple.com': a URL cannot contain"),
    ("https://%00.example", "refusing endpoint 'https://%00.example': '%00.example' is no host"),
    ("https://pc.example:99999", "refusing endpoint 'https://pc.example:99999': port 99999 is"),
    ("https://pc.example/?a=b", "refusing endpoint 'https://pc.example/?a=b': the API root takes"),
    (
        "https://user:hunter2@pc.example",
        "refusing endpoint 'https://…@pc.example': a user name or password does not belong",
    ),
]


@pytest.mark.parametrize(("url", "expected"), BAD_ENDPOINTS)
def test_an_endpoint_pcr_cannot_use_is_refused_in_one_line(url: str, expected: str) -> None:
    with pytest.raises(InvalidEndpointError) as caught:
        check_endpoint_url(url)
    message = str(caught.value)
    assert message.startswith(expected), message
    assert "\n" not in message and "hunter2" not in message
    with pytest.raises(InvalidEndpointError):  # in-process transports need a valid URL too
        check_endpoint_url(url, allow_any=True)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.partnercenter.microsoft.com",
        "https://api.partnercenter.microsoft.com/v1/",
        "http://127.0.0.1:8400",
        "http://[::1]:8400",
        "http://localhost",
        "https://pc.test",
        "https://bücher.example",
    ],
)
def test_good_endpoints_are_taken(url: str) -> None:
    check_endpoint_url(url)


def test_plain_http_elsewhere_is_still_refused_as_insecure() -> None:
    with pytest.raises(InsecureEndpointError, match="use https"):
        check_endpoint_url("http://api.partnercenter.microsoft.com")


def test_a_bad_endpoint_is_said_before_missing_credentials() -> None:
    with (
        pytest.raises(InvalidEndpointError, match="not a valid URL"),
        open_client(endpoint="http://[::1", fake_state=None, env={}),
    ):
        pass


@pytest.mark.parametrize(("url", "expected"), BAD_ENDPOINTS[:4])
def test_pcr_with_a_bad_endpoint_exits_1_in_one_line(
    url: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PCR_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["import", "--endpoint", url, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.startswith("pcr: " + expected), err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err


def test_pcr_plan_with_a_bad_endpoint_exits_1_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plan", "--desired", str(EXAMPLE), "--endpoint", "https://127.0.0.1:1:2"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "refusing endpoint 'https://127.0.0.1:1:2': not a valid URL" in err
    assert "internal error" not in err and "Traceback" not in err
