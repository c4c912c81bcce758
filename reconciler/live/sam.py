"""The Secure Application Model: the refresh token of one interactive MFA sign-in (`pcr login`),
redeemed through MSAL for the short-lived access tokens of Partner Center and Microsoft Graph.

One sign-in serves both audiences: MSAL redeems the refresh token once per run and from then
on keeps it, rotated, in its in-memory token cache beside the access tokens.
"""

from __future__ import annotations

import functools
import ssl
import threading
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.live.auth import AUDIENCE_NAMES
from reconciler.live.auth import AUDIENCES
from reconciler.live.auth import DEFAULT_LOGIN_URL
from reconciler.live.auth import GRAPH
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import SCOPES
from reconciler.live.auth import TENANT
from reconciler.live.auth import check_audience
from reconciler.live.closing import Closing
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import TenantRefused
from reconciler.live.msal_app import MsalApp
from reconciler.live.msal_app import refusal_parts


class SecureApplicationModel(Closing):
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
        # The partner app in any tenant: the partner's own here, a customer's for its clean-up.
        self.msal_app = functools.partial(
            MsalApp,
            client_id=client_id,
            client_secret=client_secret,
            login_url=login_url,
            verify=verify,
            transport=transport,
        )
        self._msal = self.msal_app(tenant_id)
        self._msal.refresh_token = refresh_token  # to redeem, until an answer rotates it
        self._msal.remember(refresh_token)
        self._account: dict[str, Any] | None = None
        self._redeem_lock = threading.Lock()
        self._audience_locks = {audience: threading.Lock() for audience in AUDIENCES}
        self._users = 0
        self._tenants: dict[str, CustomerTenantTokens] = {}
        self._tenants_lock = threading.Lock()
        self._released: Callable[[], None] | None = None  # once the last provider is closed

    @property
    def tenant_id(self) -> str:
        return self._msal.tenant_id

    @property
    def client_id(self) -> str:
        return self._msal.client_id

    @property
    def login_url(self) -> str:
        return self._msal.login_url

    def __repr__(self) -> str:
        return f"SecureApplicationModel(tenant_id={self.tenant_id!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        """Close the connections to the sign-in endpoint (a later token request reopens them)."""
        self._msal.close()
        with self._tenants_lock:
            tenants = list(self._tenants.values())
        for tenant in tenants:
            tenant.close()

    def customer_tenant(self, tenant_id: str) -> CustomerTenantTokens:
        """Microsoft Graph tokens of a customer's tenant, from this same sign-in: made once a
        run for each tenant, and kept apart from every other tenant's."""
        tenant = tenant_id.lower()
        with self._tenants_lock:
            tokens = self._tenants.get(tenant)
            if tokens is None:
                tokens = self._tenants[tenant] = CustomerTenantTokens(self, tenant)
            return tokens

    def newest_refresh_token(self) -> str | None:
        return self._msal.refresh_token

    def provider(self, audience: str = PARTNER_CENTER) -> SamTokenProvider:
        """A token provider for `audience`, sharing this sign-in with every other one."""
        check_audience(audience)
        with _SHARED_LOCK:
            self._users += 1
        return SamTokenProvider(self, audience)

    def token(self, audience: str = PARTNER_CENTER) -> str:
        """A current access token for `audience`, from MSAL's cache or the token endpoint."""
        check_audience(audience)
        with self._audience_locks[audience]:
            return self._acquire(audience)

    # -- inside ---------------------------------------------------------------------------------

    def _acquire(self, audience: str) -> str:
        account = self._account
        if account is None:
            with self._redeem_lock:  # whoever comes first, of either audience, redeems
                account = self._account
                if account is None:
                    return self._redeem(audience)
        silent = self._msal.silent([SCOPES[audience]], account)
        if silent is None:  # MSAL holds no refresh token for the account: redeem the newest
            with self._redeem_lock:
                return self._redeem(audience)
        return self._access_token(silent, audience)

    def _redeem(self, audience: str) -> str:
        """The refresh token handed in (or the newest one an answer rotated in) traded for an
        access token, and the consenting user's account MSAL filed the tokens under."""
        result = self._msal.redeem(self._msal.refresh_token or "", [SCOPES[audience]])
        token = self._access_token(result, audience)
        account = self._msal.account()
        if account is None:
            raise AuthError(
                f"the token endpoint for tenant {self.tenant_id} answered without naming the "
                "consenting user (no client_info or id_token), so MSAL cannot keep its tokens: "
                "is PCR_LOGIN_URL an Entra ID sign-in endpoint?"
            )
        self._account = account
        return token

    def _access_token(self, result: Any, audience: str) -> str:
        def refused(payload: Mapping[str, Any]) -> AuthError:
            return AuthError(self._msal.scrub(refusal_message(audience, payload)))

        return self._msal.access_token(result, refused, AUDIENCE_NAMES[audience])

    def _release(self) -> None:
        """One provider fewer; with the last one gone the connections close, and a shared
        sign-in is no longer handed out."""
        with _SHARED_LOCK:
            self._users -= 1
            if self._users > 0:
                return
            if self._released is not None:
                self._released()
        self.close()


class CustomerTenantTokens:
    """Microsoft Graph tokens of one customer's tenant (a token provider): the partner's
    refresh token redeemed at that tenant's own authority, where the partner's app is
    consented through GDAP (docs/partner-center.md, "Tenant clean-up"). Its own MSAL
    application and cache: a token of this tenant is never handed out for another, and goes
    only to the sign-in host."""

    def __init__(self, sign_in: SecureApplicationModel, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._sign_in = sign_in
        self._msal = sign_in.msal_app(tenant_id, tenant_hint="the customer's tenant id")
        self._account: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CustomerTenantTokens(tenant_id={self.tenant_id!r})"

    def __call__(self) -> str:
        scopes = [SCOPES[GRAPH]]
        with self._lock:
            account = self._account
            if account is not None and (silent := self._msal.silent(scopes, account)) is not None:
                return self._access_token(silent)
            # This tenant's own newest refresh token, else the partner's sign-in's.
            refresh_token = self._msal.refresh_token or self._sign_in.newest_refresh_token()
            if not refresh_token:
                raise AuthError("no refresh token to redeem for the customer's tenant")
            self._msal.remember(refresh_token)
            token = self._access_token(self._msal.redeem(refresh_token, scopes))
            self._account = self._msal.account()
            return token

    def close(self) -> None:
        self._msal.close()

    def _access_token(self, result: Any) -> str:
        def refused(payload: Mapping[str, Any]) -> AuthError:
            return TenantRefused(self._msal.scrub(tenant_refusal(self.tenant_id, payload)))

        return self._msal.access_token(result, refused, "Microsoft Graph")


def tenant_refusal(tenant_id: str, payload: Mapping[str, Any]) -> str:
    """What a customer's tenant said when it would not give pcr's app a token, and what to do."""
    error, code, detail = refusal_parts(payload)
    described = str(payload.get("error_description") or "")
    if any(f"AADSTS{n}" in described for n in _NOT_CONSENTED):
        advice = (
            "pcr's app is not consented in this tenant: consent it through GDAP (Partner "
            "Center, or the customer's admin), or set tenant_cleanup to keep"
        )
    elif error in ("invalid_grant", "interaction_required"):
        advice = (
            "the sign-in reaches no role in this tenant: check that a GDAP relationship with "
            "it is active and that the user pcr signs in as is in its security groups"
        )
    else:
        advice = "check the customer's GDAP relationship, then plan again"
    return (
        f"the customer's tenant {tenant_id} refused a Microsoft Graph token for pcr's app "
        f"({code}){detail}. {advice}"
    )


# Entra ID's codes for an app that is not there, or not consented, in a tenant: not found in
# the directory (700016), no consent (65001), not authorized for delegated admins (90099).
_NOT_CONSENTED = ("700016", "65001", "90099")


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
    """What Entra ID said when it refused the refresh token, and what to do about it."""
    error, code, detail = refusal_parts(payload)
    name = AUDIENCE_NAMES[audience]
    if error in ("invalid_client", "unauthorized_client"):
        advice = "Check PCR_CLIENT_ID and PCR_CLIENT_SECRET (a client secret expires too)."
    elif error == "invalid_scope":
        advice = f"Grant the app {SCOPES[audience]}, then run `pcr login` for a new refresh token."
    elif error in ("temporarily_unavailable", "server_error"):
        advice = "Try again later."
    elif error in ("invalid_grant", "interaction_required", "consent_required"):
        permissions = (
            " once the app's Microsoft Graph permissions are granted" if audience == GRAPH else ""
        )
        advice = f"Run `pcr login`{permissions} for a new refresh token (PCR_REFRESH_TOKEN)."
    else:
        advice = (
            "Check PCR_TENANT_ID, PCR_CLIENT_ID and PCR_CLIENT_SECRET, or run `pcr login` for a "
            "new refresh token."
        )
    return f"the token endpoint refused the refresh token for {name} ({code}){detail}. {advice}"


# -- shared by the providers of both audiences -------------------------------------------------

# The sign-ins handed out by `shared_provider`, by their credentials: the providers of both
# audiences made from the same variables share one, so the refresh token is redeemed once.
_SHARED: dict[tuple[str, ...], SecureApplicationModel] = {}
_SHARED_LOCK = threading.Lock()


def shared_provider(
    key: tuple[str, ...], sign_in: Callable[[], SecureApplicationModel], audience: str
) -> SamTokenProvider:
    """A provider of `audience` from the sign-in filed under `key`, made by `sign_in()` the
    first time; each provider's `close()` gives its share back."""
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _SHARED[key] = sign_in()
            shared._released = lambda: _forget(key, shared)
        shared._users += 1
    return SamTokenProvider(shared, audience)


def _forget(key: tuple[str, ...], sign_in: SecureApplicationModel) -> None:
    """Under `_SHARED_LOCK`: `sign_in` is handed out no more."""
    if _SHARED.get(key) is sign_in:
        del _SHARED[key]
