"""The Secure Application Model through MSAL, against a fake Entra ID served over TLS on loopback.

One refresh token gives the tokens of both audiences (Partner Center and Microsoft Graph):
it is redeemed once, MSAL files the answer under the consenting user's account, and every
later token comes from its cache or from the refresh token it holds, rotated. The test CA is
trusted the way production trusts a proxy's: SSL_CERT_FILE.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import msal  # type: ignore[import-untyped]
import pytest

from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import SCOPES
from reconciler.live.auth import StaticToken
from reconciler.live.credentials import token_provider_from_env
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import InvalidEndpointError
from reconciler.live.sam import SamTokenProvider
from reconciler.live.sam import SecureApplicationModel
from tests.live.entra import CLIENT
from tests.live.entra import GRAPH_GRANTED
from tests.live.entra import REFRESH
from tests.live.entra import SAFETY_SECONDS
from tests.live.entra import SECRET
from tests.live.entra import TENANT
from tests.live.entra import FakeEntra
from tests.live.entra import Login

OIDC = {"openid", "profile", "offline_access"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """MSAL's clock (it decides when a cached token is too old), moved by the test."""
    clock = Clock()
    monkeypatch.setattr(msal.application, "time", clock)
    monkeypatch.setattr(msal.token_cache, "time", clock)
    return clock


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


def scopes(grant: dict[str, str]) -> set[str]:
    return set(grant["scope"].split())


def assert_hidden(texts: Iterable[str], *secrets: str) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, (secret, text)


ALL_SECRETS = (SECRET, REFRESH, "rotated-", "pc-access-", "graph-access-")


# -- one refresh token, both audiences -------------------------------------------------------


def test_one_refresh_token_gives_both_audiences(
    login: Login, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    pc, graph = login.providers()
    assert pc.sign_in is graph.sign_in  # one MSAL application for the run
    assert login.entra.received == []  # nothing is sent before a token is asked for
    assert pc() == "pc-access-1"
    assert graph() == "graph-access-2"
    methods = [(r.method, r.path) for r in login.entra.received]
    assert methods == [
        ("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{TENANT}/oauth2/v2.0/token"),
        ("POST", f"/{TENANT}/oauth2/v2.0/token"),
    ]
    first, second = login.entra.grants
    # The refresh token handed in is redeemed once, for Partner Center; Graph's token comes
    # from the refresh token MSAL kept from that answer.
    assert first["grant_type"] == second["grant_type"] == "refresh_token"
    assert first["refresh_token"] == REFRESH
    assert second["refresh_token"] == "rotated-1-do-not-print"
    assert scopes(first) == {SCOPES[PARTNER_CENTER], *OIDC}
    assert scopes(second) == {SCOPES[GRAPH], *OIDC}
    assert first["client_id"] == second["client_id"] == CLIENT
    assert first["client_secret"] == second["client_secret"] == SECRET
    out, err = capsys.readouterr()
    assert_hidden([out, err, caplog.text, repr(pc), repr(graph), repr(pc.sign_in)], *ALL_SECRETS)
    pc.close()
    graph.close()


def test_the_cache_serves_each_audience_until_five_minutes_before_expiry(
    login: Login, clock: Clock
) -> None:
    pc, graph = login.providers()
    assert [pc(), graph(), pc(), graph()] == ["pc-access-1", "graph-access-2"] * 2
    assert len(login.entra.grants) == 2  # no second request for the same audience
    # MSAL keeps whole seconds and the test takes time: a margin of a minute either side.
    clock.offset = 3600 - 360  # more than MSAL's five minutes left: still cached
    assert (pc(), graph()) == ("pc-access-1", "graph-access-2")
    assert len(login.entra.grants) == 2
    clock.offset = 3600 - 240  # less: both refreshed, each with the newest refresh token
    assert (pc(), graph()) == ("pc-access-3", "graph-access-4")
    refresh_tokens = [grant["refresh_token"] for grant in login.entra.grants]
    assert refresh_tokens == [
        REFRESH,
        "rotated-1-do-not-print",
        "rotated-2-do-not-print",
        "rotated-3-do-not-print",
    ]
    assert [scopes(grant) - OIDC for grant in login.entra.grants] == [
        {SCOPES[PARTNER_CENTER]},
        {SCOPES[GRAPH]},
        {SCOPES[PARTNER_CENTER]},
        {SCOPES[GRAPH]},
    ]
    pc.close()
    graph.close()


def test_an_expired_token_is_refreshed(login: Login, clock: Clock) -> None:
    pc, graph = login.providers()
    assert pc() == "pc-access-1"
    clock.offset = 7200.0  # long gone
    assert pc() == "pc-access-2"
    assert login.entra.grants[1]["refresh_token"] == "rotated-1-do-not-print"
    pc.close()
    graph.close()


@pytest.mark.parametrize("graph_scope", [GRAPH_GRANTED, f"{SCOPES[GRAPH]} {GRAPH_GRANTED}", ""])
def test_graph_is_cached_whatever_scopes_the_answer_lists(login: Login, graph_scope: str) -> None:
    """Entra ID may list the permissions `.default` stands for rather than `.default`."""
    login.entra.graph_scope = graph_scope
    pc, graph = login.providers()
    assert [graph(), graph(), graph()] == ["graph-access-1"] * 3
    assert len(login.entra.grants) == 1
    pc.close()
    graph.close()


def test_concurrent_callers_cause_one_request_per_audience(login: Login) -> None:
    release = login.entra.hold_first = threading.Event()
    pc, graph = login.providers()
    callers = [pc] * 8 + [graph] * 8
    start = threading.Barrier(len(callers))
    tokens: list[str] = []
    tokens_lock = threading.Lock()
    calling = threading.Semaphore(0)

    def call(provider: SamTokenProvider) -> None:
        start.wait()
        calling.release()
        token = provider()
        with tokens_lock:
            tokens.append(token)

    threads = [threading.Thread(target=call, args=(provider,)) for provider in callers]
    for thread in threads:
        thread.start()
    # Every caller asks while the first grant is held at the token endpoint.
    assert login.entra.first_arrived.wait(SAFETY_SECONDS)
    for _ in callers:
        assert calling.acquire(timeout=SAFETY_SECONDS)
    release.set()
    for thread in threads:
        thread.join(SAFETY_SECONDS)
    assert len(tokens) == 16
    assert len(login.entra.grants) == 2  # one per audience, however many callers
    assert {frozenset(scopes(grant) - OIDC) for grant in login.entra.grants} == {
        frozenset({SCOPES[PARTNER_CENTER]}),
        frozenset({SCOPES[GRAPH]}),
    }
    # The refresh token handed in is redeemed once; the other audience used the rotated one.
    assert [grant["refresh_token"] for grant in login.entra.grants] == [
        REFRESH,
        "rotated-1-do-not-print",
    ]
    assert login.entra.most_in_flight == 1
    first = "pc" if SCOPES[PARTNER_CENTER] in scopes(login.entra.grants[0]) else "graph"
    second = "graph" if first == "pc" else "pc"
    assert sorted(set(tokens)) == sorted({f"{first}-access-1", f"{second}-access-2"})
    pc.close()
    graph.close()


# -- refusals and hostile answers --------------------------------------------------------------


def refusal(error: str, description: str, status: int = 400) -> tuple[int, bytes]:
    return status, json.dumps({"error": error, "error_description": description}).encode()


def test_invalid_grant_says_renew_the_consent_without_showing_secrets(
    login: Login, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    login.entra.answers.append(
        refusal(
            "invalid_grant",
            f"AADSTS70008: The refresh token has expired ({REFRESH}, {SECRET}).\r\n"
            "Trace ID: 1\r\nTimestamp: 2026-01-01",
        )
    )
    pc, graph = login.providers()
    with pytest.raises(AuthError) as caught:
        pc()
    message = str(caught.value)
    assert message.startswith(
        "the token endpoint refused the refresh token for Partner Center (invalid_grant): "
        "AADSTS70008: The refresh token has expired (<hidden>, <hidden>)."
    )
    assert message.endswith("Run `pcr login` for a new refresh token (PCR_REFRESH_TOKEN).")
    assert "Trace ID" not in message  # only the first line of Entra ID's description
    assert len(message.splitlines()) == 1
    out, err = capsys.readouterr()
    assert_hidden([message, repr(caught.value), caplog.text, out, err], SECRET, REFRESH)
    pc.close()
    graph.close()


def test_a_graph_refusal_names_graph_and_leaves_partner_center_working(
    login: Login, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pc, graph = login.providers()
    assert pc() == "pc-access-1"
    # The refusal echoes the refresh token MSAL sent (the rotated one): MSAL logs it at
    # debug level, and the scrubbing takes it out.
    login.entra.answers.append(
        refusal("invalid_grant", "AADSTS65001: no consent for rotated-1-do-not-print.")
    )
    with pytest.raises(AuthError) as caught:
        graph()
    assert str(caught.value) == (
        "the token endpoint refused the refresh token for Microsoft Graph (invalid_grant): "
        "AADSTS65001: no consent for <hidden>. Run `pcr login` once the app's Microsoft Graph "
        "permissions are granted for a new refresh token (PCR_REFRESH_TOKEN)."
    )
    assert "Refresh failed" in caplog.text  # MSAL's own record of it, scrubbed
    assert_hidden([caplog.text], "rotated-1-do-not-print", "pc-access-1", SECRET, REFRESH)
    assert pc() == "pc-access-1"
    pc.close()
    graph.close()


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("invalid_client", "Check PCR_CLIENT_ID and PCR_CLIENT_SECRET (a client secret expires"),
        ("invalid_scope", f"Grant the app {SCOPES[PARTNER_CENTER]}, then run `pcr login`"),
        (
            "invalid_request",
            "Check PCR_TENANT_ID, PCR_CLIENT_ID and PCR_CLIENT_SECRET, or run `pcr login`",
        ),
    ],
)
def test_each_refusal_says_what_to_do(login: Login, error: str, advice: str) -> None:
    login.entra.answers.append(refusal(error, "AADSTS7000215: Invalid client secret provided."))
    pc, graph = login.providers()
    with pytest.raises(AuthError) as caught:
        pc()
    assert f"({error}): AADSTS7000215" in str(caught.value) and advice in str(caught.value)
    pc.close()
    graph.close()


HOSTILE_ANSWERS = [
    pytest.param(200, b"<html>sign in</html>", "something other than a JSON object", id="html"),
    pytest.param(200, b"[1, 2]", "something other than a JSON object", id="list"),
    pytest.param(200, b"{}", "without an access token for Partner Center", id="empty"),
    pytest.param(200, b"x" * (1024 * 1024 + 1), "more than 1024 KiB", id="oversized"),
    pytest.param(503, b"<html>down</html>", "HTTP 503: Entra ID is unavailable", id="503"),
    pytest.param(
        200,
        json.dumps({"access_token": "pc-access-x", "expires_in": "soon"}).encode(),
        "an answer MSAL cannot read (ValueError)",
        id="garbled-expiry",
    ),
    pytest.param(
        200,
        json.dumps({"access_token": "pc-access-x", "client_info": "!!!"}).encode(),
        "an answer MSAL cannot read",
        id="garbled-client-info",
    ),
    pytest.param(
        200,
        json.dumps({"access_token": "pc-access-x", "id_token": "not-a-jwt"}).encode(),
        "an answer MSAL cannot read",
        id="garbled-id-token",
    ),
    pytest.param(
        200,
        json.dumps({"access_token": "pc-access-x", "expires_in": 3600}).encode(),
        "answered without naming the consenting user",
        id="no-account",
    ),
    pytest.param(
        200,
        json.dumps({"access_token": "pc-access\r\nX-Evil: 1"}).encode(),
        "the access token from the token endpoint contains a character an HTTP header cannot",
        id="line-break",
    ),
]


@pytest.mark.parametrize(("status", "body", "expected"), HOSTILE_ANSWERS)
def test_a_garbled_or_oversized_answer_is_an_auth_error(
    login: Login,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    status: int,
    body: bytes,
    expected: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    login.entra.answers.append((status, body))
    pc, graph = login.providers()
    with pytest.raises(AuthError) as caught:
        pc()
    message = str(caught.value)
    assert expected in message, message
    assert message.isprintable() and len(message) < 400
    out, err = capsys.readouterr()
    assert_hidden([message, caplog.text, out, err], SECRET, REFRESH, "pc-access")
    pc.close()
    graph.close()


def test_a_token_endpoint_on_another_host_gets_no_credentials(login: Login) -> None:
    login.entra.configuration["token_endpoint"] = "https://evil.example/t/oauth2/v2.0/token"
    pc, graph = login.providers()
    with pytest.raises(AuthError) as caught:
        pc()
    assert str(caught.value) == (
        "refusing to send the credentials to 'https://evil.example/t/oauth2/v2.0/token', which "
        f"the OpenID configuration of tenant {TENANT} names: they go only to {login.url} over "
        "https"
    )
    assert [r.method for r in login.entra.received] == ["GET"]
    pc.close()
    graph.close()


def test_a_tenant_the_sign_in_endpoint_does_not_know(login: Login) -> None:
    env = login.env(PCR_TENANT_ID="contoso.onmicrosoft.com")
    provider = token_provider_from_env(env)
    with pytest.raises(AuthError) as caught:
        provider()
    assert str(caught.value) == (
        f"{login.url} has no OpenID configuration for tenant contoso.onmicrosoft.com (HTTP 404): "
        "check PCR_TENANT_ID and PCR_LOGIN_URL"
    )
    assert isinstance(provider, SamTokenProvider)
    provider.close()


def test_an_untrusted_certificate_is_refused(login: Login) -> None:
    env = login.env()
    del env["SSL_CERT_FILE"]
    provider = token_provider_from_env(env)
    with pytest.raises(AuthError) as caught:
        provider()
    assert str(caught.value) == (
        f"could not reach the OpenID configuration of tenant {TENANT} at {login.url}: "
        "ConnectError (its TLS certificate is not trusted; behind a TLS-inspecting proxy, point "
        "SSL_CERT_FILE at the proxy's CA certificates)"
    )
    assert login.entra.received == []
    assert isinstance(provider, SamTokenProvider)
    provider.close()


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error(
    login: Login, tmp_path: Path
) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    for path in (tmp_path / "missing.pem", tmp_path / "ca.pem"):
        with pytest.raises(ConfigurationError, match=r"^SSL_CERT_FILE: cannot load CA cert"):
            token_provider_from_env(login.env(SSL_CERT_FILE=str(path)))


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("http://127.0.0.1:9", InsecureEndpointError, "MSAL signs in over https only"),
        ("http://login.microsoftonline.com", InsecureEndpointError, "https"),
        ("https://login.test/tenant", InvalidEndpointError, "root, with no path"),
        ("https://user:pw@login.test", InvalidEndpointError, "user name or password"),
    ],
)
def test_the_login_url_is_an_https_root(
    login: Login, url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        token_provider_from_env(login.env(PCR_LOGIN_URL=url))


@pytest.mark.parametrize("tenant", ["a/b", "t?x=1", "../common", "-x", "t#"])
def test_a_tenant_that_is_no_tenant_is_refused_without_being_shown(
    login: Login, tenant: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        token_provider_from_env(login.env(PCR_TENANT_ID=tenant))
    assert str(caught.value).startswith("PCR_TENANT_ID is not a tenant: expected")
    assert tenant not in str(caught.value)


def test_static_tokens_are_per_audience(login: Login) -> None:
    pc = token_provider_from_env({"PCR_TOKEN": "pc-static-token", "PCR_TENANT_ID": "x"})
    assert isinstance(pc, StaticToken) and pc() == "pc-static-token"
    with pytest.raises(AuthError) as caught:
        token_provider_from_env({"PCR_TOKEN": "pc-static-token"}, audience=GRAPH)
    message = str(caught.value)
    assert message.startswith("no Microsoft Graph credentials (GDAP needs them): set PCR_GRAPH")
    assert "a PCR_TOKEN is for Partner Center only" in message
    assert "PCR_TENANT_ID, PCR_CLIENT_ID, PCR_CLIENT_SECRET, PCR_REFRESH_TOKEN" in message
    assert "pc-static-token" not in message
    graph = token_provider_from_env({"PCR_GRAPH_TOKEN": "graph-static"}, audience=GRAPH)
    assert graph() == "graph-static" and "graph-static" not in repr(graph)
    with pytest.raises(AuthError, match=r"^the bearer token in PCR_GRAPH_TOKEN contains"):
        token_provider_from_env({"PCR_GRAPH_TOKEN": "a\nb"}, audience=GRAPH)
    # PCR_TOKEN for Partner Center, the Secure Application Model for Graph.
    env = login.env(PCR_TOKEN="pc-static-token")
    assert isinstance(token_provider_from_env(env), StaticToken)
    mixed = token_provider_from_env(env, audience=GRAPH)
    assert isinstance(mixed, SamTokenProvider)
    assert mixed() == "graph-access-1"
    assert login.entra.grants[0]["refresh_token"] == REFRESH
    mixed.close()


def test_an_unknown_audience_is_a_bug() -> None:
    with pytest.raises(ValueError, match="unknown audience 'azure'"):
        token_provider_from_env({"PCR_TOKEN": "t"}, audience="azure")


def test_the_last_close_ends_the_sharing(login: Login) -> None:
    pc, graph = login.providers()
    assert pc() == "pc-access-1"
    pc.close()
    pc.close()  # idempotent: one provider gives back one share
    assert graph() == "graph-access-2"  # the other one still shares the sign-in
    again = token_provider_from_env(login.env())
    assert isinstance(again, SamTokenProvider) and again.sign_in is graph.sign_in
    again.close()
    graph.close()
    fresh = token_provider_from_env(login.env(), audience=GRAPH)
    assert isinstance(fresh, SamTokenProvider) and fresh.sign_in is not graph.sign_in
    fresh.close()


def test_different_credentials_do_not_share(login: Login) -> None:
    login.entra.valid_refresh_tokens.add("refresh-other-77d2")
    login.entra.strict = False
    first = token_provider_from_env(login.env())
    second = token_provider_from_env(login.env(PCR_REFRESH_TOKEN="refresh-other-77d2"))
    assert isinstance(first, SamTokenProvider) and isinstance(second, SamTokenProvider)
    assert first.sign_in is not second.sign_in
    assert (first(), second()) == ("pc-access-1", "pc-access-2")
    assert [g["refresh_token"] for g in login.entra.grants] == [REFRESH, "refresh-other-77d2"]
    first.close()
    second.close()


def test_a_sign_in_of_its_own_over_an_in_process_transport() -> None:
    """`SecureApplicationModel` directly, as a library user would: its own providers share it."""
    entra = FakeEntra()
    transport = httpx.WSGITransport(app=entra)
    with SecureApplicationModel(
        TENANT, CLIENT, SECRET, REFRESH, login_url="https://login.test", transport=transport
    ) as sign_in:
        assert sign_in.token(GRAPH) == "graph-access-1"
        assert sign_in.provider(PARTNER_CENTER)() == "pc-access-2"
        assert sign_in.token(GRAPH) == "graph-access-1"
    assert [g["refresh_token"] for g in entra.grants] == [REFRESH, "rotated-1-do-not-print"]
    assert SECRET not in repr(sign_in) and REFRESH not in repr(sign_in)
