"""Choosing a backend, serving the fake on loopback, and keeping its state on disk."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reconciler.connect import open_client
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.errors import AuthError
from reconciler.live.errors import InsecureEndpointError
from tests.live.pc_support import ADVENTURE_WORKS
from tests.live.pc_support import ADVENTURE_WORKS_NCE
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import EXAMPLE_STATE
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_E3_LEGACY
from tests.live.pc_support import FAKE_TOKEN

# Only a safety net: the waits below end on events (a line read, an exit).
SAFETY_SECONDS = 120


def mutations_in(path: Path) -> list[dict[str, object]]:
    return json.loads(path.read_text())["mutations"]  # type: ignore[no-any-return]


def test_fake_backend_writes_the_state_back(state_file: Path) -> None:
    with open_client(endpoint=None, fake_state=state_file, env={}) as client:
        client.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="suspended")
    saved = FakeState.load(state_file)
    assert saved.subscription(FABRIKAM, FABRIKAM_E3_LEGACY)["status"] == "suspended"
    assert [m["action"] for m in saved.mutations] == ["suspend"]


def test_fake_backend_keeps_work_done_before_an_exception(state_file: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        open_client(endpoint=None, fake_state=state_file, env={}) as client,
    ):
        client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="deleted")
        raise RuntimeError("the run crashed")
    assert [m["action"] for m in mutations_in(state_file)] == ["cancel"]


def test_fake_backend_saves_each_change_as_it_happens(state_file: Path) -> None:
    with open_client(endpoint=None, fake_state=state_file, env={}) as client:
        client.update_subscription(ADVENTURE_WORKS, ADVENTURE_WORKS_NCE, status="deleted")
        assert len(mutations_in(state_file)) == 1  # on disk before the run ends


def test_fake_backend_passes_client_settings(state_file: Path) -> None:
    with open_client(
        endpoint=None, fake_state=state_file, env={}, correlation_id="run-42"
    ) as client:
        client.get_customer(CONTOSO)
    assert client.correlation_id == "run-42"


def test_endpoint_backend_over_loopback_with_pcr_token(server: FakeServer) -> None:
    env = {"PCR_ENDPOINT": server.url, "PCR_TOKEN": FAKE_TOKEN}
    with open_client(endpoint=None, fake_state=None, env=env) as client:
        assert len(client.list_customers()) == 10
    assert all(r.authorized for r in server.app.requests)


def test_endpoint_argument_wins_over_the_environment(server: FakeServer) -> None:
    env = {"PCR_ENDPOINT": "https://unused.invalid", "PCR_TOKEN": FAKE_TOKEN}
    with open_client(endpoint=server.url, fake_state=None, env=env) as client:
        assert client.get_customer(CONTOSO).name == "Contoso Ltd"


def test_endpoint_backend_needs_credentials() -> None:
    with (
        pytest.raises(AuthError, match="PCR_TOKEN"),
        open_client(endpoint="https://api.partnercenter.microsoft.com", fake_state=None, env={}),
    ):
        pass


def test_both_backends_at_once_is_an_error(state_file: Path) -> None:
    with (
        pytest.raises(ValueError, match="one backend"),
        open_client(endpoint="https://x.test", fake_state=state_file, env={}),
    ):
        pass


def test_loopback_server_saves_after_every_mutation(server: FakeServer, state_file: Path) -> None:
    with open_client(endpoint=server.url, fake_state=None, env={"PCR_TOKEN": FAKE_TOKEN}) as client:
        client.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="suspended")
        assert [m["action"] for m in mutations_in(state_file)] == ["suspend"]
        assert not list(state_file.parent.glob(".*.tmp"))  # atomic: no temp file left


def test_the_server_serves_loopback_only(state_file: Path) -> None:
    with pytest.raises(InsecureEndpointError, match="loopback"):
        FakeServer(state_file, host="0.0.0.0")


def test_serve_announces_its_url_and_saves_on_ctrl_c(state_file: Path) -> None:
    program = (
        "import sys; from pathlib import Path\n"
        "from reconciler.fake import serve\n"
        "serve(Path(sys.argv[1]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", program, str(state_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the announcement: it listens, and Ctrl+C stops it
        url = line.split(" listening on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        env = {"PCR_TOKEN": FAKE_TOKEN}
        with open_client(endpoint=url, fake_state=None, env=env) as client:
            client.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="suspended")
        process.send_signal(signal.SIGINT)
        # Its exit is the event; the timeout is only a safety net.
        rest, errors = process.communicate(timeout=SAFETY_SECONDS)
        assert process.returncode == 0, errors
        # One GET for the full resource, one PATCH: the shutdown line counts both.
        assert "served 2 requests (0 answered 429)" in rest
    finally:
        process.kill()
    assert [m["action"] for m in mutations_in(state_file)] == ["suspend"]
    assert FAKE_TOKEN not in state_file.read_text()


def test_serve_stops_on_ctrl_c_even_when_started_with_sigint_ignored(state_file: Path) -> None:
    """A shell without job control starts `pcr fake serve &` with SIGINT ignored, and Python
    then installs no handler of its own; Ctrl+C must stop the fake (and save) all the same."""
    program = (
        "import sys; from pathlib import Path\n"
        "from reconciler.fake import serve\n"
        "serve(Path(sys.argv[1]))\n"
    )
    # What the shell does: ignore SIGINT, then exec the command (an ignored signal stays so).
    ignoring = (
        "import os, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", ignoring, "-c", program, str(state_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert " listening on " in process.stdout.readline()
        process.send_signal(signal.SIGINT)  # at once: the announcement says Ctrl+C works now
        rest, errors = process.communicate(timeout=SAFETY_SECONDS)
        assert process.returncode == 0, errors
        assert "served 0 requests" in rest
    finally:
        process.kill()
    assert json.loads(state_file.read_text()) == json.loads(EXAMPLE_STATE.read_text())


def test_state_round_trips_and_is_rejected_with_a_wrong_version(tmp_path: Path) -> None:
    state = FakeState.load(EXAMPLE_STATE)
    copy_path = tmp_path / "copy.json"
    state.save(copy_path)
    assert json.loads(copy_path.read_text()) == json.loads(EXAMPLE_STATE.read_text())
    copy_path.write_text(json.dumps({"format_version": 99, "now": "2026-01-01T00:00:00Z"}))
    with pytest.raises(ValueError, match="format_version"):
        FakeState.load(copy_path)


def test_example_state_matches_the_example_estate() -> None:
    state = FakeState.load(EXAMPLE_STATE)
    assert state.data["now"] == "2026-11-22T09:00:00Z"
    declared = [
        yaml.safe_load(path.read_text())
        for path in (EXAMPLE_STATE.parent / "customers").glob("*.yaml")
    ]
    for customer in declared:
        live = state.customer(customer["tenant_id"])["companyProfile"]
        assert (live["companyName"], live["domain"]) == (customer["name"], customer["domain"])
        for subscription in customer.get("subscriptions") or []:
            state.subscription(customer["tenant_id"], subscription["id"])
    undeclared = {c["id"] for c in state.customers()} - {c["tenant_id"] for c in declared}
    assert undeclared == {"ae43c559-1885-44c2-ad5f-68ff5454b9da"}  # Alpine Ski House
