"""Which Partner Center a run talks to: the real API over the network, or the fake in process.

`open_client` is the one place the CLI turns `--endpoint URL` / `--fake FILE`
into a ready client, so every command runs the same client code against
either (`fake.server` puts the fake on a loopback port for `pcr fake serve`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from reconciler.partnercenter.auth import StaticToken, check_endpoint_url, token_provider_from_env
from reconciler.partnercenter.client import PartnerCenterClient
from reconciler.partnercenter.errors import ConfigurationError, FakeStateError
from reconciler.partnercenter.fake.app import FakePartnerCenter
from reconciler.partnercenter.fake.state import FakeState

__all__ = ["DEFAULT_ENDPOINT", "open_client"]

DEFAULT_ENDPOINT = "https://api.partnercenter.microsoft.com"
# The in-process fake is reached through the transport, never the network; this
# host only has to be a syntactically valid URL that cannot resolve anywhere.
FAKE_BASE_URL = "https://fake.partnercenter.invalid"


@contextmanager
def open_client(
    *,
    endpoint: str | None,
    fake_state: Path | None,
    env: Mapping[str, str],
    **client_kwargs: Any,
) -> Iterator[PartnerCenterClient]:
    """A client for `endpoint` (else env `PCR_ENDPOINT`, else the real API), or for the fake.

    With `fake_state`, the fake runs in this process on that file: every
    change is saved as it happens and once more when the run ends, also when
    it ends with an exception, so work done is never lost.
    """
    if endpoint and fake_state is not None:
        raise ConfigurationError("choose one backend: an endpoint or a fake state file, not both")
    if fake_state is not None:
        with _fake_client(fake_state, client_kwargs) as client:
            yield client
        return
    url = endpoint or env.get("PCR_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
    check_endpoint_url(url)  # a URL that cannot be used is said first, before credentials
    provider = token_provider_from_env(env)
    try:
        with PartnerCenterClient(url, provider, **client_kwargs) as client:
            yield client
    finally:
        close = getattr(provider, "close", None)
        if callable(close):
            close()


@contextmanager
def _fake_client(path: Path, client_kwargs: dict[str, Any]) -> Iterator[PartnerCenterClient]:
    try:
        state = FakeState.load(path)
    except (OSError, ValueError) as exc:  # unreadable, or not the fake's JSON
        raise FakeStateError(f"{path}: cannot read the fake's state ({exc})") from None
    app = FakePartnerCenter(state, on_change=lambda changed: changed.save(path))
    transport = httpx.WSGITransport(app=app)
    try:
        with PartnerCenterClient(
            FAKE_BASE_URL, StaticToken("fake-token"), transport=transport, **client_kwargs
        ) as client:
            yield client
    finally:
        with app.lock:
            try:
                state.save(path)
            except OSError as exc:
                raise FakeStateError(f"{path}: cannot save the fake's state ({exc})") from None
