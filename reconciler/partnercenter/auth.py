"""Bearer tokens for the Partner Center API, and the endpoint rules that keep them safe.

Relationship removal and entitlement reads need App+User credentials. Two ways
in: a ready-made token (`PCR_TOKEN`, e.g. from the Azure CLI for a local run),
or the Secure Application Model, where a refresh token from one interactive
MFA consent is exchanged for short-lived access tokens.

No object here ever shows a secret: reprs and error messages name the
credential, never its value.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from reconciler.partnercenter.errors import AuthError, InsecureEndpointError

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"

# Refresh this long before the token runs out, so a call started just before
# expiry does not arrive with a dead token.
REFRESH_MARGIN_SECONDS = 300.0

REFRESH_VARIABLES = ("PCR_TENANT_ID", "PCR_CLIENT_ID", "PCR_CLIENT_SECRET", "PCR_REFRESH_TOKEN")


class TokenProvider(Protocol):
    """Anything that returns a current bearer token when called."""

    def __call__(self) -> str: ...


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str, *, allow_any: bool = False) -> httpx.URL:
    """Accept https anywhere and http on loopback only; `allow_any` is for in-process transports."""
    parsed = httpx.URL(url)
    if allow_any:
        return parsed
    if parsed.scheme == "https" and parsed.host:
        return parsed
    if parsed.scheme == "http" and parsed.host and is_loopback(parsed.host):
        return parsed
    raise InsecureEndpointError(
        f"refusing endpoint {url!r}: use https (plain http is allowed only on loopback)"
    )


class StaticToken:
    """A bearer token handed in as is (`PCR_TOKEN`); it is not refreshed."""

    def __init__(self, token: str) -> None:
        if not token.strip():
            raise AuthError("the bearer token is empty")
        self._token = token.strip()

    def __call__(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


class RefreshTokenProvider:
    """Secure Application Model: trade a refresh token for App+User access tokens, and cache them.

    Thread-safe: concurrent callers share one cached token and at most one
    refresh is in flight.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        resource: str = PARTNER_CENTER_RESOURCE,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_endpoint_url(login_url, allow_any=transport is not None)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._token_url = f"{login_url.rstrip('/')}/{tenant_id}/oauth2/token"
        self._resource = resource
        self._clock = clock
        self._http = httpx.Client(transport=transport, timeout=30)
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._refresh_at = 0.0
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"RefreshTokenProvider(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    def __call__(self) -> str:
        with self._lock:
            if self._access_token is None or self._clock() >= self._refresh_at:
                self._refresh()
            assert self._access_token is not None
            return self._access_token

    def close(self) -> None:
        self._http.close()

    def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "resource": self._resource,
        }
        try:
            response = self._http.post(self._token_url, data=form)
        except httpx.HTTPError as exc:
            raise AuthError(
                f"could not reach the token endpoint for tenant {self.tenant_id}: "
                f"{type(exc).__name__}"
            ) from None
        payload = _json_object(response)
        if response.status_code != 200 or not payload.get("access_token"):
            raise AuthError(self._scrub(_token_error_message(response.status_code, payload)))
        expires_in = _seconds(payload.get("expires_in"))
        self._access_token = str(payload["access_token"])
        # If Entra ID rotates the refresh token, the old one may stop working: keep the new one.
        if payload.get("refresh_token"):
            self._refresh_token = str(payload["refresh_token"])
        # A token shorter-lived than twice the margin is refreshed at half its life instead.
        margin = min(REFRESH_MARGIN_SECONDS, expires_in / 2)
        self._refresh_at = self._clock() + expires_in - margin
        self.refresh_count += 1

    def _scrub(self, text: str) -> str:
        for secret in (self._client_secret, self._refresh_token, self._access_token):
            if secret:
                text = text.replace(secret, "<hidden>")
        return text


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _seconds(value: object) -> float:
    """`expires_in` comes as a string in the v1 endpoint's answer and a number elsewhere."""
    try:
        return float(str(value))
    except ValueError:
        return 3600.0  # the documented lifetime, if the field is missing or garbled


def _token_error_message(status: int, payload: Mapping[str, object]) -> str:
    error = str(payload.get("error") or "unknown_error")
    # Entra ID descriptions run over several lines (trace ids, timestamps): keep the first.
    description = str(payload.get("error_description") or "").splitlines()
    detail = f": {description[0]}" if description else ""
    return (
        f"the token endpoint refused the refresh token (HTTP {status}, {error}){detail}. "
        "Renew the Secure Application Model consent to get a new refresh token."
    )


def token_provider_from_env(env: Mapping[str, str]) -> TokenProvider:
    """`PCR_TOKEN` if set, else the four Secure Application Model variables, else a clear error."""
    token = env.get("PCR_TOKEN", "").strip()
    if token:
        return StaticToken(token)
    present = [name for name in REFRESH_VARIABLES if env.get(name, "").strip()]
    if len(present) == len(REFRESH_VARIABLES):
        tenant_id, client_id, client_secret, refresh_token = (
            env[name].strip() for name in REFRESH_VARIABLES
        )
        return RefreshTokenProvider(
            tenant_id,
            client_id,
            client_secret,
            refresh_token,
            login_url=env.get("PCR_LOGIN_URL", "").strip() or DEFAULT_LOGIN_URL,
        )
    missing = [name for name in REFRESH_VARIABLES if name not in present]
    partial = f" (missing: {', '.join(missing)})" if present else ""
    raise AuthError(
        "no Partner Center credentials: set PCR_TOKEN to an App+User bearer token, "
        f"or all of {', '.join(REFRESH_VARIABLES)} for the Secure Application Model{partial}. "
        "For a local run, `az account get-access-token --resource "
        f"{PARTNER_CENTER_RESOURCE} --query accessToken -o tsv` prints a token."
    )
