"""Errors as a person reads them, credentials, and the token kept out of everything."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import httpx
import msal  # type: ignore[import-untyped]
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.credentials import token_provider_from_env
from reconciler.live.errors import AuthError
from reconciler.live.errors import Forbidden
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import Unauthorized
from reconciler.live.sam import SecureApplicationModel
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import Live
from tests.live.pc_support import example_state
from tests.live.pc_support import make_client
from tests.live.test_auth_msal import CLIENT
from tests.live.test_auth_msal import REFRESH
from tests.live.test_auth_msal import SECRET
from tests.live.test_auth_msal import Clock
from tests.live.test_auth_msal import FakeEntra

# -- error messages -------------------------------------------------------------------------


def test_error_is_one_line_with_status_code_and_request() -> None:
    error = PartnerCenterError(400, "900117", "Window\npassed.", "rid-1")
    assert str(error) == "Partner Center 400 (code 900117): Window passed. [request rid-1]"
    assert str(PartnerCenterError(None, None, "ConnectError: refused", None)) == (
        "Partner Center (no response): ConnectError: refused"
    )


def test_401_says_app_plus_user_credentials_are_needed(live: Live) -> None:
    live.app.add_fault("GET", "/customers", status=401, description="Token expired.")
    with pytest.raises(Unauthorized) as caught:
        live.client.list_customers()
    message = str(caught.value)
    assert message.startswith("Partner Center 401 (code 401): Token expired.")
    assert "App+User" in message and "Secure Application Model" in message
    assert "PCR_TOKEN" in message and "PCR_REFRESH_TOKEN" in message
    assert live.client.request_count == 1  # not retried


def test_403_names_the_roles(live: Live) -> None:
    live.app.add_fault("PATCH", "/customers/", status=403, code=600001, description="Denied.")
    with pytest.raises(Forbidden) as caught:
        live.client.remove_relationship(CONTOSO)
    assert "Admin agent or Sales agent" in str(caught.value)
    assert caught.value.code == "600001"


def test_a_403_that_is_a_service_rule_gets_no_role_hint(live: Live) -> None:
    description = "No commerce relationship with this customer."
    live.app.add_fault("PATCH", "/customers/", status=403, code=20002, description=description)
    with pytest.raises(PartnerCenterError) as caught:
        live.client.remove_relationship(CONTOSO)
    assert not isinstance(caught.value, Forbidden)
    assert "Admin agent" not in str(caught.value) and description in str(caught.value)


def test_404_is_not_found(live: Live) -> None:
    with pytest.raises(NotFound):
        live.client.get_subscription(CONTOSO, "no-such-subscription")


def test_the_fake_requires_a_bearer_token_and_echoes_request_headers() -> None:
    app = FakePartnerCenter(example_state())
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://fake") as http:
        anonymous = http.get("/v1/customers", headers={"MS-RequestId": "abc"})
        signed = http.get(
            "/v1/customers",
            headers={"Authorization": "Bearer x", "MS-RequestId": "r", "MS-CorrelationId": "c"},
        )
    assert anonymous.status_code == 401
    assert anonymous.json()["source"] == "PartnerFD" and "bearer" in anonymous.json()["description"]
    assert anonymous.headers["MS-RequestId"] == "abc"
    assert (signed.headers["MS-RequestId"], signed.headers["MS-CorrelationId"]) == ("r", "c")
    assert [r.authorized for r in app.requests] == [False, True]


def test_every_call_sends_the_documented_headers() -> None:
    seen: list[httpx.Headers] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200, json={"id": CONTOSO})

    with PartnerCenterClient(
        "https://pc.test", StaticToken(FAKE_TOKEN), transport=httpx.MockTransport(record)
    ) as client:
        client.get_customer(CONTOSO)
    (headers,) = seen
    assert headers["Authorization"] == f"Bearer {FAKE_TOKEN}"
    assert headers["Accept"] == "application/json"
    assert headers["MS-Contract-Version"] == "v1"
    assert headers["MS-CorrelationId"] == client.correlation_id
    assert len(headers["MS-RequestId"]) == 36


def test_a_body_with_a_byte_order_mark_is_read() -> None:
    body = b'\xef\xbb\xbf{"id": "c1", "relationshipToPartner": "reseller"}'
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    with PartnerCenterClient("https://pc.test", StaticToken("t"), transport=transport) as client:
        assert client.get_customer("c1").relationship == "reseller"


# -- endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://api.partnercenter.microsoft.com", "http://10.0.0.5:8080", "ftp://x"]
)
def test_plain_http_off_loopback_is_refused(url: str) -> None:
    with pytest.raises(InsecureEndpointError, match="https"):
        PartnerCenterClient(url, StaticToken("t"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_on_loopback_is_allowed(url: str) -> None:
    PartnerCenterClient(url, StaticToken("t")).close()


def test_links_to_another_host_are_not_followed() -> None:
    page = {"items": [], "links": {"next": {"uri": "https://evil.example/v1/customers"}}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=page))
    with (
        PartnerCenterClient("https://pc.test", StaticToken("t"), transport=transport) as client,
        pytest.raises(PartnerCenterError, match="another host"),
    ):
        client.list_customers()
    assert client.request_count == 1


# -- secrets --------------------------------------------------------------------------------


def test_the_token_never_appears_in_output_logs_errors_or_files(
    live: Live, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    live.app.add_fault("GET", "/customers$", status=503, count=1)
    live.app.add_fault(
        "GET", f"/customers/{CONTOSO}$", status=400, description=f"bad token {FAKE_TOKEN}"
    )
    live.client.list_customers()
    with pytest.raises(PartnerCenterError) as caught:
        live.client.get_customer(CONTOSO)
    texts: Iterable[str] = [
        caplog.text,
        *capsys.readouterr(),
        str(caught.value),
        repr(caught.value),
        repr(live.client),
        repr(StaticToken(FAKE_TOKEN)),
        live.state.to_json(),
        repr(live.app.requests),
    ]
    assert "<hidden>" in str(caught.value)  # the echoed token was scrubbed
    assert caplog.text  # something was logged, so the check below means something
    for text in texts:
        assert FAKE_TOKEN not in text


# -- the Secure Application Model (MSAL; over TLS on loopback in test_auth_msal.py) ----------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(msal.application, "time", clock)
    monkeypatch.setattr(msal.token_cache, "time", clock)
    return clock


def sign_in(entra: FakeEntra) -> SecureApplicationModel:
    return SecureApplicationModel(
        "partner-tenant",
        CLIENT,
        SECRET,
        REFRESH,
        login_url="https://login.test",
        transport=httpx.WSGITransport(app=entra),
    )


def test_refresh_token_exchange_caches_and_refreshes_before_expiry(clock: Clock) -> None:
    entra = FakeEntra(tenant="partner-tenant")
    tokens = sign_in(entra).provider(PARTNER_CENTER)
    assert tokens() == "pc-access-1"
    assert [(r.method, r.path) for r in entra.received] == [
        ("GET", "/partner-tenant/v2.0/.well-known/openid-configuration"),
        ("POST", "/partner-tenant/oauth2/v2.0/token"),
    ]
    assert entra.grants[0] == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "client_info": "1",
        "scope": "https://api.partnercenter.microsoft.com/user_impersonation offline_access "
        "openid profile",
    }
    clock.offset = 3600 - 360  # still more than MSAL's five minutes left: cached
    assert tokens() == "pc-access-1" and len(entra.grants) == 1
    clock.offset += 120  # inside them: refreshed, with the rotated refresh token
    assert tokens() == "pc-access-2"
    assert entra.grants[1]["refresh_token"] == "rotated-1-do-not-print"
    assert SECRET not in repr(tokens) and REFRESH not in repr(tokens)
    tokens.close()


def test_a_token_with_less_than_five_minutes_left_is_not_served_again() -> None:
    entra = FakeEntra(tenant="partner-tenant", expires_in=299)
    tokens = sign_in(entra).provider(PARTNER_CENTER)
    assert [tokens(), tokens()] == ["pc-access-1", "pc-access-2"]
    assert [grant["refresh_token"] for grant in entra.grants] == [
        REFRESH,
        "rotated-1-do-not-print",
    ]
    tokens.close()


def test_a_refused_refresh_is_a_clear_error_without_secrets() -> None:
    entra = FakeEntra(tenant="partner-tenant")
    description = f"AADSTS70008: The refresh token has expired ({REFRESH}).\r\nTrace ID: 1"
    body = json.dumps({"error": "invalid_grant", "error_description": description})
    entra.answers.append((400, body.encode()))
    tokens = sign_in(entra).provider(PARTNER_CENTER)
    with pytest.raises(AuthError) as caught:
        tokens()
    message = str(caught.value)
    assert "invalid_grant" in message and "AADSTS70008" in message
    assert "Run `pcr login` for a new refresh token (PCR_REFRESH_TOKEN)." in message
    assert "Trace ID" not in message  # only the first line of Entra ID's description
    assert REFRESH not in message and SECRET not in message
    tokens.close()


def test_env_prefers_pcr_token() -> None:
    tokens = token_provider_from_env({"PCR_TOKEN": FAKE_TOKEN, "PCR_TENANT_ID": "x"})
    assert tokens() == FAKE_TOKEN and FAKE_TOKEN not in repr(tokens)
    graph = token_provider_from_env({"PCR_GRAPH_TOKEN": FAKE_TOKEN}, audience=GRAPH)
    assert graph() == FAKE_TOKEN and FAKE_TOKEN not in repr(graph)


def test_env_without_credentials_says_what_to_set() -> None:
    with pytest.raises(AuthError) as nothing:
        token_provider_from_env({})
    for name in ("PCR_TOKEN", "PCR_TENANT_ID", "PCR_REFRESH_TOKEN", "az account get-access-token"):
        assert name in str(nothing.value)
    with pytest.raises(AuthError, match=r"missing: PCR_CLIENT_SECRET, PCR_REFRESH_TOKEN"):
        token_provider_from_env({"PCR_TENANT_ID": "t", "PCR_CLIENT_ID": "c"})
    with pytest.raises(AuthError) as no_graph:
        token_provider_from_env({"PCR_TOKEN": FAKE_TOKEN}, audience=GRAPH)
    for name in ("PCR_GRAPH_TOKEN", "PCR_TENANT_ID", "PCR_REFRESH_TOKEN"):
        assert name in str(no_graph.value)
    assert FAKE_TOKEN not in str(no_graph.value)


def test_the_client_asks_the_provider_on_every_attempt() -> None:
    issued: list[str] = []

    def rotating() -> str:
        issued.append(f"t{len(issued)}")
        return issued[-1]

    app = FakePartnerCenter(example_state())
    app.add_fault("GET", "/customers/", status=500)
    with PartnerCenterClient(
        "https://pc.test", rotating, transport=httpx.WSGITransport(app=app), sleep=lambda s: None
    ) as client:
        client.get_customer(CONTOSO)
    assert issued == ["t0", "t1"]


def test_make_client_helper_uses_the_recognisable_token() -> None:
    # Guards the secrets test above: it is only meaningful if the fake token is what is sent.
    app = FakePartnerCenter(example_state())
    seen: list[str] = []
    inner = httpx.WSGITransport(app=app)

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return inner.handle_request(request)

    with make_client(app) as client:
        client._http._transport = httpx.MockTransport(spy)
        client.get_customer(CONTOSO)
    assert seen == [f"Bearer {FAKE_TOKEN}"]
