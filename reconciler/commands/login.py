"""`pcr login`: sign a partner user in (interactively, with MFA) and print the Secure
Application Model refresh token once, for CI's PCR_REFRESH_TOKEN.

Standard output carries the refresh token and nothing else, so that `pcr login > FILE` or
`pcr login | gh secret set PCR_REFRESH_TOKEN` takes it whole; everything said to the user goes
to standard error. pcr writes the token nowhere.
"""

from __future__ import annotations

import os
import re
import sys
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import field

import click

from reconciler import interrupts
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.errors import PcrError
from reconciler.live.auth import CA_VARIABLES
from reconciler.live.auth import DEFAULT_LOGIN_URL
from reconciler.live.credentials import trusted_certificates
from reconciler.live.errors import ConfigurationError
from reconciler.live.signin import Application
from reconciler.live.signin import DeviceCode
from reconciler.live.signin import SignedIn
from reconciler.live.signin import sign_in_with_browser
from reconciler.live.signin import sign_in_with_device_code
from reconciler.wording import in_words

# A client id is an application id (a GUID); whatever it is, it goes into a URL as one word.
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,256}")


@dataclass(frozen=True)
class LoginOptions:
    tenant: str | None  # --tenant, or PCR_TENANT_ID
    client_id: str | None  # --client-id, or PCR_CLIENT_ID
    device_code: bool = False
    open_browser: bool = True
    # PCR_CLIENT_SECRET, PCR_LOGIN_URL, SSL_CERT_FILE: never in a repr, it holds the secret.
    env: dict[str, str] = field(default_factory=dict, repr=False)


def run(options: LoginOptions) -> int:
    try:
        app = _application(options)
        signed_in = _sign_in(app, options)
    except (interrupts.Interrupted, KeyboardInterrupt) as exc:  # the listener is closed by now
        # Not `pcr: interrupted` alone: whoever waits for the token learns there is none.
        raise PcrError(
            "interrupted: no refresh token was printed", exit_code=interrupts.EXIT_CODE
        ) from exc
    _report(signed_in)
    click.echo(signed_in.refresh_token)  # once, and the only thing on standard output
    return OK


def _application(options: LoginOptions) -> Application:
    """The app registration and tenant to sign in to, or a ConfigurationError naming what
    is missing (the values are not shown: one may be a misplaced secret)."""
    tenant = (options.tenant or "").strip()
    client_id = (options.client_id or "").strip()
    missing = []
    if not tenant:
        missing.append("no partner tenant: set PCR_TENANT_ID or pass --tenant (its id or domain)")
    if not client_id:
        missing.append(
            "no app to sign in to: set PCR_CLIENT_ID or pass --client-id (the application "
            "id of the partner's app registration)"
        )
    if missing:
        raise ConfigurationError("; ".join(missing))
    if not _CLIENT_ID.fullmatch(client_id):
        raise ConfigurationError(
            "the client id (--client-id or PCR_CLIENT_ID) is not an application id: expected "
            "one word of letters, digits and dashes (a GUID)"
        )
    env = options.env
    return Application(
        tenant_id=tenant,
        client_id=client_id,
        client_secret=env.get("PCR_CLIENT_SECRET", "").strip() or None,
        login_url=env.get("PCR_LOGIN_URL", "").strip() or DEFAULT_LOGIN_URL,
        verify=trusted_certificates(*(env.get(name, "").strip() for name in CA_VARIABLES)),
    )


def _sign_in(app: Application, options: LoginOptions) -> SignedIn:
    if app.client_secret is None:
        say(
            "no PCR_CLIENT_SECRET: signing in as a public client (the app must allow public "
            "client flows; pcr's runs need PCR_CLIENT_SECRET all the same)"
        )
    if options.device_code:
        return sign_in_with_device_code(app, _show_code)

    def show(address: str, redirect_uri: str) -> None:
        _show_address(address, redirect_uri, open_browser=options.open_browser)

    return sign_in_with_browser(app, show, refused=say)


def _show_address(address: str, redirect_uri: str, *, open_browser: bool) -> None:
    # The address is always printed: the browser may not open, or open on another screen.
    say("sign in as a partner user (a Partner Center admin, with MFA) at this address:")
    click.echo(f"  {address}", err=True)
    if open_browser and not _browse(address):
        say("no browser opened: open the address above in one (or use --device-code)")
    say(f"waiting for the browser to come back to {redirect_uri} (Ctrl+C to stop)")


def _browse(address: str) -> bool:
    # Without a display, Python's webbrowser falls back to a text browser that takes over
    # the terminal (over SSH, say), and no text browser can do the MFA sign-in.
    graphical = ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")
    if sys.platform.startswith("linux") and not any(os.environ.get(name) for name in graphical):
        return False
    try:
        with _stdout_to_stderr():
            return webbrowser.open(address)
    except webbrowser.Error:
        return False


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Standard output pointed at standard error while a browser starts: some print a line
    (that a tab opened), which must not land beside the token."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output: nothing to protect
        yield
        return
    try:
        with suppress(OSError):
            os.dup2(2, 1)
        yield
    finally:
        with suppress(OSError):
            os.dup2(saved, 1)
        os.close(saved)


def _show_code(code: DeviceCode) -> None:
    say(
        "to sign in as a partner user (a Partner Center admin, with MFA), open "
        f"{code.verification_uri} in a browser on any device and enter the code {code.user_code}"
    )
    say(
        f"waiting for the sign-in; the code expires in {in_words(code.expires_in)} (Ctrl+C to stop)"
    )


def _report(signed_in: SignedIn) -> None:
    who = f" as {signed_in.username}" if signed_in.username else ""
    if signed_in.graph_refusal is None:
        say(f"signed in{who}; the refresh token redeems for Partner Center and Microsoft Graph")
    else:
        say(f"signed in{who}; the refresh token redeems for Partner Center")
        say(
            "warning: not for Microsoft Graph, which GDAP needs (offboarding with gdap: "
            f"terminate): {signed_in.graph_refusal}"
        )
    say(
        "the refresh token follows on standard output, once: store it as the CI secret "
        "PCR_REFRESH_TOKEN (e.g. `pcr login | gh secret set PCR_REFRESH_TOKEN`), beside "
        "PCR_TENANT_ID, PCR_CLIENT_ID and PCR_CLIENT_SECRET. pcr writes it nowhere; treat it "
        "like a password, and run `pcr login` again before it lapses (Entra ID gives it 90 days)"
    )
    if sys.stdout.isatty():
        say("standard output is this terminal: the token shows on screen")
