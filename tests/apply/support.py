"""Helpers for the apply tests: a copy of the example estate on disk, `pcr` as a subprocess,
and readers for what apply and the fake leave behind (journal, audit log, mutation log)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLE

NOW = "2026-11-22T09:00:00Z"
# Recognisable, so a test can prove it never lands in a log.
TOKEN = "tok-APPLY-SECRET-7f3e2a91-never-log"
GRAPH_TOKEN = "tok-GRAPH-SECRET-0b4d6e82-never-log"  # a Partner Center token is not valid for Graph

CONTOSO = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"
FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
FABRIKAM_LEGACY = "f3ea7643-adc7-4f68-b701-7b00fd007869"  # Office 365 E3: the plan suspends it
FABRIKAM_NCE = "1e576d26-e853-4b0b-a16b-9f12450fa0e2"  # Business Basic: auto-renew goes off
LITWARE = "c1260b6b-9d9b-424d-8a7b-e52c0648b082"
NORTHWIND = "f86270b9-6fdb-4baa-965b-bffb2f7a52ec"
NORTHWIND_EXCHANGE = "b2c4e6f8-1a3c-4e5f-8a7b-9c0d1e2f3a4b"
NORTHWIND_E1 = "c3d5f7a9-2b4d-4f6a-9b8c-0d1e2f3a4b5c"
ADVENTURE_WORKS = "f0539d6e-a996-4622-89f9-b3150c1e88cd"
ADVENTURE_WORKS_NCE = "e5f7b9c1-4d6f-4b8c-9dae-2f3a4b5c6d7e"
PROSEWARE = "93fbc55a-41ac-4fc1-b41e-1e976ccce06a"
WIDE_WORLD = "d597d86d-6156-4b62-b83c-8bccabcc0e21"
WIDE_WORLD_SOFTWARE = "f2a4c6d8-1e3a-4cf3-8e15-9a0b1c2d3e45"
WIDE_WORLD_ORDER = "3df4a1c5d6eb"

# The example plan at NOW: 13 actions over 6 customers; 2 deferred, 1 blocked.
EXAMPLE_ACTIONS = 13
# Customer files whose removal leaves an estate with nothing deferred or blocked.
WAITING_FILES = ("proseware.yaml", "tailspin-toys.yaml", "woodgrove-bank.yaml")


@dataclass
class Estate:
    """A desired-state copy, its fake Partner Center state file and the saved plan's path."""

    root: Path

    @property
    def desired(self) -> Path:
        return self.root / "desired-state"

    @property
    def live(self) -> Path:
        return self.root / "live.json"

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def state_dir(self) -> Path:
        """The default: `.pcr` beside the desired state."""
        return self.root / ".pcr"

    @property
    def audit(self) -> Path:
        return self.state_dir / "audit.jsonl"

    def journal(self) -> Path:
        (found,) = self.state_dir.glob("journal-*.jsonl")
        return found

    def live_data(self) -> dict[str, Any]:
        return json.loads(self.live.read_text())  # type: ignore[no-any-return]

    def mutations(self) -> list[dict[str, Any]]:
        return list(self.live_data()["mutations"])

    def add_faults(self, *rules: dict[str, Any]) -> None:
        """Fault rules for the fake (`FakeState.add_fault` fields), straight into its state file."""
        data = self.live_data()
        for rule in rules:
            data["faults"].append(
                {
                    "method": "*",
                    "status": None,
                    "count": 1,
                    "retry_after": None,
                    "latency": 0.0,
                    "code": None,
                    "description": None,
                    "polls": 1,
                    **rule,
                }
            )
        self.live.write_text(json.dumps(data, indent=2))


def make_estate(root: Path) -> Estate:
    estate = Estate(root)
    shutil.copytree(EXAMPLE, estate.desired)
    (estate.desired / "fake-state.json").rename(estate.live)
    return estate


def pcr_env(**extra: str) -> dict[str, str]:
    """The environment for a `pcr` subprocess: no inherited PCR_* settings, our token, and
    a client rate limit far above the real service's, as the fake needs no pacing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PCR_")}
    return (
        env
        | {"PCR_TOKEN": TOKEN, "PCR_GRAPH_TOKEN": GRAPH_TOKEN, "PCR_RATE_LIMIT": "60000"}
        | extra
    )


def run_pcr(
    pcr: str, *args: str | Path, cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The installed `pcr`, as CI runs it: no terminal (stdin an empty pipe), output captured."""
    return subprocess.run(
        [pcr, *map(str, args)],
        cwd=cwd,
        env=pcr_env(),
        input="",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def save_plan(pcr: str, estate: Estate, *backend: str, now: str = NOW) -> dict[str, Any]:
    """`pcr plan --out` for the estate (the fake in process unless a backend is given).

    Paths are relative to the estate, so a copy of it (plan included) works as well.
    """
    backend = backend or ("--fake", "live.json")
    args = ("plan", "--desired", "desired-state", *backend, "--now", now, "--out", "plan.json")
    result = run_pcr(pcr, *args, cwd=estate.root)
    assert result.returncode == 0, result.stderr
    return json.loads(estate.plan.read_text())  # type: ignore[no-any-return]


def apply_command(pcr: str, *backend: str, now: str = NOW) -> list[str]:
    """`pcr apply` of the estate's saved plan, run in the estate (default: the fake in process)."""
    backend = backend or ("--fake", "live.json")
    return [pcr, "apply", "plan.json", "--desired", "desired-state", *backend, "--now", now]


def run_apply(
    pcr: str, estate: Estate, *backend: str, now: str = NOW
) -> subprocess.CompletedProcess[str]:
    return run_pcr(pcr, *apply_command(pcr, *backend, now=now)[1:], cwd=estate.root)


def copy_estate(template: Estate, root: Path) -> Estate:
    shutil.copytree(template.root, root)
    return Estate(root)


def mutation_key(mutation: dict[str, Any]) -> tuple[str, str, str]:
    return (mutation["target"], mutation["action"], json.dumps(mutation["changes"], sort_keys=True))


def assert_each_mutation_once(mutations: list[dict[str, Any]]) -> None:
    """No change was sent twice: each (target, action, changes) at most once."""
    counts = Counter(mutation_key(m) for m in mutations)
    doubled = {key: n for key, n in counts.items() if n > 1}
    assert not doubled, f"mutations sent more than once: {doubled}"
    per_target = Counter((m["target"], m["action"]) for m in mutations)
    assert max(per_target.values(), default=1) == 1, per_target


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# A safety net for a hung server, not a measure of speed.
SERVER_STOP_SECONDS = 120


@contextmanager
def fake_serve(pcr: str, state: Path) -> Iterator[str]:
    """`pcr fake serve` on a free loopback port; yields its URL, stops it with Ctrl+C.

    Its banner (read from its stdout, so an event, not a guess) says it is listening.
    """
    server = subprocess.Popen(
        [pcr, "fake", "serve", "--state", str(state), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pcr_env(),
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert found, banner + (server.stderr.read() if server.stderr else "")
        yield found.group(0)
    finally:
        server.send_signal(signal.SIGINT)  # the server saves its state and exits
        server.communicate(timeout=SERVER_STOP_SECONDS)


TERMINAL_SECONDS = 120  # a net for a hung process on the terminal, never a measure of speed
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_escapes(text: str) -> str:
    return ESCAPE.sub("", text)


def run_on_terminal(
    command: list[str], cwd: Path, answer: str | None = None, **env: str
) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; answer the prompt when it shows.

    `env` is laid over `pcr_env(NO_COLOR="1")`.
    """
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        command, cwd=cwd, env=pcr_env(NO_COLOR="1") | env, stdin=terminal, stdout=terminal,
        stderr=terminal, close_fds=True,
    )  # fmt: skip
    os.close(terminal)
    seen, answered = b"", answer is None
    deadline = time.monotonic() + TERMINAL_SECONDS
    try:
        # Each wait ends when the process writes (or closes the terminal): the deadline is
        # only a safety net.
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([controller], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the process has exited
                break
            if not chunk:
                break
            seen += chunk
            if not answered and b"Only 'yes' is accepted" in seen:
                os.write(controller, f"{answer}\n".encode())
                answered = True
        return process.wait(timeout=TERMINAL_SECONDS), seen.decode(errors="replace")
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
