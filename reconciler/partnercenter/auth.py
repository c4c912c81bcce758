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
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol
from urllib.parse import quote

import httpx

from reconciler.partnercenter.errors import (
    AuthError,
    InsecureEndpointError,
    InvalidEndpointError,
    one_line,
)

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"

# Refresh this long before the token runs out, so a call started just before
# expiry does not arrive with a dead token.
REFRESH_MARGIN_SECONDS = 300.0

REFRESH_VARIABLES = ("PCR_TENANT_ID", "PCR_CLIENT_ID", "PCR_CLIENT_SECRET", "PCR_REFRESH_TOKEN")

# What an HTTP header can carry of a bearer token: visible ASCII (RFC 6750's b64token is
# narrower still). A line break would end the header and start another.
_TOKEN = re.compile(r"[\x21-\x7e]+")
# A host name: dot-separated labels of letters, digits, hyphens (and underscores, which
# some internal names have); IP addresses are checked apart.
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(//)[^/?#]*@")

# The token endpoint's answer is a few KiB; what it may cost is bounded all the same.
TOKEN_ANSWER_BYTES = 1024 * 1024
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOKEN_ANSWER_SECONDS = 60.0


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
    """A URL pcr will send a bearer token to, or a one-line error that says what is wrong.

    Accept https anywhere and http on loopback only; `allow_any` is for in-process
    transports, which never touch the network (the URL must still be a valid one).
    """
    shown = _shown(url)
    if not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidEndpointError(
            f"refusing endpoint {shown}: a URL cannot contain spaces, line breaks or "
            "other control characters"
        )
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidEndpointError(
            f"refusing endpoint {shown}: not a valid URL ({one_line(str(exc), 100)})"
        ) from None
    if parsed.userinfo:
        raise InvalidEndpointError(
            f"refusing endpoint {shown}: a user name or password does not belong in the URL "
            "(the bearer token comes from PCR_TOKEN or the Secure Application Model)"
        )
    if parsed.scheme in ("http", "https"):
        if not parsed.host:
            raise InvalidEndpointError(f"refusing endpoint {shown}: it names no host")
        if not _valid_host(parsed.host):
            raise InvalidEndpointError(f"refusing endpoint {shown}: {parsed.host!r} is no host")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise InvalidEndpointError(f"refusing endpoint {shown}: port {parsed.port} is no port")
        if parsed.query or parsed.fragment:
            raise InvalidEndpointError(
                f"refusing endpoint {shown}: the API root takes no query or fragment"
            )
    if allow_any and parsed.scheme in ("http", "https"):
        return parsed
    if parsed.scheme == "https" and parsed.host:
        return parsed
    if parsed.scheme == "http" and parsed.host and is_loopback(parsed.host):
        return parsed
    raise InsecureEndpointError(
        f"refusing endpoint {shown}: use https (plain http is allowed only on loopback)"
    )


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOST_NAME.fullmatch(ascii_host))


def _shown(url: str) -> str:
    """The URL as an error shows it: quoted, escaped, short, and without a password."""
    return repr(_USERINFO.sub(r"\1…@", url[:200]) + ("…" if len(url) > 200 else ""))


def check_token(token: object, what: str = "the bearer token") -> str:
    """`token` if it can be sent in an `Authorization` header; else an AuthError that
    says so without showing any of it. Checked before every request."""
    if not isinstance(token, str) or not token:
        raise AuthError(f"{what} is empty")
    if not _TOKEN.fullmatch(token):
        raise AuthError(
            f"{what} contains a character an HTTP header cannot carry (a line break, a "
            "space, a control or non-ASCII character); it is not shown here"
        )
    return token


class StaticToken:
    """A bearer token handed in as is (`PCR_TOKEN`); it is not refreshed."""

    def __init__(self, token: str) -> None:
        self._token = check_token(token.strip(), "the bearer token in PCR_TOKEN")

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
        self._token_url = f"{login_url.rstrip('/')}/{quote(tenant_id, safe='')}/oauth2/token"
        self._resource = resource
        self._clock = clock
        self._http = httpx.Client(transport=transport, timeout=TOKEN_TIMEOUT)
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
            with self._http.stream("POST", self._token_url, data=form) as response:
                status, body = response.status_code, _read_limited(response)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise AuthError(
                f"could not reach the token endpoint for tenant {self.tenant_id}: "
                f"{type(exc).__name__}"
            ) from None
        except _TooLarge:
            raise AuthError(
                f"the token endpoint for tenant {self.tenant_id} answered with more than "
                f"{TOKEN_ANSWER_BYTES // 1024} KiB or for longer than "
                f"{TOKEN_ANSWER_SECONDS:.0f} s: that is no token answer"
            ) from None
        payload = _json_object(body)
        token = payload.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            raise AuthError(self._scrub(_token_error_message(status, payload)))
        check_token(token, "the access token from the token endpoint")
        expires_in = _seconds(payload.get("expires_in"))
        self._access_token = token
        # If Entra ID rotates the refresh token, the old one may stop working: keep the new one.
        if isinstance(payload.get("refresh_token"), str) and payload["refresh_token"]:
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


class _TooLarge(Exception):
    pass


def _read_limited(response: httpx.Response) -> bytes:
    """The body, or `_TooLarge` once it passes `TOKEN_ANSWER_BYTES` or takes too long."""
    deadline = time.monotonic() + TOKEN_ANSWER_SECONDS
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > TOKEN_ANSWER_BYTES or time.monotonic() > deadline:
            raise _TooLarge
    return bytes(body)


def _json_object(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def _seconds(value: object) -> float:
    """`expires_in` comes as a string in the v1 endpoint's answer and a number elsewhere."""
    try:
        seconds = float(str(value))
    except ValueError:
        return 3600.0  # the documented lifetime, if the field is missing or garbled
    return seconds if math.isfinite(seconds) and seconds > 0 else 3600.0


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
