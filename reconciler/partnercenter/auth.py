"""Bearer tokens for Partner Center and Microsoft Graph, and the endpoint rules that keep them safe.

Relationship removal and entitlement reads need App+User credentials, and so does GDAP on
Microsoft Graph; a token for one audience is no good for the other. Two ways in, per
audience: a ready-made token (`PCR_TOKEN` for Partner Center, `PCR_GRAPH_TOKEN` for Graph,
e.g. from the Azure CLI for a local run), or the Secure Application Model: the refresh token
from one interactive MFA consent, which MSAL redeems once per run and from then on keeps,
rotated, in its in-memory token cache beside the short-lived access tokens of both audiences.

No object here ever shows a secret: reprs and error messages name the credential, never its
value, and MSAL's log records are scrubbed of the ones it handles.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

import httpx

from reconciler.partnercenter.errors import (
    AuthError,
    BackendError,
    ConfigurationError,
    InsecureEndpointError,
    InvalidEndpointError,
    one_line,
    scrub,
)
from reconciler.partnercenter.scrubbing import Secrets
from reconciler.partnercenter.transport import (
    DeadlineTransport,
    answer_deadline,
    environment_proxy,
)

# The audiences a token is for: `token_provider_from_env(env, audience=GRAPH)`.
PARTNER_CENTER = "partner_center"
GRAPH = "graph"
AUDIENCES = (PARTNER_CENTER, GRAPH)

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
# What MSAL asks the v2 token endpoint for, per audience (reference §12, "Tokens").
SCOPES = {
    PARTNER_CENTER: f"{PARTNER_CENTER_RESOURCE}/user_impersonation",
    GRAPH: f"{GRAPH_RESOURCE}/.default",
}
AUDIENCE_NAMES = {PARTNER_CENTER: "Partner Center", GRAPH: "Microsoft Graph"}
# The ready-made token of each audience. A Partner Center token is never sent to Graph.
TOKEN_VARIABLES = {PARTNER_CENTER: "PCR_TOKEN", GRAPH: "PCR_GRAPH_TOKEN"}

# The authority root; PCR_LOGIN_URL overrides it (a national cloud, or a test server).
DEFAULT_LOGIN_URL = "https://login.microsoftonline.com"

REFRESH_VARIABLES = ("PCR_TENANT_ID", "PCR_CLIENT_ID", "PCR_CLIENT_SECRET", "PCR_REFRESH_TOKEN")
# The CA certificates the sign-in is verified with, as httpx reads them for Partner Center
# and Graph (a TLS-inspecting proxy's CA, or a test server's): the same ones for all three.
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")

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
# A tenant as the authority's path names it: a GUID or a domain name, nothing a URL parses.
TENANT = re.compile(r"[a-z0-9][a-z0-9.-]{0,252}", re.IGNORECASE)

# The token endpoint's answer is a few KiB; what it may cost is bounded all the same.
TOKEN_ANSWER_BYTES = 1024 * 1024
TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOKEN_ANSWER_SECONDS = 60.0

# Scopes MSAL adds to every request, and that say nothing about the audience.
_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access"})


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
    """A bearer token handed in as is (`PCR_TOKEN`, `PCR_GRAPH_TOKEN`); it is not refreshed."""

    def __init__(self, token: str, variable: str = "PCR_TOKEN") -> None:
        self._token = check_token(token.strip(), f"the bearer token in {variable}")

    def __call__(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticToken(<hidden>)"


# -- the Secure Application Model, through MSAL ------------------------------------------------


class SecureApplicationModel:
    """One Secure Application Model sign-in: one MSAL `ConfidentialClientApplication` and its
    in-memory token cache, for both audiences.

    The first token asked for, of either audience, redeems the refresh token
    (`acquire_token_by_refresh_token`); MSAL files what comes back under the consenting user's
    account, and every later token, of either audience, comes from `acquire_token_silent`: a
    cached access token while it has more than five minutes left, else one from the refresh
    token MSAL holds (kept as Entra ID rotates it). Nothing touches the network before the
    first token is asked for.

    Thread-safe: concurrent callers of one audience share one token request, and the refresh
    token handed in is redeemed once however many callers of both audiences arrive together.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        login_url: str = DEFAULT_LOGIN_URL,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not TENANT.fullmatch(tenant_id):  # the value is not shown: it may be a misplaced secret
            raise ConfigurationError(
                "PCR_TENANT_ID is not a tenant: expected the partner tenant's id (a GUID) or its "
                "domain name (contoso.onmicrosoft.com)"
            )
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.login_url = login_root(login_url)
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._secrets: set[str] = set()
        self._secrets_lock = threading.Lock()
        self._remember(client_secret)
        self._remember(refresh_token)
        self._http = LoginHttp(
            httpx.URL(self.login_url),
            tenant_id,
            verify=verify,
            transport=transport,
            remember=self._remember,
            rotated=self._rotated,
            custom_login=self.login_url != DEFAULT_LOGIN_URL,
        )
        self._app: Any = None  # msal.ConfidentialClientApplication, built on first use
        self._account: dict[str, Any] | None = None
        self._build_lock = threading.Lock()
        self._redeem_lock = threading.Lock()
        self._audience_locks = {audience: threading.Lock() for audience in AUDIENCES}
        self._users = 0
        self._shared_key: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"SecureApplicationModel(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    def __enter__(self) -> SecureApplicationModel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections to the sign-in endpoint (a later token request reopens them)."""
        self._http.close()

    def provider(self, audience: str = PARTNER_CENTER) -> SamTokenProvider:
        """A token provider for `audience`, sharing this sign-in with every other one."""
        _check_audience(audience)
        with _SHARED_LOCK:
            self._users += 1
        return SamTokenProvider(self, audience)

    def token(self, audience: str = PARTNER_CENTER) -> str:
        """A current access token for `audience`, from MSAL's cache or the token endpoint."""
        _check_audience(audience)
        with self._audience_locks[audience]:
            return self._acquire(audience)

    # -- inside ---------------------------------------------------------------------------------

    def _acquire(self, audience: str) -> str:
        app = self._application()
        account = self._account
        if account is None:
            with self._redeem_lock:  # whoever comes first, of either audience, redeems
                account = self._account
                if account is None:
                    return self._redeem(app, audience)
        scopes = [SCOPES[audience]]
        result = self._msal(lambda: app.acquire_token_silent_with_error(scopes, account=account))
        if result is None:  # MSAL holds no refresh token for the account: redeem the newest
            with self._redeem_lock:
                return self._redeem(app, audience)
        return self._access_token(result, audience)

    def _redeem(self, app: Any, audience: str) -> str:
        """The refresh token handed in (or the newest one an answer rotated in) traded for an
        access token, and the consenting user's account MSAL filed the tokens under."""
        refresh_token, scopes = self._refresh_token, [SCOPES[audience]]
        result = self._msal(lambda: app.acquire_token_by_refresh_token(refresh_token, scopes))
        token = self._access_token(result, audience)
        accounts = self._msal(app.get_accounts)
        if not accounts:
            raise AuthError(
                f"the token endpoint for tenant {self.tenant_id} answered without naming the "
                "consenting user (no client_info or id_token), so MSAL cannot keep its tokens: "
                "is PCR_LOGIN_URL an Entra ID sign-in endpoint?"
            )
        self._account = accounts[0]
        return token

    def _application(self) -> Any:
        with self._build_lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    def _build(self) -> Any:
        # Imported here, not with this module: most commands (validate, show) need none of it.
        import msal  # type: ignore[import-untyped]

        scrub_msal_logs()
        # Entra ID's own hosts are validated as MSAL validates them; another authority (a test
        # server) is taken as it is, and MSAL asks no instance discovery about it.
        known = httpx.URL(self.login_url).host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._client_secret,
                authority=f"{self.login_url}/{self.tenant_id}",
                validate_authority=known,
                instance_discovery=None if known else False,
                http_client=self._http,
                token_cache=msal.TokenCache(),  # in memory only: nothing is written to disk
                azure_region=False,  # regional endpoints serve app-only tokens, not these
            )
        except LoginFailure as exc:
            raise AuthError(self._scrub(str(exc))) from None
        except BackendError:
            raise
        except Exception as exc:  # MSAL on an OpenID configuration it cannot use
            raise AuthError(
                f"the OpenID configuration of tenant {self.tenant_id} at {self.login_url} "
                f"cannot be used ({_kind(exc)}): check PCR_TENANT_ID"
                + (" and PCR_LOGIN_URL" if self.login_url != DEFAULT_LOGIN_URL else "")
            ) from None

    def _msal(self, call: Callable[[], Any]) -> Any:
        """`call` into MSAL, whose every failure becomes a one-line AuthError without secrets."""
        try:
            return call()
        except LoginFailure as exc:
            raise AuthError(self._scrub(str(exc))) from None
        except BackendError:
            raise
        except Exception as exc:  # MSAL on an answer it cannot read: its text is not shown
            raise AuthError(
                f"the token endpoint for tenant {self.tenant_id} gave an answer MSAL cannot "
                f"read ({_kind(exc)}): that is no token answer"
            ) from None

    def _access_token(self, result: Any, audience: str) -> str:
        if not isinstance(result, dict):
            raise AuthError(f"MSAL returned no token for {AUDIENCE_NAMES[audience]}")
        if "error" in result:
            raise AuthError(self._scrub(refusal_message(audience, result)))
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"the token endpoint for tenant {self.tenant_id} answered without an access "
                f"token for {AUDIENCE_NAMES[audience]}: that is no token answer"
            )
        return check_token(token, "the access token from the token endpoint")

    def _remember(self, secret: str) -> None:
        """A secret to keep out of this sign-in's errors and out of MSAL's log records."""
        if secret:
            with self._secrets_lock:
                self._secrets.add(secret)
            LOGIN_SECRETS.add(secret)

    def _rotated(self, refresh_token: str) -> None:
        """A refresh token an answer handed out: the one to redeem should MSAL lose its own."""
        self._refresh_token = refresh_token

    def _scrub(self, text: str) -> str:
        with self._secrets_lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        return scrub(text, *secrets)

    def _release(self) -> None:
        """One provider fewer; with the last one gone the connections close, and a shared
        sign-in is no longer handed out."""
        with _SHARED_LOCK:
            self._users -= 1
            if self._users > 0:
                return
            if self._shared_key is not None and _SHARED.get(self._shared_key) is self:
                del _SHARED[self._shared_key]
        self.close()


class SamTokenProvider:
    """The tokens of one audience from a `SecureApplicationModel` sign-in."""

    def __init__(self, sign_in: SecureApplicationModel, audience: str) -> None:
        self.sign_in = sign_in
        self.audience = audience
        self._closed = False
        self._close_lock = threading.Lock()

    def __call__(self) -> str:
        return self.sign_in.token(self.audience)

    def __repr__(self) -> str:
        return (
            f"SamTokenProvider({self.audience!r}, tenant_id={self.sign_in.tenant_id!r}, "
            f"client_id={self.sign_in.client_id!r})"
        )

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.sign_in._release()


def refusal_message(audience: str, payload: Mapping[str, Any]) -> str:
    """What Entra ID said when it refused, and what to do about it."""
    error = one_line(str(payload.get("error") or "unknown_error"), 60)
    suberror = payload.get("suberror")
    code = f"{error}, {one_line(str(suberror), 60)}" if suberror else error
    # Entra ID descriptions run over several lines (trace ids, timestamps): keep the first.
    description = str(payload.get("error_description") or "").splitlines()
    first = one_line(description[0], 300).rstrip(".") if description else ""
    detail = f": {first}" if first else ""
    name = AUDIENCE_NAMES[audience]
    if error in ("invalid_client", "unauthorized_client"):
        advice = "Check PCR_CLIENT_ID and PCR_CLIENT_SECRET (a client secret expires too)."
    elif error == "invalid_scope":
        advice = f"Grant the app {SCOPES[audience]} and renew the Secure Application Model consent."
    elif error in ("temporarily_unavailable", "server_error"):
        advice = "Try again later."
    elif error in ("invalid_grant", "interaction_required", "consent_required"):
        permissions = (
            " with the app's Microsoft Graph permissions granted" if audience == GRAPH else ""
        )
        advice = (
            f"Renew the Secure Application Model consent{permissions} to get a new refresh token."
        )
    else:
        advice = (
            "Check PCR_TENANT_ID, PCR_CLIENT_ID and PCR_CLIENT_SECRET, or renew the Secure "
            "Application Model consent."
        )
    return f"the token endpoint refused the refresh token for {name} ({code}){detail}. {advice}"


def _check_audience(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")


def login_root(login_url: str) -> str:
    """The authority root MSAL is given, or a one-line error: https, a host, no path."""
    parsed = check_endpoint_url(login_url)
    if parsed.scheme != "https":
        raise InsecureEndpointError(
            f"refusing sign-in endpoint {_shown(login_url)}: MSAL signs in over https only (for "
            "a test server on loopback, trust its certificate with SSL_CERT_FILE)"
        )
    if parsed.path not in ("", "/"):
        raise InvalidEndpointError(
            f"refusing sign-in endpoint {_shown(login_url)}: PCR_LOGIN_URL is the authority's "
            f"root, with no path (e.g. {DEFAULT_LOGIN_URL})"
        )
    return str(parsed.copy_with(path="/")).rstrip("/")


def _kind(exc: BaseException) -> str:
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


# -- MSAL's HTTP client -------------------------------------------------------------------------


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
                f"refusing to send the credentials to {_shown(url)}, which the OpenID "
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


class _ScrubLoginSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = LOGIN_SECRETS.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def scrub_msal_logs() -> None:
    """Put a `_ScrubLoginSecrets` on each of MSAL's loggers (once MSAL is imported)."""
    names = [name for name in logging.Logger.manager.loggerDict if name.split(".")[0] == "msal"]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubLoginSecrets) for f in logger.filters):
            logger.addFilter(_ScrubLoginSecrets())


# -- from the environment --------------------------------------------------------------------

# The sign-ins handed out by `token_provider_from_env`, by their credentials: the providers of
# both audiences made from the same variables share one, so the refresh token is redeemed once.
_SHARED: dict[tuple[str, ...], SecureApplicationModel] = {}
_SHARED_LOCK = threading.Lock()


def token_provider_from_env(
    env: Mapping[str, str], *, audience: str = PARTNER_CENTER
) -> TokenProvider:
    """The tokens of `audience` (`PARTNER_CENTER` or `GRAPH`): its ready-made token
    (`PCR_TOKEN`, `PCR_GRAPH_TOKEN`) if set, else the four Secure Application Model variables,
    else an AuthError that says what to set.

    The providers made from the same four variables share one MSAL sign-in (see
    `SecureApplicationModel`); each one's `close()` gives its share back. Nothing is sent
    before the first token is asked for.
    """
    _check_audience(audience)
    variable = TOKEN_VARIABLES[audience]
    token = env.get(variable, "").strip()
    if token:
        return StaticToken(token, variable)
    present = [name for name in REFRESH_VARIABLES if env.get(name, "").strip()]
    if len(present) < len(REFRESH_VARIABLES):
        raise AuthError(_no_credentials(audience, present))
    tenant_id, client_id, client_secret, refresh_token = (
        env[name].strip() for name in REFRESH_VARIABLES
    )
    login_url = env.get("PCR_LOGIN_URL", "").strip() or DEFAULT_LOGIN_URL
    ca = tuple(env.get(name, "").strip() for name in CA_VARIABLES)
    digest = hashlib.sha256("\0".join((client_secret, refresh_token)).encode()).hexdigest()
    key = (login_url, tenant_id, client_id, digest, *ca)
    with _SHARED_LOCK:
        sign_in = _SHARED.get(key)
        if sign_in is None:
            sign_in = SecureApplicationModel(
                tenant_id,
                client_id,
                client_secret,
                refresh_token,
                login_url=login_url,
                verify=trusted_certificates(*ca),
            )
            sign_in._shared_key = key
            _SHARED[key] = sign_in
        sign_in._users += 1
    return SamTokenProvider(sign_in, audience)


def trusted_certificates(cafile: str, capath: str) -> ssl.SSLContext | bool:
    """The CA certificates that SSL_CERT_FILE / SSL_CERT_DIR name, as httpx would load them
    for Partner Center and Graph; without them, httpx's own (certifi's)."""
    if not cafile and not capath:
        return True
    try:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    except (OSError, ssl.SSLError, ValueError) as exc:
        names = " and ".join(
            name for name, value in zip(CA_VARIABLES, (cafile, capath), strict=True) if value
        )
        raise ConfigurationError(
            f"{names}: cannot load CA certificates from it ({type(exc).__name__}); point "
            "SSL_CERT_FILE at a PEM bundle"
        ) from None


def _no_credentials(audience: str, present: list[str]) -> str:
    missing = [name for name in REFRESH_VARIABLES if name not in present]
    partial = f" (missing: {', '.join(missing)})" if present else ""
    sam = f"or all of {', '.join(REFRESH_VARIABLES)} for the Secure Application Model{partial}"
    if audience == GRAPH:
        return (
            "no Microsoft Graph credentials (GDAP needs them): set PCR_GRAPH_TOKEN to an "
            f"App+User bearer token for {GRAPH_RESOURCE} (a PCR_TOKEN is for Partner Center "
            f"only), {sam}."
        )
    return (
        "no Partner Center credentials: set PCR_TOKEN to an App+User bearer token, "
        f"{sam}. For a local run, `az account get-access-token --resource "
        f"{PARTNER_CENTER_RESOURCE} --query accessToken -o tsv` prints a token."
    )
