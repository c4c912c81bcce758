"""Which credentials a run has, from its environment: a ready-made token per audience, or the
four variables of the Secure Application Model; and the CA certificates they are checked with."""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping

from reconciler.live.auth import CA_VARIABLES
from reconciler.live.auth import DEFAULT_LOGIN_URL
from reconciler.live.auth import GRAPH
from reconciler.live.auth import GRAPH_RESOURCE
from reconciler.live.auth import PARTNER_CENTER
from reconciler.live.auth import PARTNER_CENTER_RESOURCE
from reconciler.live.auth import REFRESH_VARIABLES
from reconciler.live.auth import TOKEN_VARIABLES
from reconciler.live.auth import StaticToken
from reconciler.live.auth import TokenProvider
from reconciler.live.auth import check_audience
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.sam import SecureApplicationModel
from reconciler.live.sam import shared_provider


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
    check_audience(audience)
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
    verify = trusted_certificates(*ca)

    def sign_in() -> SecureApplicationModel:
        return SecureApplicationModel(
            tenant_id, client_id, client_secret, refresh_token, login_url=login_url, verify=verify
        )

    return shared_provider(key, sign_in, audience)


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
