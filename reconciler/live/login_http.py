"""The HTTP client pcr gives MSAL instead of its own: the sign-in host only, over https, every
answer read under a cap and a deadline, and every secret in an answer remembered, to be
scrubbed from messages and from MSAL's log records."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.live.auth import shown_url
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import one_line
from reconciler.live.scrubbing import ScrubSecrets
from reconciler.live.scrubbing import Secrets
from reconciler.live.transport import DeadlineTransport
from reconciler.live.transport import answer_deadline
from reconciler.live.transport import environment_proxy

# The token endpoint's answer is a few KiB; what it may cost is bounded all the same.
TOKEN_ANSWER_BYTES = 1024 * 1024
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOKEN_ANSWER_SECONDS = 60.0

# Scopes MSAL adds to every request, and that say nothing about the audience.
_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access"})


class LoginFailure(Exception):
    """The sign-in endpoint could not be used; the text says why, and what to do."""


class _TooLarge(Exception):
    pass


class _Answer:
    """What MSAL reads of an HTTP answer (`msal.oauth2cli.http.Response`)."""

    def __init__(self, status_code: int, text: str, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.text = text
        self.headers = headers

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise LoginFailure(f"the sign-in endpoint answered HTTP {self.status_code}")


class LoginHttp:
    """The HTTP client MSAL is given (`msal.oauth2cli.http.HttpClient`), instead of its own
    requests session: pcr's transport (every socket operation held to the answer's deadline,
    the environment's proxy), answers read under a cap, only a JSON object handed on, and
    nothing sent anywhere but the sign-in host over https, whatever an OpenID configuration
    names as its token endpoint. Every token in an answer is remembered, to be scrubbed."""

    def __init__(
        self,
        root: httpx.URL,
        tenant_id: str,
        *,
        verify: ssl.SSLContext | bool,
        transport: httpx.BaseTransport | None,
        remember: Callable[[str], None],
        rotated: Callable[[str], None],
        custom_login: bool,
    ) -> None:
        self._root = root
        self._tenant_id = tenant_id
        self._verify = verify
        self._transport = transport
        self._remember = remember
        self._rotated = rotated
        self._custom_login = custom_login
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> _Answer:
        return self._send("GET", url, params=params, headers=headers)

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> _Answer:
        return self._send("POST", url, params=params, data=data, headers=headers)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                transport = self._transport
                if transport is None:
                    transport = _login_transport(self._root, self._verify)
                self._client = httpx.Client(
                    transport=transport, timeout=TOKEN_TIMEOUT, follow_redirects=False
                )
            return self._client

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Answer:
        tenant = self._tenant_id
        what = (
            f"the token endpoint for tenant {tenant}"
            if method == "POST"
            else f"the OpenID configuration of tenant {tenant} at {self._root}"
        )
        target = self._target(url)
        deadline = time.monotonic() + TOKEN_ANSWER_SECONDS
        try:
            with (
                answer_deadline(deadline, time.monotonic),
                self._http().stream(
                    method,
                    target,
                    params=dict(params) if params else None,
                    data=dict(data) if isinstance(data, Mapping) else None,
                    content=data.encode() if isinstance(data, str) else None,
                    headers=dict(headers) if headers else None,
                ) as response,
            ):
                body = _read_limited(response, deadline)
                status, answer_headers = response.status_code, dict(response.headers.items())
        except _TooLarge:
            raise LoginFailure(
                f"{what} answered with more than {TOKEN_ANSWER_BYTES // 1024} KiB or for longer "
                f"than {TOKEN_ANSWER_SECONDS:.0f} s: that is no token answer"
            ) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise LoginFailure(
                f"could not reach {what}: {type(exc).__name__}{_tls_hint(exc)}"
            ) from None
        payload = _json_object(body)
        if method == "GET" and status != 200:
            raise LoginFailure(self._no_configuration(status))
        if status == 429 or status >= 500:
            error = (
                f", {one_line(str(payload['error']), 60)}"
                if payload and payload.get("error")
                else ""
            )
            raise LoginFailure(
                f"{what} answered HTTP {status}{error}: Entra ID is unavailable or throttling, "
                "try again later"
            )
        if payload is None:
            raise LoginFailure(
                f"{what} answered HTTP {status} with something other than a JSON object: that is "
                "no token answer"
            )
        if method == "POST":
            for field in ("access_token", "refresh_token", "id_token"):
                if isinstance(payload.get(field), str):
                    self._remember(payload[field])
            if isinstance(payload.get("refresh_token"), str) and payload["refresh_token"]:
                self._rotated(payload["refresh_token"])
            if isinstance(data, Mapping):
                _file_under_requested_scope(payload, str(data.get("scope") or ""))
        return _Answer(status, json.dumps(payload), answer_headers)

    def _target(self, url: str) -> httpx.URL:
        """`url` if it is on the sign-in host over https; the client secret and the refresh
        token go nowhere else."""
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            target = None
        root = self._root
        if (
            target is None
            or target.scheme != "https"
            or target.host != root.host
            or (target.port or 443) != (root.port or 443)
        ):
            raise LoginFailure(
                f"refusing to send the credentials to {shown_url(url)}, which the OpenID "
                f"configuration of tenant {self._tenant_id} names: they go only to {root} "
                "over https"
            )
        return target

    def _no_configuration(self, status: int) -> str:
        if status == 429 or status >= 500:
            return (
                f"the sign-in endpoint {self._root} answered HTTP {status}: Entra ID is "
                "unavailable or throttling, try again later"
            )
        login = " and PCR_LOGIN_URL" if self._custom_login else ""
        return (
            f"{self._root} has no OpenID configuration for tenant {self._tenant_id} (HTTP "
            f"{status}): check PCR_TENANT_ID{login}"
        )


def _file_under_requested_scope(payload: dict[str, Any], requested: str) -> None:
    """Entra ID may answer a `.default` request with the permissions it stands for; MSAL files
    the token under the answer's scopes and looks it up by the requested one, so without the
    requested scope in the answer every call would go to the token endpoint again."""
    granted = payload.get("scope")
    if not isinstance(granted, str) or not isinstance(payload.get("access_token"), str):
        return
    wanted = [scope for scope in requested.split() if scope not in _OIDC_SCOPES]
    missing = [scope for scope in wanted if scope not in granted.split()]
    if missing:
        payload["scope"] = " ".join([*granted.split(), *missing])


def _login_transport(root: httpx.URL, verify: ssl.SSLContext | bool) -> httpx.BaseTransport:
    try:
        return DeadlineTransport(verify=verify, proxy=environment_proxy(root))
    except (ValueError, httpx.InvalidURL, ImportError) as exc:  # its URL is not shown:
        raise ConfigurationError(  # it may hold the proxy's password
            f"the proxy the environment names for {root.host} (HTTPS_PROXY, HTTP_PROXY or "
            f"ALL_PROXY) cannot be used: {type(exc).__name__}"
        ) from None


def _tls_hint(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return (
                " (its TLS certificate is not trusted; behind a TLS-inspecting proxy, point "
                "SSL_CERT_FILE at the proxy's CA certificates)"
            )
        cause = cause.__cause__ or cause.__context__
    return ""


def _read_limited(response: httpx.Response, deadline: float) -> bytes:
    """The body, or `_TooLarge` once it passes `TOKEN_ANSWER_BYTES` or its deadline."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > TOKEN_ANSWER_BYTES or time.monotonic() > deadline:
            raise _TooLarge
    return bytes(body)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


# -- MSAL's log records -------------------------------------------------------------------------

# The secrets of every sign-in of this process, scrubbed from MSAL's log records (it masks
# them itself where it knows to; this is the net under that).
LOGIN_SECRETS = Secrets(keep=64)


def scrub_msal_logs() -> None:
    """Put a filter of `LOGIN_SECRETS` on each of MSAL's loggers (once MSAL is imported)."""
    names = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] == "msal"]
    for name in names:
        logger = logging.getLogger(name)
        if not any(getattr(f, "secrets", None) is LOGIN_SECRETS for f in logger.filters):
            logger.addFilter(ScrubSecrets(LOGIN_SECRETS))
