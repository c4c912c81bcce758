"""Bearer tokens for Partner Center and Microsoft Graph, and the endpoint rules that keep them safe.

Relationship removal and entitlement reads need App+User credentials, and so does GDAP on
Microsoft Graph; a token for one audience is no good for the other. Two ways in, per
audience: a ready-made token (`PCR_TOKEN` for Partner Center, `PCR_GRAPH_TOKEN` for Graph,
e.g. from the Azure CLI for a local run), or the Secure Application Model (`sam`): the
refresh token from one interactive MFA sign-in (`pcr login`, `signin`), redeemed through
MSAL (`msal_app`, whose HTTP goes through `login_http`). `credentials` picks between them
from the environment.

No object here ever shows a secret: reprs and error messages name the credential, never its
value, and MSAL's log records are scrubbed of the ones it handles.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Protocol

import httpx

from reconciler.live.errors import AuthError
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import InvalidEndpointError
from reconciler.live.errors import one_line

# The audiences a token is for: `token_provider_from_env(env, audience=GRAPH)`.
PARTNER_CENTER = "partner_center"
GRAPH = "graph"
AUDIENCES = (PARTNER_CENTER, GRAPH)

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
# What MSAL asks the v2 token endpoint for, per audience (docs/partner-center.md,
# "Signing in once: `pcr login`").
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
    shown = shown_url(url)
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


def shown_url(url: str) -> str:
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


def check_audience(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}: expected one of {', '.join(AUDIENCES)}")


def login_root(login_url: str) -> str:
    """The authority root MSAL is given, or a one-line error: https, a host, no path."""
    parsed = check_endpoint_url(login_url)
    if parsed.scheme != "https":
        raise InsecureEndpointError(
            f"refusing sign-in endpoint {shown_url(login_url)}: MSAL signs in over https only (for "
            "a test server on loopback, trust its certificate with SSL_CERT_FILE)"
        )
    if parsed.path not in ("", "/"):
        raise InvalidEndpointError(
            f"refusing sign-in endpoint {shown_url(login_url)}: PCR_LOGIN_URL is the authority's "
            f"root, with no path (e.g. {DEFAULT_LOGIN_URL})"
        )
    return str(parsed.copy_with(path="/")).rstrip("/")


def error_kind(exc: BaseException) -> str:
    kind = type(exc)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
