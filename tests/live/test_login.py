"""`pcr login`: the interactive sign-in that gives the Secure Application Model its refresh token,
against a fake Entra ID over TLS on loopback (entra.py).

The end-to-end tests run the installed pcr; the test plays the browser: it reads the sign-in
address pcr prints, asks the fake Entra ID for it (which signs the user in and redirects), and
follows the redirect to pcr's loopback listener. The refresh token must come out once, on
standard output, and nowhere else: not on standard error, not in any file (HOME is the test's).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import httpx
import pytest

from reconciler.commands import login as login_command
from reconciler.errors import PcrError
from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import SCOPES
from reconciler.live.signin import Application
from reconciler.live.signin import DeviceCode
from reconciler.live.signin import RedirectListener
from reconciler.live.signin import SignInCancelled
from reconciler.live.signin import SignInError
from reconciler.live.signin import SignInTimeout
from reconciler.live.signin import sign_in_with_browser
from reconciler.live.signin import sign_in_with_device_code
from tests.artifact import offline_env
from tests.live.entra import CLIENT
from tests.live.entra import DECLINED
from tests.live.entra import DEVICE_GRANT
from tests.live.entra import GRAPH_NOT_CONSENTED
from tests.live.entra import PKCE_MISMATCH
from tests.live.entra import SAFETY_SECONDS
from tests.live.entra import SECRET
from tests.live.entra import TENANT
from tests.live.entra import USER
from tests.live.entra import FakeEntra
from tests.live.entra import Login
from tests.live.entra import s256

AUTHORIZE = "/oauth2/v2.0/authorize?"


class Browser:
    """What a browser does with the sign-in address: ask Entra ID, follow its redirect."""

    def __init__(self, ca: Path) -> None:
        context = ssl.create_default_context(cafile=str(ca))
        self.client = httpx.Client(verify=context, trust_env=False, timeout=SAFETY_SECONDS)

    def sign_in(self, address: str) -> httpx.Response:
        at_entra = self.client.get(address)
        assert at_entra.status_code == 302, at_entra.text
        return self.client.get(at_entra.headers["location"])


@pytest.fixture
def browser(login: Login) -> Iterator[Browser]:
    playing = Browser(login.ca)
    yield playing
    playing.client.close()


def query(address: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(address).query).items()}


def with_query(address: str, **changes: str) -> str:
    parts = urlsplit(address)
    return parts._replace(query=urlencode(query(address) | changes)).geturl()


def files_holding(folder: Path, *secrets: str) -> list[Path]:
    return [
        path
        for path in folder.rglob("*")
        if path.is_file() and any(secret.encode() in path.read_bytes() for secret in secrets)
    ]


# -- the installed pcr -------------------------------------------------------------------------


@dataclass
class Running:
    """`pcr login` running, its standard error read line by line as it comes."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    said: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, args=(self.process.stderr,))
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.said.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def line(self, wanted: Callable[[str], bool]) -> str:
        """The first line from now on that is `wanted`, as soon as pcr says it."""
        while (line := self.lines.get(timeout=SAFETY_SECONDS)) is not None:
            if wanted(line):
                return line.strip()
        raise AssertionError(f"pcr ended without saying it: {''.join(self.said)}")

    def address(self) -> str:
        return self.line(lambda line: AUTHORIZE in line)

    def finish(self) -> tuple[int, str, str]:
        code = self.process.wait(SAFETY_SECONDS)
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.reader.join(SAFETY_SECONDS)
        return code, out, "".join(self.said)


Start = Callable[..., Running]


@pytest.fixture
def start(pcr_executable: str, login: Login, tmp_path: Path) -> Iterator[Start]:
    """`start(*args, NAME=value or None)`: the installed `pcr login *args`, pointed at the
    fake, in a folder and a HOME of its own, with PCR_CLIENT_SECRET and without a browser."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    started: list[Running] = []

    def run(*args: str, **changes: str | None) -> Running:
        env = {k: v for k, v in offline_env().items() if "proxy" not in k.lower()}
        env |= login.env(HOME=str(home))
        del env["PCR_REFRESH_TOKEN"]  # what pcr login makes; it needs none
        for name, value in changes.items():
            if value is None:
                del env[name]
            else:
                env[name] = value
        process = subprocess.Popen(
            [pcr_executable, "login", "--no-browser", *args],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(Running(process))
        return started[-1]

    yield run
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
        running.finish()


def assert_printed_once(out: str, err: str, entra: FakeEntra, tmp_path: Path) -> None:
    """stdout is the newest refresh token, alone; no token or secret is anywhere else."""
    refresh_token = entra.issued[-1]
    assert refresh_token.startswith("rotated-")
    assert out == f"{refresh_token}\n"
    for secret in [*entra.issued, SECRET]:
        assert secret not in err, secret
    assert files_holding(tmp_path, *entra.issued, SECRET) == []
    # pcr wrote no file at all, in its working folder or its HOME (no token cache, no log).
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["home", "work"]
    assert "Traceback" not in err


def test_browser_sign_in_prints_the_refresh_token_once(
    start: Start, browser: Browser, entra: FakeEntra, tmp_path: Path
) -> None:
    running = start()
    address = running.address()
    asked = query(address)
    assert address.startswith(f"https://127.0.0.1:{urlsplit(address).port}/{TENANT}{AUTHORIZE}")
    assert asked["client_id"] == CLIENT
    assert asked["response_type"] == "code"
    assert asked["code_challenge_method"] == "S256" and asked["code_challenge"]
    assert asked["state"] and asked["prompt"] == "select_account"
    # Partner Center only; MSAL adds the reserved scopes once.
    assert sorted(asked["scope"].split()) == sorted(
        [SCOPES[PARTNER_CENTER], "openid", "profile", "offline_access"]
    )
    redirect_uri = urlsplit(asked["redirect_uri"])
    assert (redirect_uri.scheme, redirect_uri.hostname) == ("http", "localhost")
    page = browser.sign_in(address)
    assert page.status_code == 200 and "You can close this tab" in page.text
    code, out, err = running.finish()
    assert code == 0, err
    assert_printed_once(out, err, entra, tmp_path)
    redeemed, graph = entra.grants
    # The code, with the verifier of the challenge, at the redirect URI it was sent to.
    assert redeemed["grant_type"] == "authorization_code"
    assert s256(redeemed["code_verifier"]) == asked["code_challenge"]
    assert redeemed["redirect_uri"] == asked["redirect_uri"]
    assert redeemed["client_secret"] == SECRET
    # The refresh token redeemed for Microsoft Graph, as pcr's runs redeem it.
    assert graph["grant_type"] == "refresh_token" and SCOPES[GRAPH] in graph["scope"].split()
    assert graph["refresh_token"] == entra.issued[1]
    assert f"signed in as {USER}" in err
    assert "redeems for Partner Center and Microsoft Graph" in err
    assert "PCR_REFRESH_TOKEN" in err and "pcr writes it nowhere" in err


def test_device_code_sign_in_prints_the_refresh_token_once(
    start: Start, entra: FakeEntra, login: Login, tmp_path: Path
) -> None:
    running = start("--device-code")
    told = running.line(lambda line: "enter the code" in line)
    assert f"open {login.url}/devicelogin in a browser on any device" in told
    assert told.endswith(f"enter the code {entra.user_codes[0]}")
    code, out, err = running.finish()
    assert code == 0, err
    assert_printed_once(out, err, entra, tmp_path)
    *polls, graph = entra.grants
    # Pending twice, then the tokens; each poll authenticates the (confidential) client.
    assert [poll["grant_type"] for poll in polls] == [DEVICE_GRANT] * 3
    assert all(poll["client_secret"] == SECRET for poll in polls)
    assert graph["grant_type"] == "refresh_token"
    devicecode = [r for r in entra.received if r.path.endswith("/devicecode")]
    assert len(devicecode) == 1
    assert SCOPES[PARTNER_CENTER] in devicecode[0].form["scope"].split()


def test_an_answer_with_another_state_is_refused(
    start: Start, browser: Browser, entra: FakeEntra, tmp_path: Path
) -> None:
    running = start()
    address = running.address()
    listener = query(address)["redirect_uri"]
    planted = browser.client.get(f"{listener}/?code=code-planted&state=not-this-one")
    assert planted.status_code == 400 and "was refused" in planted.text
    running.line(lambda line: "does not carry its state" in line)
    page = browser.sign_in(address)  # the real sign-in is still waited for
    assert page.status_code == 200
    code, out, err = running.finish()
    assert code == 0, err
    assert_printed_once(out, err, entra, tmp_path)
    assert all(grant.get("code") != "code-planted" for grant in entra.grants)


def test_a_declined_consent_says_so(start: Start, browser: Browser, entra: FakeEntra) -> None:
    entra.decline = True
    running = start()
    page = browser.sign_in(running.address())
    assert "Sign-in not completed" in page.text
    code, out, err = running.finish()
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        f"pcr: the sign-in was cancelled (access_denied): {DECLINED.rstrip('.')}. "
        "Run `pcr login` again"
    )
    assert entra.grants == []


@pytest.mark.parametrize(
    ("missing", "named"),
    [("PCR_CLIENT_ID", "--client-id"), ("PCR_TENANT_ID", "--tenant")],
)
def test_a_missing_setting_is_named(start: Start, missing: str, named: str) -> None:
    code, out, err = start(**{missing: None}).finish()
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith("pcr: no ")
    assert missing in err and named in err


def test_a_refused_code_reports_entras_error(
    start: Start, browser: Browser, entra: FakeEntra
) -> None:
    """A code bound to another challenge (one planted by whoever made the address) is
    refused by Entra ID: pcr's verifier does not match it."""
    running = start()
    planted = with_query(running.address(), code_challenge=s256("an attacker's verifier" * 2))
    assert browser.sign_in(planted).status_code == 200
    code, out, err = running.finish()
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == (
        f"pcr: Entra ID refused the sign-in (invalid_grant): {PKCE_MISMATCH.rstrip('.')}. "
        "Run `pcr login` again (a sign-in is good once, for a few minutes)."
    )
    assert [grant["grant_type"] for grant in entra.grants] == ["authorization_code"]


def test_ctrl_c_stops_the_wait(start: Start) -> None:
    running = start()
    listener = urlsplit(query(running.address())["redirect_uri"])
    running.process.send_signal(signal.SIGINT)
    code, out, err = running.finish()
    assert (code, out) == (130, "")
    assert err.splitlines()[-1] == "pcr: interrupted: no refresh token was printed"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", listener.port), timeout=SAFETY_SECONDS)


# -- the sign-in in process ---------------------------------------------------------------------


def application(login: Login, **changes: object) -> Application:
    fields: dict[str, object] = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "login_url": login.url,
        "verify": ssl.create_default_context(cafile=str(login.ca)),
    }
    return Application(**(fields | changes))  # type: ignore[arg-type]


def test_a_public_client_signs_in_without_a_secret(
    login: Login, entra: FakeEntra, browser: Browser
) -> None:
    entra.client_secret = None
    pages: list[httpx.Response] = []

    def show(address: str, redirect_uri: str) -> None:
        assert query(address)["redirect_uri"] == redirect_uri
        pages.append(browser.sign_in(address))

    signed_in = sign_in_with_browser(application(login, client_secret=None), show)
    assert signed_in.refresh_token == entra.issued[-1]
    assert (signed_in.username, signed_in.graph_refusal) == (USER, None)
    assert "client_secret" not in str(entra.grants)
    assert pages[0].status_code == 200
    assert signed_in.refresh_token not in repr(signed_in)


def test_msal_logs_show_no_secret(
    login: Login, entra: FakeEntra, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    codes: list[str] = []

    def show(address: str, redirect_uri: str) -> None:
        back = browser.client.get(address).headers["location"]
        codes.append(query(back)["code"])
        browser.client.get(back)

    signed_in = sign_in_with_browser(application(login), show)
    assert signed_in.refresh_token == entra.issued[-1]
    # MSAL's records and pcr's (the test's browser logs what a browser would show).
    logged = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in ("msal", "reconciler")
    )
    assert "msal" in caplog.text and logged  # MSAL did log, at debug level
    for secret in [*entra.issued, SECRET, codes[0], entra.grants[0]["code_verifier"]]:
        assert secret not in logged, secret


def test_no_redirect_in_time_is_a_timeout_and_frees_the_port(login: Login) -> None:
    listening: list[str] = []
    with pytest.raises(SignInTimeout) as caught:
        sign_in_with_browser(
            application(login), lambda address, at: listening.append(at), timeout=0
        )
    assert str(caught.value) == (
        f"the browser did not come back to {listening[0]} within 0 seconds. If Entra ID showed "
        "AADSTS50011, add http://localhost as a redirect URI of the app; or use "
        "`pcr login --device-code`"
    )
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", urlsplit(listening[0]).port or 0))


def test_an_interrupt_closes_the_listener(login: Login) -> None:
    listening: list[str] = []

    def interrupted(address: str, redirect_uri: str) -> None:
        listening.append(redirect_uri)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sign_in_with_browser(application(login), interrupted)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", urlsplit(listening[0]).port or 0))


@pytest.mark.parametrize(
    ("error", "expires_in", "kind", "message"),
    [
        ("expired_token", 900, SignInTimeout, "the device code expired before the sign-in"),
        (None, 0, SignInTimeout, "the device code expired before the sign-in was completed: run"),
        ("authorization_declined", 900, SignInCancelled, "the sign-in was cancelled"),
    ],
)
def test_a_device_code_that_runs_out_or_is_declined(
    login: Login,
    entra: FakeEntra,
    error: str | None,
    expires_in: int,
    kind: type[SignInError],
    message: str,
) -> None:
    entra.device_error, entra.device_expires_in = error, expires_in
    entra.device_pending = 1000  # the user never finishes
    codes: list[DeviceCode] = []
    with pytest.raises(kind) as caught:
        sign_in_with_device_code(application(login), codes.append)
    assert str(caught.value).startswith(message)
    assert codes[0].user_code == entra.user_codes[0]
    assert entra.issued == []


def test_a_tenant_the_sign_in_endpoint_does_not_know(login: Login) -> None:
    app = application(login, tenant_id="contoso.onmicrosoft.com")
    with pytest.raises(SignInError) as caught:
        sign_in_with_device_code(app, pytest.fail)
    assert str(caught.value) == (
        f"{login.url} has no OpenID configuration for tenant contoso.onmicrosoft.com (HTTP 404): "
        "check PCR_TENANT_ID and PCR_LOGIN_URL"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"access_token": "x", "id_token": "not-a-jwt"}', "an answer MSAL cannot read ("),
        (b'{"token_type": "Bearer"}', "answered without an access token"),
        (b'{"access_token": "pc-access-x", "expires_in": 3600}', "gave no refresh token"),
    ],
)
def test_an_answer_that_is_no_token_answer(
    login: Login, entra: FakeEntra, body: bytes, message: str
) -> None:
    entra.answers.append((200, body))
    codes: list[DeviceCode] = []
    with pytest.raises(SignInError, match=re.escape(message)):
        sign_in_with_device_code(application(login), codes.append)
    assert len(codes) == 1


def test_refusals_show_no_secret(login: Login, entra: FakeEntra, browser: Browser) -> None:
    """Entra ID's description may echo what it was sent: the secret, the code."""
    codes: list[str] = []

    def show(address: str, redirect_uri: str) -> None:
        back = browser.client.get(address).headers["location"]
        codes.append(query(back)["code"])
        description = f"AADSTS7000215: Invalid client secret {SECRET} for {codes[0]}.\r\nTrace"
        refused = {"error": "invalid_client", "error_description": description}
        entra.answers.append((401, json.dumps(refused).encode()))
        browser.client.get(back)

    with pytest.raises(SignInError) as caught:
        sign_in_with_browser(application(login), show)
    assert str(caught.value) == (
        "Entra ID refused the sign-in (invalid_client): AADSTS7000215: Invalid client secret "
        "<hidden> for <hidden>. Check PCR_CLIENT_ID and PCR_CLIENT_SECRET (a client secret "
        "expires too; an app without one must allow public client flows)."
    )


def test_the_listener_takes_only_an_answer_of_this_sign_in() -> None:
    refused: list[str] = []
    with RedirectListener(refused.append) as listener:
        listener.expect("state-1")
        assert listener.take("/favicon.ico", "")[0] == 404
        assert listener.take("/", "")[0] == 400  # no answer at all
        assert listener.take("/", "code=c&state=state-1&state=state-1")[0] == 400  # twice
        assert listener.take("/", "code=c&error=access_denied&state=state-1")[0] == 400
        assert refused == []
        assert listener.take("/", "code=c&state=state-2")[0] == 400
        assert len(refused) == 1
        assert listener.take("/", "code=c&state=state-1")[0] == 200
        assert listener.take("/", "code=other&state=state-1")[0] == 200  # "sign-in over"
        # Taken, but acted on only once the browser has its page: pcr may exit on it.
        with pytest.raises(SignInTimeout):
            listener.wait(0)
        listener.delivered()
        assert listener.wait(0) == {"code": "c", "state": "state-1"}


def test_the_listener_takes_a_posted_answer_too() -> None:
    """response_mode=form_post: Entra ID's page posts the answer to the redirect URI."""
    with RedirectListener() as listener, httpx.Client(trust_env=False) as client:
        listener.expect("state-1")
        posted = client.post(f"{listener.redirect_uri}/", data={"code": "c", "state": "state-1"})
        assert posted.status_code == 200 and "You can close this tab" in posted.text
        assert listener.wait(SAFETY_SECONDS) == {"code": "c", "state": "state-1"}


# -- the command in process ---------------------------------------------------------------------


def options(login: Login, **changes: object) -> login_command.LoginOptions:
    env = login.env()
    del env["PCR_REFRESH_TOKEN"]
    fields: dict[str, object] = {
        "tenant": TENANT,
        "client_id": CLIENT,
        "device_code": False,
        "open_browser": True,
        "env": env,
    }
    return login_command.LoginOptions(**(fields | changes))  # type: ignore[arg-type]


def test_the_browser_is_opened_and_the_address_printed_all_the_same(
    login: Login,
    entra: FakeEntra,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    opened: list[str] = []

    def open_browser(address: str) -> bool:
        opened.append(address)
        os.write(1, b"Opened a new tab.\n")  # as some browsers do
        browser.sign_in(address)
        return True

    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(login_command.webbrowser, "open", open_browser)
    assert login_command.run(options(login)) == 0
    out, err = capfd.readouterr()
    assert out == f"{entra.issued[-1]}\n"
    assert f"  {opened[0]}\n" in err and "Opened a new tab." in err
    assert "no browser opened" not in err


def test_no_browser_is_opened_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's webbrowser would start a text browser in the terminal instead."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(login_command.sys, "platform", "linux")
    monkeypatch.setattr(login_command.webbrowser, "open", pytest.fail)
    assert login_command._browse("https://login.test/t/oauth2/v2.0/authorize?x=1") is False


def test_a_refresh_token_without_graph_consent_is_a_warning(
    login: Login,
    entra: FakeEntra,
    browser: Browser,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entra.refuse_graph = True
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(login_command.webbrowser, "open", lambda a: bool(browser.sign_in(a)))
    assert login_command.run(options(login)) == 0
    out, err = capsys.readouterr()
    assert out == f"{entra.issued[-1]}\n"  # the one from the sign-in: Graph rotated nothing
    assert (
        "pcr: warning: not for Microsoft Graph, which GDAP needs (offboarding with gdap: "
        "terminate): the token endpoint refused the refresh token for Microsoft Graph "
        f"(invalid_grant): {GRAPH_NOT_CONSENTED.rstrip('.')}."
    ) in err


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tenant": "a/b"}, "pcr: the tenant (--tenant or PCR_TENANT_ID) is not a tenant"),
        ({"client_id": "two words"}, "pcr: the client id (--client-id or PCR_CLIENT_ID) is not"),
        ({"tenant": None, "client_id": " "}, "pcr: no partner tenant: set PCR_TENANT_ID or"),
    ],
)
def test_settings_that_are_not_usable(
    login: Login, capsys: pytest.CaptureFixture[str], changes: dict[str, object], message: str
) -> None:
    with pytest.raises(PcrError) as refused:
        login_command.run(options(login, **changes))
    assert refused.value.exit_code == 1
    assert capsys.readouterr() == ("", "")  # the CLI says the one line
    said = f"pcr: {refused.value.message}"
    assert said.startswith(message) and len(said.splitlines()) == 1


def test_the_secret_never_shows_in_the_options(login: Login) -> None:
    assert SECRET not in repr(options(login))
