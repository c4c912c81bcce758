"""Fixtures for the live side: the example fake state, the fake in process and on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from tests.live.entra import Certificates
from tests.live.entra import FakeEntra
from tests.live.entra import Login
from tests.live.entra import make_certificates
from tests.live.entra import serving
from tests.live.pc_support import EXAMPLE_STATE
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import Live
from tests.live.pc_support import SleepRecorder
from tests.live.pc_support import example_state
from tests.live.pc_support import make_client


@pytest.fixture
def state() -> FakeState:
    return example_state()


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "fake-state.json"
    path.write_text(EXAMPLE_STATE.read_text())
    return path


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def server(state_file: Path) -> Iterator[FakeServer]:
    """The fake on a real loopback socket, in a background thread."""
    with FakeServer(state_file) as running:
        yield running


@pytest.fixture(params=["in-process", "loopback"])
def live(
    request: pytest.FixtureRequest, state: FakeState, state_file: Path, sleep: SleepRecorder
) -> Iterator[Live]:
    """The example estate behind a client: in process (WSGITransport), then over real sockets."""
    if request.param == "in-process":
        app = FakePartnerCenter(state)
        with make_client(app, sleep=sleep) as client:
            yield Live(client, app, sleep)
        return
    with (
        FakeServer(state_file) as running,
        PartnerCenterClient(
            running.url,
            StaticToken(FAKE_TOKEN),
            sleep=sleep,
            limits=Limits(rate_per_minute=100_000),
        ) as client,
    ):
        yield Live(client, running.app, sleep)


# -- a loopback Entra ID over TLS, for the sign-in tests ------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def entra() -> FakeEntra:
    return FakeEntra()


@pytest.fixture
def login(entra: FakeEntra, certificates: Certificates) -> Iterator[Login]:
    with serving(entra, certificates) as running:
        yield running
