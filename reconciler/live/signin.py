"""The interactive sign-in behind `pcr login`: it gives the Secure Application Model its
refresh token.

A partner user signs in once, with MFA, to the partner's own app registration, and the
refresh token Entra ID answers with is what pcr's CI runs redeem (`auth.SecureApplicationModel`,
PCR_REFRESH_TOKEN). Two ways in, both through MSAL:

- the authorization code flow with PKCE: the browser signs in at Entra ID and is redirected to
  a one-shot listener on this machine's loopback (`http://localhost:<free port>`), which takes
  the code only with the `state` of this sign-in; MSAL redeems it with the PKCE verifier;
- the device code flow: the user signs in on any device with a code, while pcr polls.

With a client secret the app is a `ConfidentialClientApplication` (a SAM app is a web app),
without one a `PublicClientApplication`.

The sign-in asks for Partner Center (`user_impersonation`) only: a token request is for one
audience, and Entra ID's refresh token redeems for every resource the app has consent for.
That is checked at once, the way pcr's runs use it: by redeeming it for Microsoft Graph.

Nothing is written anywhere: MSAL's token cache is in memory, the refresh token is handed to
the caller only (to print once), and no message or MSAL log record shows a secret.
"""

from __future__ import annotations

import hmac
import http.server
import socketserver
import ssl
import threading
import urllib.parse
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

from reconciler.interrupts import leave_signals_to_main
from reconciler.live.auth import DEFAULT_LOGIN_URL
from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import SCOPES
from reconciler.live.auth import TENANT
from reconciler.live.auth import check_token
from reconciler.live.closing import Closing
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import one_line
from reconciler.live.msal_app import MsalApp
from reconciler.live.msal_app import refusal_parts
from reconciler.live.sam import refusal_message
from reconciler.wording import in_words

T = TypeVar("T")

# What the sign-in asks for: Partner Center, as the partner user. MSAL adds openid, profile
# and offline_access (the refresh token) to its application methods itself, and refuses them
# from the caller.
SIGN_IN_SCOPES = (SCOPES[PARTNER_CENTER],)
# MSAL's protocol layer, which the device flow goes through, adds nothing: these are added once.
_RESERVED_SCOPES = ("openid", "profile", "offline_access")

# Where the browser comes back to. Entra ID ignores the port of a loopback redirect URI, so
# `http://localhost` registered on the app covers whichever port is free.
REDIRECT_HOST = "localhost"
# The listener is on the loopback address only: nothing off this machine can reach it.
_LISTEN_ADDRESS = "127.0.0.1"
# How long the browser has to come back: as long as Entra ID gives a device code.
BROWSER_SECONDS = 15 * 60.0

# The refusals that mean the user said no, at the consent prompt or on the device code page.
_CANCELLED = ("access_denied", "authorization_declined")
# The device code flow's answers while the user has not finished yet (RFC 8628, 3.5).
_PENDING = ("authorization_pending", "slow_down")


class SignInError(AuthError):
    """The sign-in gave no refresh token; the message says why, and what to do."""


class SignInCancelled(SignInError):
    """The user declined, in the browser or on the device code page."""


class SignInTimeout(SignInError):
    """Nobody came back in time: no redirect reached the listener, or the device code expired."""


@dataclass(frozen=True)
class Application:
    """The partner's app registration that a partner user signs in to, in the partner tenant."""

    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    login_url: str = DEFAULT_LOGIN_URL
    verify: ssl.SSLContext | bool = True  # the CA certificates of the sign-in endpoint


@dataclass(frozen=True)
class DeviceCode:
    """What the user is told to do in the device code flow."""

    verification_uri: str
    user_code: str
    expires_in: int  # seconds


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in."""

    refresh_token: str = field(repr=False)
    username: str | None  # who signed in (the ID token's preferred_username), to show
    graph_refusal: str | None  # why the refresh token does not redeem for Graph; None: it does


def sign_in_with_browser(
    app: Application,
    show: Callable[[str, str], None],
    *,
    refused: Callable[[str], None] = lambda reason: None,
    timeout: float = BROWSER_SECONDS,
) -> SignedIn:
    """Sign in through a browser: `show(address, redirect_uri)` is called once the listener
    waits at `redirect_uri`, to send the user to `address`; `refused(reason)` whenever an
    answer reaches the listener that is not this sign-in's (it keeps waiting)."""
    with _SignIn(app) as sign_in, RedirectListener(refused) as listener:
        flow = sign_in.start_auth_code_flow(listener.redirect_uri)
        listener.expect(flow["state"])
        show(flow["auth_uri"], listener.redirect_uri)
        answer = listener.wait(timeout)
        return sign_in.finish(sign_in.redeem_code(flow, answer))


def sign_in_with_device_code(app: Application, show: Callable[[DeviceCode], None]) -> SignedIn:
    """Sign in with a device code: `show(code)` tells the user where to enter it, and the
    token endpoint is polled until the user is done or the code expires."""
    with _SignIn(app) as sign_in:
        flow = sign_in.start_device_flow()
        show(DeviceCode(flow["verification_uri"], flow["user_code"], flow["expires_in"]))
        return sign_in.finish(sign_in.poll_device_flow(flow))


# -- MSAL ---------------------------------------------------------------------------------------


class _SignIn(Closing):
    """One sign-in: its MSAL application (`MsalApp`: an in-memory token cache, the sign-in host
    only, every secret it sees remembered to be scrubbed)."""

    def __init__(self, app: Application) -> None:
        if not TENANT.fullmatch(app.tenant_id):  # not shown: it may be a misplaced secret
            raise ConfigurationError(
                "the tenant (--tenant or PCR_TENANT_ID) is not a tenant: expected the partner "
                "tenant's id (a GUID) or its domain name (contoso.onmicrosoft.com)"
            )
        self.app = app
        self._msal = MsalApp(
            app.tenant_id,
            app.client_id,
            app.client_secret,
            login_url=app.login_url,
            verify=app.verify,
            error=SignInError,
            tenant_hint="the tenant (--tenant or PCR_TENANT_ID)",
        )

    @property
    def root(self) -> str:
        return self._msal.login_url

    def close(self) -> None:
        self._msal.close()

    # -- the authorization code flow ------------------------------------------------------------

    def start_auth_code_flow(self, redirect_uri: str) -> dict[str, Any]:
        """MSAL's flow: the address to send the browser to (`auth_uri`), with a fresh `state`
        and PKCE challenge (S256); the verifier stays in the flow, in memory."""
        app = self._application()
        flow: dict[str, Any] = self._call(
            lambda: app.initiate_auth_code_flow(
                list(SIGN_IN_SCOPES),
                redirect_uri=redirect_uri,
                prompt="select_account",  # the partner user, not whoever the browser knows
            )
        )
        self._remember(str(flow.get("code_verifier") or ""))
        return flow

    def redeem_code(self, flow: dict[str, Any], answer: Mapping[str, str]) -> Any:
        """Entra ID's answer to the browser, traded for tokens by MSAL (which checks the state
        again and sends the PKCE verifier), or the refusal it carries."""
        if "error" in answer:
            raise self._refusal(answer)
        self._remember(answer["code"])
        app = self._application()
        response = {"code": answer["code"], "state": answer["state"]}
        return self._call(lambda: app.acquire_token_by_auth_code_flow(flow, response))

    # -- the device code flow -------------------------------------------------------------------

    def start_device_flow(self) -> dict[str, Any]:
        """A device code from Entra ID. MSAL offers the device flow on its public client only;
        the protocol layer under both (`client`) has it, and a confidential one sends its
        secret with the token requests, as Entra ID asks of a web app."""
        client = self._application().client
        scopes = [*SIGN_IN_SCOPES, *_RESERVED_SCOPES]
        flow = self._call(lambda: client.initiate_device_flow(scope=scopes))
        if not isinstance(flow, dict) or "error" in flow:
            raise self._refusal(flow if isinstance(flow, dict) else {})
        fields = ("device_code", "user_code", "verification_uri")
        if not all(isinstance(flow.get(name), str) and flow[name] for name in fields):
            raise SignInError(
                f"the device authorization endpoint of tenant {self.app.tenant_id} answered "
                "without a device code: that is no device code answer"
            )
        self._remember(flow["device_code"])
        flow["user_code"] = one_line(flow["user_code"], 40)  # shown: it came off the network
        flow["verification_uri"] = one_line(flow["verification_uri"], 200)
        # MSAL's polling loop looks at the clock only between polls: at least one second apart.
        flow["interval"] = max(1, flow["interval"])
        return flow

    def poll_device_flow(self, flow: dict[str, Any]) -> Any:
        """The token endpoint, polled at the interval Entra ID asked for (longer on `slow_down`)
        until the user has signed in or the code has expired."""
        client = self._application().client
        # MSAL's own device flow sends the device code as `code` too; so does this one.
        data = {"code": flow["device_code"]}
        result = self._call(lambda: client.obtain_token_by_device_flow(flow, data=data))
        if isinstance(result, dict) and result.get("error") in _PENDING:
            raise SignInTimeout(
                "the device code expired before the sign-in was completed: run "
                "`pcr login --device-code` again"
            )
        return result

    # -- the answer -----------------------------------------------------------------------------

    def finish(self, result: Any) -> SignedIn:
        """The refresh token of a successful answer (the newest one, should the check for Graph
        have rotated it), and who signed in."""
        self._access_token(result)
        if self._msal.refresh_token is None:
            raise SignInError(
                "Entra ID signed the user in but gave no refresh token: the app needs the "
                "offline_access permission (Microsoft Graph, delegated)"
            )
        graph_refusal = self._graph_refusal(self._msal.refresh_token)
        refresh_token = check_token(self._msal.refresh_token, "the refresh token from Entra ID")
        return SignedIn(refresh_token, _username(result), graph_refusal)

    def _graph_refusal(self, refresh_token: str) -> str | None:
        """Why the refresh token does not redeem for Microsoft Graph, as pcr's runs redeem it
        (GDAP needs it); None if it does. The sign-in stands either way."""
        app = self._application()
        scopes = [SCOPES[GRAPH]]
        try:
            result = self._call(lambda: app.acquire_token_by_refresh_token(refresh_token, scopes))
            if isinstance(result, dict) and "error" in result:
                return self._msal.scrub(refusal_message(GRAPH, result))
            self._access_token(result)
        except AuthError as exc:
            return str(exc)
        return None

    def _access_token(self, result: Any) -> str:
        return self._msal.access_token(result, self._refusal)

    def _refusal(self, payload: Mapping[str, Any]) -> SignInError:
        """What Entra ID said when it refused (in a redirect or a token answer), scrubbed."""
        kind, message = _refusal_of(payload)
        return kind(self._msal.scrub(message))

    def _application(self) -> Any:
        return self._msal.application()

    def _call(self, call: Callable[[], T]) -> T:
        with warnings.catch_warnings():
            # MSAL warns that it prefers response_mode=form_post; the listener takes the query
            # of a redirect, whose code is worth nothing without the PKCE verifier.
            warnings.simplefilter("ignore")
            return self._msal.call(call)

    def _remember(self, secret: str) -> None:
        self._msal.remember(secret)


def _refusal_of(payload: Mapping[str, Any]) -> tuple[type[SignInError], str]:
    """The kind of a refusal, and its message: Entra ID's code, the first line of its
    description (the rest is trace ids and timestamps), and what to do."""
    error, code, detail = refusal_parts(payload)
    if error in _CANCELLED:
        return SignInCancelled, f"the sign-in was cancelled ({code}){detail}. Run `pcr login` again"
    if error == "expired_token":
        return SignInTimeout, (
            f"the device code expired before the sign-in was completed ({code}){detail}. "
            "Run `pcr login --device-code` again"
        )
    return SignInError, f"Entra ID refused the sign-in ({code}){detail}. {_advice(error)}"


def _advice(error: str) -> str:
    if error in ("invalid_client", "unauthorized_client"):
        return (
            "Check PCR_CLIENT_ID and PCR_CLIENT_SECRET (a client secret expires too; an app "
            "without one must allow public client flows)."
        )
    if error in ("invalid_scope", "consent_required", "interaction_required"):
        return (
            f"Grant the app the delegated permission {SCOPES[PARTNER_CENTER]} (Partner Center) "
            "and its admin consent."
        )
    if error in ("temporarily_unavailable", "server_error"):
        return "Try again later."
    if error == "invalid_grant":
        return "Run `pcr login` again (a sign-in is good once, for a few minutes)."
    return "Check the tenant, PCR_CLIENT_ID and the app registration."


def _username(result: Mapping[str, Any]) -> str | None:
    claims = result.get("id_token_claims")
    name = claims.get("preferred_username") if isinstance(claims, dict) else None
    return one_line(name, 120) if isinstance(name, str) and name else None


# -- the loopback listener ----------------------------------------------------------------------

_PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8"><title>pcr login</title>'
    '<body style="font-family: sans-serif"><h1>{title}</h1><p>{text}</p></body></html>'
)
_SIGNED_IN = _PAGE.format(
    title="Signed in",
    text="pcr has the sign-in. You can close this tab and go back to the terminal.",
)
_DECLINED = _PAGE.format(
    title="Sign-in not completed",
    text="Entra ID did not sign you in; the terminal says why. You can close this tab.",
)
_NOT_THIS = _PAGE.format(
    title="Not this sign-in",
    text="This answer does not belong to the sign-in pcr is waiting for, and was refused.",
)
_DONE = _PAGE.format(title="Sign-in over", text="pcr is no longer waiting. You can close this tab.")
_NOT_FOUND = _PAGE.format(title="Not found", text="pcr waits for the sign-in elsewhere.")


class RedirectListener:
    """The end of the browser's round trip: a one-shot HTTP listener on the loopback address.

    It takes Entra ID's answer (`code` and `state`, or `error`) from the query of the redirect,
    and only one that carries the `state` of this sign-in: any other is refused (an answer
    planted by another page), and the listener keeps waiting. After the first good answer it
    takes none. Requests are served in threads of their own, which leave the signals to the
    main thread, waiting in `wait`."""

    def __init__(self, refused: Callable[[str], None] = lambda reason: None) -> None:
        self._refused = refused
        self._state: str | None = None
        self._answer: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._lock = threading.Lock()
        try:
            self._server = _Server((_LISTEN_ADDRESS, 0), _Handler)
        except OSError as exc:
            raise SignInError(
                f"cannot listen on {_LISTEN_ADDRESS} for the browser's redirect "
                f"({type(exc).__name__}): use `pcr login --device-code`"
            ) from None
        self._server.listener = self
        self.redirect_uri = f"http://{REDIRECT_HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._serve, name="pcr-login", daemon=True)

    def __enter__(self) -> RedirectListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening (the port is free again once this returns)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def expect(self, state: str) -> None:
        """The `state` of this sign-in: only an answer carrying it is taken."""
        self._state = state

    def wait(self, timeout: float) -> dict[str, str]:
        """The answer, once the browser brings it; a signal ends the wait at once."""
        if not self._arrived.wait(timeout):
            raise SignInTimeout(
                f"the browser did not come back to {self.redirect_uri} within "
                f"{in_words(timeout)}. If Entra ID showed AADSTS50011, add http://localhost "
                "as a redirect URI of the app; or use `pcr login --device-code`"
            )
        assert self._answer is not None
        return self._answer

    def take(self, path: str, fields: str) -> tuple[int, str]:
        """The status and page for a request to `path` whose query (or form, should Entra ID
        post the answer) is `fields`, taking the answer it carries if it is this sign-in's."""
        if path != "/":
            return 404, _NOT_FOUND
        answer = _answer(fields)
        if answer is None:
            return 400, _NOT_THIS
        with self._lock:
            if self._answer is not None:
                return 200, _DONE
            expected = self._state
            if expected is None or not hmac.compare_digest(
                answer.get("state", "").encode(), expected.encode()
            ):
                self._refused(
                    "refused an answer to the sign-in that does not carry its state (it is not "
                    "from this sign-in); still waiting"
                )
                return 400, _NOT_THIS
            self._answer = answer
        return (200, _SIGNED_IN) if "code" in answer else (200, _DECLINED)

    def delivered(self) -> None:
        """The browser has its page: the answer it brought (if any) may be acted on now. Not
        before: pcr may exit on it at once, and the browser would get half a page."""
        if self._answer is not None:
            self._arrived.set()

    def _serve(self) -> None:
        leave_signals_to_main()
        self._server.serve_forever(poll_interval=0.05)


def _answer(query: str) -> dict[str, str] | None:
    """An authorization response (RFC 6749, 4.1.2): each field once, a code or an error."""
    try:
        fields = urllib.parse.parse_qs(query, strict_parsing=True, max_num_fields=16)
    except ValueError:
        return None
    if any(len(values) != 1 for values in fields.values()):
        return None
    answer = {name: values[0] for name, values in fields.items()}
    return answer if bool(answer.get("code")) != bool(answer.get("error")) else None


# An authorization response is a few KiB at most.
_FORM_BYTES = 64 * 1024


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    listener: RedirectListener

    def server_bind(self) -> None:
        # HTTPServer's own looks the address up in DNS for a name nobody reads here.
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser that hangs up early is no error of the sign-in's, and no traceback


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a connection that sends nothing holds no thread for long

    def do_GET(self) -> None:
        target = urllib.parse.urlsplit(self.path)
        self._answer(*self.server.listener.take(target.path, target.query))

    def do_POST(self) -> None:
        # The answer comes as a query today; response_mode=form_post, which MSAL is moving
        # to, posts it as a form instead.
        length = self.headers.get("Content-Length") or "0"
        if not (length.isascii() and length.isdigit()) or int(length) > _FORM_BYTES:
            self._send(400, _NOT_THIS)
            return
        form = self.rfile.read(int(length)).decode("ascii", errors="replace")
        self._answer(*self.server.listener.take(urllib.parse.urlsplit(self.path).path, form))

    def _answer(self, status: int, page: str) -> None:
        try:
            self._send(status, page)
        finally:  # a browser that hung up still brought the answer
            self.server.listener.delivered()

    def _send(self, status: int, page: str) -> None:
        body = page.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request line holds the code: it is logged nowhere
