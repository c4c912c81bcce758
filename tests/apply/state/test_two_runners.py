"""Two checkouts of one desired state, one Partner Center, one Blob Storage backend (Azurite),
the installed `pcr`: while one applies, the other refuses and sends nothing; a run killed
mid-step is resumed from the other checkout, which verifies and audits what it sent."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from reconciler.apply.journal import _parsed
from reconciler.apply.state.azure_blob import CONNECTION_STRING
from reconciler.apply.state.azure_blob import AzureBlobStore
from reconciler.fake.app import Hold
from reconciler.fake.server import FakeServer
from tests.apply.support import NOW
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import pcr_env
from tests.azurite import Azurite
from tests.conftest import EXAMPLE

TRIALS = 4  # each trial is the same sequence of events (held at the door): a few show it holds
SAFETY_SECONDS = 120  # a net for a hung process, never a measure of speed
HOLDER = re.compile(r"pcr unlock --holder (\S+)`")


@dataclass
class Estate:
    """Two checkouts of the example desired state that share one Blob container."""

    root: Path
    container: str
    azurite: Azurite

    def checkout(self, name: str) -> Path:
        return self.root / name / "desired-state"

    def env(self) -> dict[str, str]:
        return pcr_env(**{CONNECTION_STRING: self.azurite.connection_string})

    def audited(self) -> set[str]:
        """The request ids in the shared audit trail."""
        service = BlobServiceClient.from_connection_string(self.azurite.connection_string)
        store = AzureBlobStore(service.get_container_client(self.container), "ci/")
        return {str(r.get("request_id")) for r in _parsed(store.records("audit.jsonl").read())}


def make_estate(root: Path, azurite: Azurite) -> Estate:
    estate = Estate(root, azurite.new_container(), azurite)
    for name in ("first", "second"):
        desired = estate.checkout(name)
        shutil.copytree(EXAMPLE, desired)
        (desired / "fake-state.json").unlink()
        with (desired / "partner.yaml").open("a") as partner:
            partner.write(
                f"state:\n  backend: azure_blob\n  container: {estate.container}\n  prefix: ci/\n"
            )
    shutil.copy(EXAMPLE / "fake-state.json", root / "live.json")
    return estate


def apply_args(pcr: str, desired: Path, url: str) -> list[str]:
    backend = ["--endpoint", url, "--auto-approve", "--now", NOW]
    return [pcr, "apply", "--desired", str(desired), *backend]


def wait_for_change(held: Hold, process: subprocess.Popen[str]) -> None:
    """Until the apply's first change is held at the fake's door, or the apply has ended."""
    while not held.arrived.wait(0.2):
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the apply ended before its first change: {err}{out}")


def run(args: list[str], estate: Estate) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=estate.env(),
        capture_output=True,
        text=True,
        timeout=SAFETY_SECONDS,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def one_trial(pcr: str, root: Path, azurite: Azurite) -> None:
    estate = make_estate(root, azurite)
    with FakeServer(root / "live.json") as server:
        # Every change of the first run waits at the door until the second has run.
        with server.app.hold("PATCH", r"/customers/", count=None) as held:
            first = subprocess.Popen(
                apply_args(pcr, estate.checkout("first"), server.url),
                env=estate.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            # The first run holds the lease and waits in its first change: an event.
            wait_for_change(held, first)
            second = run(apply_args(pcr, estate.checkout("second"), server.url), estate)
            sent_while_held = list(server.state.mutations)
        _, first_err = first.communicate(timeout=SAFETY_SECONDS)
        mutations = list(server.state.mutations)
    assert second.returncode == 1, second.stderr
    assert "apply refused, nothing was changed: another apply is running" in second.stderr
    assert HOLDER.search(second.stderr), second.stderr
    assert sent_while_held == []  # the second run sent nothing at all
    assert first.returncode == 0, first_err
    assert len(mutations) == 13
    assert_each_mutation_once(mutations)
    assert {m["request_id"] for m in mutations} <= estate.audited()


@pytest.mark.parametrize("trial", range(TRIALS))
def test_one_of_two_runners_refuses_and_nothing_is_doubled(
    tmp_path: Path, azurite: Azurite, pcr_executable: str, trial: int
) -> None:
    one_trial(pcr_executable, tmp_path, azurite)


def test_a_killed_run_is_resumed_from_another_checkout(
    tmp_path: Path, azurite: Azurite, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path, azurite)
    with FakeServer(tmp_path / "live.json") as server:
        with server.app.hold("PATCH", r"/customers/") as held:
            # One customer at a time: exactly one change is at the door when it dies.
            first = subprocess.Popen(
                [
                    *apply_args(pcr_executable, estate.checkout("first"), server.url),
                    "--parallel",
                    "1",
                ],
                env=estate.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            wait_for_change(held, first)
            first.kill()  # SIGKILL, mid-step: its change is at Partner Center's door
            first.wait(timeout=SAFETY_SECONDS)
            held.release()
            # The change lands; nobody hears the answer.
            assert held.answered.wait(SAFETY_SECONDS)
        landed = list(server.state.mutations)
        assert len(landed) == 1

        # The killed run's lease lives on for up to a minute: the refusal names it.
        second = estate.checkout("second")
        refused = run(apply_args(pcr_executable, second, server.url), estate)
        assert refused.returncode == 1, refused.stderr
        holder = HOLDER.search(refused.stderr)
        assert holder, refused.stderr
        unlocked = run(
            [pcr_executable, "unlock", "--desired", str(second), "--holder", holder.group(1)],
            estate,
        )
        assert unlocked.returncode == 0, unlocked.stderr

        resumed = run(apply_args(pcr_executable, second, server.url), estate)
        mutations = list(server.state.mutations)
    assert resumed.returncode == 0, resumed.stderr
    assert "sent by an interrupted run, found in place" in resumed.stderr
    assert len(mutations) == 13
    assert_each_mutation_once(mutations)
    # Every mutation that reached Partner Center is in the audit trail, the killed
    # run's included, which that run never got to write.
    assert {m["request_id"] for m in mutations} <= estate.audited()
    assert landed[0]["request_id"] in estate.audited()
