"""Which Partner Center and Microsoft Graph a run talks to: the real APIs, or the fake in process.

`open_clients` is the one place the CLI turns `--endpoint URL` / `--graph-endpoint URL` /
`--fake FILE` into ready clients, so every command runs the same client code against
either (`fake.server` puts the fake, Graph included, on a loopback port for `pcr fake
serve`). `open_client` gives Partner Center alone. A command that only reads (plan, drift,
import) opens them `read_only`: then the fake never writes its file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import httpx

from reconciler.live.auth import GRAPH
from reconciler.live.auth import REFRESH_VARIABLES
from reconciler.live.auth import StaticToken
from reconciler.live.auth import TokenProvider
from reconciler.live.auth import check_endpoint_url
from reconciler.live.auth import is_loopback
from reconciler.live.client import PartnerCenterClient
from reconciler.live.clients import Clients
from reconciler.live.clients import TenantClients
from reconciler.live.config import GRAPH_LIMITS
from reconciler.live.config import PARTNER_CENTER_LIMITS
from reconciler.live.config import Limits
from reconciler.live.credentials import token_provider_from_env
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import FakeStateError
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.errors import InvalidEndpointError
from reconciler.live.graph import DEFAULT_GRAPH_ROOT
from reconciler.live.graph import GraphClient
from reconciler.live.sam import SamTokenProvider

__all__ = ["DEFAULT_ENDPOINT", "graph_root", "open_client", "open_clients"]

DEFAULT_ENDPOINT = "https://api.partnercenter.microsoft.com"
if TYPE_CHECKING:  # loaded only for --fake: a run against Partner Center never imports it
    from reconciler.fake.app import FakePartnerCenter

# The in-process fake is reached through the transport, never the network; this
# host only has to be a syntactically valid URL that cannot resolve anywhere.
FAKE_BASE_URL = "https://fake.partnercenter.invalid"
FAKE_TOKEN = "fake-token"
# The app the fake takes pcr to sign in with: its service principal in a customer's tenant
# is pcr's own, removed last.
FAKE_APP_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
# Why a run with a ready-made Graph token cannot clean a customer's tenant.
STATIC_GRAPH_TOKEN = (
    "PCR_GRAPH_TOKEN is a token of the partner's own tenant, and a customer's tenant needs "
    "its own: tenant clean-up takes the Secure Application Model sign-in (PCR_TENANT_ID, "
    "PCR_CLIENT_ID, PCR_CLIENT_SECRET, PCR_REFRESH_TOKEN, without PCR_GRAPH_TOKEN)"
)
# Settings of the Partner Center client that Graph's has not: Graph answers no 409 to
# wait out, and has no correlation header.
_PARTNER_CENTER_ONLY = ("busy_wait", "correlation_id")
_LIMIT_FIELDS = frozenset(f.name for f in dataclasses.fields(Limits))


def client_settings(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keywords of the Partner Center client and of the Graph client: each one's
    `Limits` with the `overrides` that name its fields (the environment's, a test's), and
    the rest (a correlation id) where it applies."""
    limits = {k: v for k, v in overrides.items() if k in _LIMIT_FIELDS}
    rest = {k: v for k, v in overrides.items() if k not in _LIMIT_FIELDS}
    graph_only = {k: v for k, v in limits.items() if k not in _PARTNER_CENTER_ONLY}
    return (
        {"limits": dataclasses.replace(PARTNER_CENTER_LIMITS, **limits), **rest},
        {
            "limits": dataclasses.replace(GRAPH_LIMITS, **graph_only),
            **{k: v for k, v in rest.items() if k not in _PARTNER_CENTER_ONLY},
        },
    )


@contextmanager
def open_clients(
    *,
    endpoint: str | None,
    fake_state: Path | None,
    env: Mapping[str, str],
    graph_endpoint: str | None = None,
    read_only: bool = False,
    **client_kwargs: Any,
) -> Iterator[Clients]:
    """Partner Center as `open_client` gives it, and Microsoft Graph beside it.

    With `fake_state`, both run over the one fake in process (one state, saved as
    `open_client` saves it, or never when `read_only`). Else Graph is `graph_root`'s, with
    its own token: `PCR_GRAPH_TOKEN`, else the Secure Application Model's; a `PCR_TOKEN` is
    Partner Center's only. Without either, `graph` is None and `graph_unavailable` says what
    to set.
    """
    _one_backend(endpoint, fake_state, graph_endpoint)
    client_kwargs, graph_kwargs = client_settings(client_kwargs)
    if fake_state is not None:
        with _fake_app(fake_state, read_only=read_only) as app, ExitStack() as stack:
            partner_center = stack.enter_context(_fake_partner_center(app, client_kwargs))
            graph = stack.enter_context(
                GraphClient(
                    FAKE_BASE_URL, _fake_token(), transport=_in_process(app), **graph_kwargs
                )
            )
            tenants = _fake_tenants(app, graph_kwargs)
            stack.callback(tenants.close)
            yield Clients(partner_center, graph, tenants=tenants)
        return
    url = _partner_center_url(endpoint, env)
    root = graph_root(url, graph_endpoint, env)
    with ExitStack() as stack:
        partner_center = stack.enter_context(_endpoint_client(url, env, client_kwargs))
        provider, unavailable = _graph_token(env)
        if provider is None:
            yield Clients(partner_center, None, unavailable, None, unavailable)
            return
        stack.callback(_close, provider)
        graph = stack.enter_context(GraphClient(root, provider, **graph_kwargs))
        if not isinstance(provider, SamTokenProvider):
            yield Clients(partner_center, graph, tenants_unavailable=STATIC_GRAPH_TOKEN)
            return
        tenants = TenantClients(
            root, provider.sign_in.customer_tenant, provider.sign_in.client_id, **graph_kwargs
        )
        stack.callback(tenants.close)
        yield Clients(partner_center, graph, tenants=tenants)


def graph_root(partner_center_url: str, graph_endpoint: str | None, env: Mapping[str, str]) -> str:
    """The Graph root for a run against `partner_center_url`, checked: `graph_endpoint`, else
    env `PCR_GRAPH_ENDPOINT`, else a loopback Partner Center's own root (`pcr fake serve`
    serves both), else the real Graph."""
    root = graph_endpoint or env.get("PCR_GRAPH_ENDPOINT", "").strip()
    if not root:
        partner_center = httpx.URL(partner_center_url)
        loopback = partner_center.host and is_loopback(partner_center.host)
        root = str(partner_center.copy_with(raw_path=b"/")) if loopback else DEFAULT_GRAPH_ROOT
    try:
        check_endpoint_url(root)
    except (InsecureEndpointError, InvalidEndpointError) as exc:
        raise type(exc)(f"the Microsoft Graph endpoint: {exc}") from None
    return root.rstrip("/")


@contextmanager
def open_client(
    *,
    endpoint: str | None,
    fake_state: Path | None,
    env: Mapping[str, str],
    read_only: bool = False,
    **client_kwargs: Any,
) -> Iterator[PartnerCenterClient]:
    """A client for `endpoint` (else env `PCR_ENDPOINT`, else the real API), or for the fake.

    With `fake_state`, the fake runs in this process on that file: every
    change is saved as it happens and once more when the run ends, also when
    it ends with an exception, so work done is never lost. `read_only` (a command that
    only reads) leaves the file as it is: not its bytes, its mode or its mtime; what the
    fake changes as it answers reads (terms caught up with its clock, a settling Azure
    cancellation counting a read) lives only as long as the run.
    """
    _one_backend(endpoint, fake_state)
    client_kwargs, _ = client_settings(client_kwargs)
    if fake_state is not None:
        with (
            _fake_app(fake_state, read_only=read_only) as app,
            _fake_partner_center(app, client_kwargs) as client,
        ):
            yield client
        return
    with _endpoint_client(_partner_center_url(endpoint, env), env, client_kwargs) as client:
        yield client


def backend_conflict(
    endpoint: str | None, fake_state: Path | None, graph_endpoint: str | None = None
) -> str | None:
    """What is wrong with asking for these backends together; None when nothing is."""
    if endpoint and fake_state is not None:
        return "choose one backend: --endpoint or --fake, not both"
    if graph_endpoint and fake_state is not None:
        return "--graph-endpoint goes with --endpoint: the fake serves Microsoft Graph itself"
    return None


def _one_backend(
    endpoint: str | None, fake_state: Path | None, graph_endpoint: str | None = None
) -> None:
    if (conflict := backend_conflict(endpoint, fake_state, graph_endpoint)) is not None:
        raise ConfigurationError(conflict)


def _partner_center_url(endpoint: str | None, env: Mapping[str, str]) -> str:
    url = endpoint or env.get("PCR_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    check_endpoint_url(url)  # a URL that cannot be used is said first, before credentials
    return url


@contextmanager
def _endpoint_client(
    url: str, env: Mapping[str, str], client_kwargs: dict[str, Any]
) -> Iterator[PartnerCenterClient]:
    provider = token_provider_from_env(env)
    try:
        with PartnerCenterClient(url, provider, **client_kwargs) as client:
            yield client
    finally:
        _close(provider)


def _graph_token(env: Mapping[str, str]) -> tuple[TokenProvider | None, str | None]:
    """Graph's token provider; or None and why, when no Graph credential is configured at
    all. One that is configured but cannot be used is an error, as Partner Center's is."""
    configured = bool(env.get("PCR_GRAPH_TOKEN", "").strip()) or all(
        env.get(name, "").strip() for name in REFRESH_VARIABLES
    )
    try:
        return token_provider_from_env(env, audience=GRAPH), None
    except AuthError as exc:
        if configured:
            raise
        return None, str(exc)


def _close(provider: object) -> None:
    close = getattr(provider, "close", None)
    if callable(close):
        close()


@contextmanager
def _fake_app(path: Path, *, read_only: bool = False) -> Iterator[FakePartnerCenter]:
    """The fake in process on the state in `path`: saved after each change, and at the end;
    never, when `read_only`."""
    from reconciler.fake.app import FakePartnerCenter
    from reconciler.fake.state import FakeState

    try:
        state = FakeState.load(path)
    except (OSError, ValueError) as exc:  # unreadable, or not the fake's JSON
        raise FakeStateError(f"{path}: cannot read the fake's state ({exc})") from None
    if read_only:
        yield FakePartnerCenter(state)
        return
    app = FakePartnerCenter(state, on_change=lambda changed: changed.save(path))
    try:
        yield app
    finally:
        with app.lock:
            try:
                state.save(path)
            except OSError as exc:
                raise FakeStateError(f"{path}: cannot save the fake's state ({exc})") from None


def _fake_partner_center(
    app: FakePartnerCenter, client_kwargs: dict[str, Any]
) -> PartnerCenterClient:
    return PartnerCenterClient(
        FAKE_BASE_URL, _fake_token(), transport=_in_process(app), **client_kwargs
    )


def _fake_tenants(app: FakePartnerCenter, graph_kwargs: dict[str, Any]) -> TenantClients:
    from reconciler.fake.tokens import tenant_token

    def tokens(tenant_id: str) -> StaticToken:
        return StaticToken(tenant_token(tenant_id))

    return TenantClients(
        FAKE_BASE_URL, tokens, FAKE_APP_ID, transport=_in_process(app), **graph_kwargs
    )


def _fake_token() -> StaticToken:
    return StaticToken(FAKE_TOKEN)


def _in_process(app: FakePartnerCenter) -> httpx.WSGITransport:
    return httpx.WSGITransport(app=app)
