"""`--fake` is read-only for the commands that only read, and the fake's state file is
written compactly, atomically and with its mode kept by the one that writes (apply).

The installed `pcr` runs plan, drift and import against a copy of the example fake state:
the file keeps its bytes, its mode and its mtime. apply writes it: compact JSON, the mode it
had. `FakeState.save` is checked on its own with a failure between the write and the
replace, and a file that is not the fake's JSON is refused with a message that says so.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler import connect as pc_backend
from reconciler.fake import store
from reconciler.fake.state import FakeState
from reconciler.live.errors import FakeStateError
from tests.apply.support import make_estate
from tests.apply.support import run_pcr
from tests.conftest import EXAMPLE
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import EXAMPLE_STATE
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_BASIC_NCE
from tests.live.pc_support import NORTHWIND
from tests.live.pc_support import example_state

NOW = "2026-11-22T09:00:00Z"
# Long before any run: a write, however quick, shows in the mtime.
OLD_MTIME_NS = 1_600_000_000 * 10**9


def pinned(path: Path) -> tuple[bytes, int, int]:
    """What a read-only run must leave as it was: bytes, mode and mtime."""
    info = path.stat()
    return path.read_bytes(), stat.S_IMODE(info.st_mode), info.st_mtime_ns


def strays(folder: Path) -> list[str]:
    """Temporary files a save left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def is_compact(text: str) -> bool:
    return text == json.dumps(json.loads(text), separators=(",", ":")) + "\n"


# -- the installed pcr ---------------------------------------------------------------------


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Path]:
    """The example estate in `tmp_path/desired-state`, its fake state (pretty-printed, as
    bundled) in `tmp_path/live.json`, 0644 and dated long ago."""
    made = make_estate(tmp_path)
    made.live.chmod(0o644)
    os.utime(made.live, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    yield tmp_path


READ_ONLY_COMMANDS = {
    "plan": ("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
    "drift": ("drift", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
    "import": ("import", "--fake", "live.json", "--out", "imported"),
}


@pytest.mark.parametrize("command", sorted(READ_ONLY_COMMANDS))
def test_read_only_commands_leave_the_fake_state_file_as_it_was(
    command: str, estate: Path, pcr_executable: str
) -> None:
    live = estate / "live.json"
    before = pinned(live)
    done = run_pcr(pcr_executable, *READ_ONLY_COMMANDS[command], cwd=estate)
    assert done.returncode in (0, 2), done.stderr
    assert "internal error" not in done.stderr
    assert pinned(live) == before  # not its bytes, not its mode, not its mtime
    assert strays(estate) == []


def test_a_plan_whose_reads_change_the_fake_still_leaves_its_file(
    estate: Path, pcr_executable: str
) -> None:
    """A month on, terms have ended: the fake renews and expires them as the plan reads,
    which would be saved by a command that writes. The plan's file stays as it was."""
    live = estate / "live.json"
    data = json.loads(live.read_text())
    data["now"] = "2027-12-01T09:00:00Z"
    live.write_text(json.dumps(data, indent=2) + "\n")
    live.chmod(0o644)
    os.utime(live, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    before = pinned(live)
    plan = (*READ_ONLY_COMMANDS["plan"][:-2], "--now", "2027-12-01T09:00:00Z")
    done = run_pcr(pcr_executable, *plan, cwd=estate)
    assert done.returncode in (0, 2), done.stderr
    assert pinned(live) == before


def test_apply_writes_the_file_compactly_and_keeps_its_mode(
    estate: Path, pcr_executable: str
) -> None:
    live = estate / "live.json"
    applied = run_pcr(
        pcr_executable,
        "apply",
        *("--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        "--auto-approve",
        cwd=estate,
    )
    assert applied.returncode in (0, 2), applied.stderr
    text = live.read_text()
    assert is_compact(text)
    assert json.loads(text)["mutations"]  # it did apply changes, and saved them
    assert stat.S_IMODE(live.stat().st_mode) == 0o644
    assert strays(estate) == []


# -- the backend, in process -----------------------------------------------------------------


def test_read_only_clients_never_save_even_what_a_request_changed(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    shutil.copy(EXAMPLE_STATE, path)
    path.chmod(0o644)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))
    before = pinned(path)
    with pc_backend.open_clients(endpoint=None, fake_state=path, env={}, read_only=True) as clients:
        client = clients.partner_center
        assert client.get_customer(CONTOSO).id == CONTOSO
        # Even a change (the fake takes it) lives only as long as the run.
        changed = client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False)
        assert changed.auto_renew is False
    assert pinned(path) == before
    assert strays(tmp_path) == []
    with pc_backend.open_client(endpoint=None, fake_state=path, env={}, read_only=True) as one:
        one.list_subscriptions(NORTHWIND)
    assert pinned(path) == before


def test_clients_that_may_write_save_compactly_keeping_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    shutil.copy(EXAMPLE_STATE, path)
    path.chmod(0o640)
    with pc_backend.open_client(endpoint=None, fake_state=path, env={}) as client:
        client.get_customer(CONTOSO)
    assert is_compact(path.read_text())
    assert json.loads(path.read_text()) == json.loads(EXAMPLE_STATE.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# -- FakeState.save: compact, atomic, its mode kept ------------------------------------------


def test_save_is_compact_and_load_reads_compact_and_pretty_alike(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = FakeState.load(EXAMPLE_STATE)  # the bundled, pretty-printed one
    state.save(path)
    assert is_compact(path.read_text())
    assert state.to_json() == path.read_text()
    assert json.loads(path.read_text()) == json.loads(EXAMPLE_STATE.read_text())
    assert FakeState.load(path).data == state.data


def test_a_new_file_gets_0600_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    state = example_state()
    new = tmp_path / "new.json"
    state.save(new)
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    for mode in (0o644, 0o640, 0o604):
        kept = tmp_path / f"kept-{mode:o}.json"
        kept.write_text("{}")
        kept.chmod(mode)
        state.save(kept)
        assert stat.S_IMODE(kept.stat().st_mode) == mode
        assert json.loads(kept.read_text())["now"] == state.data["now"]


class Killed(BaseException):
    """Stands for the process dying: not an Exception, nothing may catch it on the way."""


def test_a_failure_between_write_and_replace_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    shutil.copy(EXAMPLE_STATE, path)
    path.chmod(0o644)
    before = pinned(path)
    written: list[str] = []

    def killed(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        written.append(Path(source).read_text())  # the new state, whole, beside the old
        raise Killed

    state = example_state()
    state.set_now("2027-01-01T00:00:00Z")
    monkeypatch.setattr(store.os, "replace", killed)
    with pytest.raises(Killed):
        state.save(path)
    monkeypatch.undo()
    assert pinned(path) == before
    assert strays(tmp_path) == []
    assert json.loads(written[0])["now"] == "2027-01-01T00:00:00Z"  # it got that far


def test_a_failure_mid_write_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    shutil.copy(EXAMPLE_STATE, path)
    before = pinned(path)
    state = example_state()

    def half(data: Any, out: Any) -> None:
        out.write('{"format_version":1,"now":')
        raise Killed

    monkeypatch.setattr(store, "_write_json", half)
    with pytest.raises(Killed):
        state.save(path)
    assert pinned(path) == before
    assert strays(tmp_path) == []


# -- FakeState.load: the fake's JSON, and nothing else ---------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            '{"format_version": 1, "now": "2026-11-22T09:00:00Z", "subscriptions": {"a": [1, 2]',
            "Expecting ',' delimiter",
        ),
        ('{"format_version": 1, "now": "2026-11-22T09:00:00Z"} trailing', "Extra data"),
        ('{"format_version": 1 "now": "2026-11-22T09:00:00Z"}', "Expecting ',' delimiter"),
        ('{"format_version": 1, "subscriptions": {"a": [1,, 2]}}', "Expecting value"),
        ("[]", "the fake's state must be a JSON object"),
        ("", "Expecting value"),
    ],
)
def test_a_file_that_is_not_the_fakes_json_is_refused(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason):
        FakeState.load(path)
    with (
        pytest.raises(
            FakeStateError, match=f"broken.json: cannot read the fake's state \\({reason}"
        ),
        pc_backend.open_client(endpoint=None, fake_state=path, env={}),
    ):
        pass
    assert path.read_text() == text


def test_the_bundled_example_stays_pretty_printed() -> None:
    text = (EXAMPLE / "fake-state.json").read_text()
    assert text.startswith('{\n  "format_version": 1,')
