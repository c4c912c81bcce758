"""The partner's app registration as MSAL sees it, as both of pcr's sign-ins use it: the runs'
(`auth.SecureApplicationModel`, redeeming the refresh token) and `pcr login`'s (`signin`,
getting it).

What they share is what keeps them safe: MSAL's token cache in memory only, MSAL's HTTP
through `login_http.LoginHttp` (the sign-in host only, answers bounded, secrets in answers
remembered), Entra ID's own hosts validated as MSAL validates them, and every failure of MSAL
turned into a one-line error that shows no secret.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import TypeVar

import httpx

from reconciler.live.auth import DEFAULT_LOGIN_URL
from reconciler.live.auth import check_token
from reconciler.live.auth import error_kind
from reconciler.live.auth import login_root
from reconciler.live.errors import AuthError
from reconciler.live.errors import BackendError
from reconciler.live.errors import one_line
from reconciler.live.errors import scrub
from reconciler.live.login_http import LOGIN_SECRETS
from reconciler.live.login_http import LoginFailure
from reconciler.live.login_http import LoginHttp
from reconciler.live.login_http import scrub_msal_logs

T = TypeVar("T")


class MsalApp:
    """One MSAL application of the partner's app registration in the partner tenant:
    confidential with a client secret (a Secure Application Model app is a web app), public
    without one. Built on first use; thread-safe.

    `error` is the kind of error its failures raise; `tenant_hint` names where the tenant came
    from, for the message when its OpenID configuration cannot be used.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: str | None,
        *,
        login_url: str,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
        error: type[AuthError] = AuthError,
        tenant_hint: str = "PCR_TENANT_ID",
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.login_url = login_root(login_url)
        self.error = error
        self.tenant_hint = tenant_hint
        # The newest refresh token an answer handed out (Entra ID rotates them).
        self.refresh_token: str | None = None
        self._client_secret = client_secret
        self._secrets: set[str] = set()
        self._secrets_lock = threading.Lock()
        self.remember(client_secret or "")
        self.http = LoginHttp(
            httpx.URL(self.login_url),
            tenant_id,
            verify=verify,
            transport=transport,
            remember=self.remember,
            rotated=self._rotated,
            custom_login=self.login_url != DEFAULT_LOGIN_URL,
        )
        self._app: Any = None
        self._build_lock = threading.Lock()

    def close(self) -> None:
        """Close the connections to the sign-in endpoint (a later request reopens them)."""
        self.http.close()

    def application(self) -> Any:
        """The MSAL application (`msal.ClientApplication`), built on first use."""
        with self._build_lock:
            if self._app is None:
                login = " and PCR_LOGIN_URL" if self.login_url != DEFAULT_LOGIN_URL else ""
                self._app = self.call(
                    self._build,
                    f"the OpenID configuration of tenant {self.tenant_id} at {self.login_url} "
                    "cannot be used",
                    f": check {self.tenant_hint}{login}",
                )
            return self._app

    def call(
        self,
        call: Callable[[], T],
        failure: str | None = None,
        advice: str = ": that is no token answer",
    ) -> T:
        """`call` into MSAL, whose every failure becomes a one-line error without secrets:
        `failure` (by default, an answer MSAL cannot read), the kind of exception, `advice`."""
        try:
            return call()
        except LoginFailure as exc:
            raise self.error(self.scrub(str(exc))) from None
        except BackendError:
            raise
        except Exception as exc:  # its text is not shown: it may quote what was received
            failure = failure or (
                f"the token endpoint for tenant {self.tenant_id} gave an answer MSAL cannot read"
            )
            raise self.error(f"{failure} ({error_kind(exc)}){advice}") from None

    def access_token(
        self,
        result: Any,
        refused: Callable[[Mapping[str, Any]], AuthError],
        audience_name: str | None = None,
    ) -> str:
        """The access token of MSAL's `result`; `refused(result)` is raised when it is Entra
        ID's refusal."""
        of = f" for {audience_name}" if audience_name else ""
        if not isinstance(result, dict):
            raise self.error(f"MSAL returned no token{of}")
        if "error" in result:
            raise refused(result)
        token = result.get("access_token")
        if not isinstance(token, str) or not token:
            raise self.error(
                f"the token endpoint for tenant {self.tenant_id} answered without an access "
                f"token{of}: that is no token answer"
            )
        return check_token(token, "the access token from the token endpoint")

    def silent(self, scopes: list[str], account: Mapping[str, Any]) -> Any:
        """MSAL's cached token of `scopes` for `account`, or one from the refresh token it
        holds for it; None when it holds none."""
        app = self.application()
        return self.call(lambda: app.acquire_token_silent_with_error(scopes, account=account))

    def redeem(self, refresh_token: str, scopes: list[str]) -> Any:
        """`refresh_token` traded for a token of `scopes` (MSAL's answer, an error or not)."""
        app = self.application()
        return self.call(lambda: app.acquire_token_by_refresh_token(refresh_token, scopes))

    def account(self) -> dict[str, Any] | None:
        """The account MSAL keeps tokens under (None: no answer named one). Each MsalApp serves
        one sign-in, so its cache holds one account at most."""
        accounts = self.call(self.application().get_accounts)
        return accounts[0] if accounts else None

    def remember(self, secret: str) -> None:
        """A secret to keep out of this application's messages and out of MSAL's log records."""
        if secret:
            with self._secrets_lock:
                self._secrets.add(secret)
            LOGIN_SECRETS.add(secret)

    def scrub(self, text: str) -> str:
        with self._secrets_lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        return scrub(text, *secrets)

    def _rotated(self, refresh_token: str) -> None:
        self.refresh_token = refresh_token

    def _build(self) -> Any:
        # Imported here, not with this module: most commands (validate, show) need none of it.
        import msal  # type: ignore[import-untyped]

        scrub_msal_logs()
        # Entra ID's own hosts are validated as MSAL validates them; another authority (a test
        # server) is taken as it is, and MSAL asks no instance discovery about it.
        known = httpx.URL(self.login_url).host in msal.authority.WELL_KNOWN_AUTHORITY_HOSTS
        options: dict[str, Any] = {
            "authority": f"{self.login_url}/{self.tenant_id}",
            "validate_authority": known,
            "instance_discovery": None if known else False,
            "http_client": self.http,
            "token_cache": msal.TokenCache(),  # in memory only: nothing is written to disk
        }
        if self._client_secret:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._client_secret,
                azure_region=False,  # regional endpoints serve app-only tokens, not these
                **options,
            )
        return msal.PublicClientApplication(self.client_id, **options)


def refusal_parts(payload: Mapping[str, Any]) -> tuple[str, str, str]:
    """Entra ID's refusal as its error code, the code with its suberror (`invalid_grant,
    bad_token`), and `: ` and the first line of its description (the rest is trace ids and
    timestamps), or nothing."""
    error = one_line(str(payload.get("error") or "unknown_error"), 60)
    suberror = payload.get("suberror")
    code = f"{error}, {one_line(str(suberror), 60)}" if suberror else error
    description = str(payload.get("error_description") or "").splitlines()
    first = one_line(description[0], 300).rstrip(".") if description else ""
    return error, code, f": {first}" if first else ""
