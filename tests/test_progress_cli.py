"""The installed `pcr` planning an estate whose list pages by at once and whose deep reads
take the time: the progress moves with the deep reads, and says its rate and time left,
on a terminal (one line redrawn in place) and in a log (a few plain lines); a quick plan
leaves a log without one.

The deep reads wait at the fake's door until the test lets them through, a pair at a time,
and the test waits for what pcr writes, so every step is one the test has seen happen. The
one pause is a lower bound, never a wait for something to happen: a rate needs reads done
at least `RATE_SPAN` seconds apart, and no machine is too fast for a pause that long.
"""

from __future__ import annotations

import fcntl
import os
import pty
import queue
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from reconciler.fake.app import Hold
from reconciler.fake.server import FakeServer
from reconciler.progress import RATE_SPAN
from tests.apply.support import NOW
from tests.apply.support import pcr_env
from tests.bench.estate import generate
from tests.bench.estate import write_desired
from tests.bench.estate import write_fake_state

CUSTOMERS, DEEP = 200, 20  # every tenth customer's file overrides a subscription
DEEP_READ = r"/customers/[^/]+/subscriptions$"
SAFETY_SECONDS = 60  # only a bound for waits that end on events
UNIT = "customers' details"
LINE = re.compile(
    rf"^pcr: reading Partner Center: (\d+)/{DEEP} {UNIT} \({CUSTOMERS} listed\), (\d+)%(.*)$"
)
RATE = r"\d[\d.]*/(?:s|min)"
DURATION = r"\d[\dhms. ]*"


def estate(root: Path) -> tuple[Path, Path]:
    """The desired state and the fake's state file: `CUSTOMERS` customers, `DEEP` of them
    with an override (so a deep read), which matches Partner Center (so no change)."""
    made = generate(CUSTOMERS)
    made.offboarding.clear()
    made.overrides.clear()
    for wire in made.customers:
        if len(made.overrides) == DEEP:
            break
        for sub in made.subscriptions[wire["id"]]:
            if (
                sub.get("productType", {}).get("id") == "OnlineServicesNCE"
                and sub["status"] == "active"
            ):
                made.overrides[wire["id"]] = [{"id": sub["id"], "status": "active"}]
                break
    assert len(made.overrides) == DEEP
    write_desired(made, root / "desired-state")
    write_fake_state(made, root / "fake-state.json")
    return root / "desired-state", root / "fake-state.json"


def plan(pcr: str, desired: Path, url: str) -> list[str]:
    return [pcr, "plan", "--desired", str(desired), "--endpoint", url, "--now", NOW]


def in_pairs(server: FakeServer) -> list[Hold]:
    """Holds that catch the deep reads two at a time, in the order they arrive."""
    return [server.app.hold("GET", DEEP_READ, count=2) for _ in range(DEEP // 2)]


class Lines:
    """The lines a stream gives, as they come."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next_progress(self) -> re.Match[str]:
        """The next progress line, once pcr has written it."""
        while (line := self._lines.get(timeout=SAFETY_SECONDS)) is not None:
            self.seen.append(line)
            if found := LINE.match(line):
                return found
        raise AssertionError("pcr ended without another progress line:\n" + "\n".join(self.seen))

    def rest(self) -> list[str]:
        self._reader.join(SAFETY_SECONDS)
        while (line := self._lines.get_nowait()) is not None:
            self.seen.append(line)
        return self.seen


def test_a_log_hears_from_a_slow_read_a_tenth_at_a_time_with_rate_and_eta_not_a_quick_one(
    tmp_path: Path, pcr_executable: str
) -> None:
    desired, live = estate(tmp_path)
    with FakeServer(live) as server:
        quick = subprocess.run(
            plan(pcr_executable, desired, server.url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=pcr_env(),
            timeout=SAFETY_SECONDS,
        )
        assert quick.returncode == 0, quick.stderr
        holds = in_pairs(server)  # from now on the deep reads wait for the test
        with (tmp_path / "plan.txt").open("w") as out:
            process = subprocess.Popen(
                plan(pcr_executable, desired, server.url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.PIPE,
                text=True,
                env=pcr_env(),
            )
        try:
            assert process.stderr is not None
            log = Lines(process.stderr)
            # Every customer listed, no deep read done, and the read has gone on past the
            # quiet start: a first line says so.
            said = [log.next_progress()]
            holds[0].release()
            said.append(log.next_progress())
            time.sleep(RATE_SPAN * 1.2)  # a lower bound: the next reads come that much later
            for hold in holds[1:]:
                hold.release()
                said.append(log.next_progress())
            assert process.wait(SAFETY_SECONDS) == 0, "\n".join(log.rest())
        finally:
            for hold in holds:
                hold.close()
            process.kill()
            process.wait()
    # The quick plan: not a progress line.
    assert "pcr: reading Partner Center" not in quick.stderr, quick.stderr
    assert f"pcr: read {CUSTOMERS} customers" in quick.stderr
    # The slow one: a line as the quiet start ends, then one a tenth; never one a read.
    assert [int(line[1]) for line in said] == list(range(0, DEEP + 1, 2))
    assert [int(line[2]) for line in said] == list(range(0, 101, 10))
    assert said[0][3] == ""  # no read done yet: no rate, no time left
    for line in said[2:-1]:
        assert re.fullmatch(rf", {RATE}, ETA {DURATION}", line[3]), line[0]
    assert re.fullmatch(rf", {RATE}, in {DURATION}", said[-1][3]), said[-1][0]
    everything = log.rest()
    assert [line for line in everything if "reading Partner Center" in line] == [
        line[0] for line in said
    ]  # no other progress line, after the last one either
    assert any(line.startswith(f"pcr: read {CUSTOMERS} customers") for line in everything)
    assert "reading Partner Center" not in (tmp_path / "plan.txt").read_text()  # stdout


class Screen:
    """What a process writes to a pseudo-terminal, as it comes."""

    def __init__(self, controller: int) -> None:
        self._controller = controller
        self._seen = b""
        self._changed = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._controller, 4096)
            except OSError:  # the terminal closed: the process has exited
                chunk = b""
            with self._changed:
                self._seen += chunk
                self._closed = not chunk
                self._changed.notify_all()
            if not chunk:
                return

    @property
    def text(self) -> str:
        with self._changed:
            return self._seen.decode(errors="replace")

    def wait_for(self, pattern: str) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: self._closed or re.search(pattern, self._seen.decode(errors="replace")),
                SAFETY_SECONDS,
            )
        assert found and re.search(pattern, self.text), f"never drew {pattern!r}:\n{self.text}"

    def wait_closed(self) -> str:
        self._reader.join(SAFETY_SECONDS)
        return self.text


@contextmanager
def terminal(columns: int) -> Iterator[tuple[int, int]]:
    controller, tty = pty.openpty()
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    try:
        yield controller, tty
    finally:
        os.close(controller)


def test_a_slow_read_on_a_terminal_is_one_line_redrawn_with_rate_and_time_left(
    tmp_path: Path, pcr_executable: str
) -> None:
    desired, live = estate(tmp_path)
    bar = r"\rreading Partner Center  \[[#-]+\]  "
    # The terminal's own width, not one a parent process left in the environment.
    on_terminal = {k: v for k, v in pcr_env(NO_COLOR="1", TERM="xterm").items() if k != "COLUMNS"}
    with FakeServer(live) as server, terminal(columns=120) as (controller, tty):
        holds = in_pairs(server)
        process = subprocess.Popen(
            plan(pcr_executable, desired, server.url),
            stdin=tty,
            stdout=tty,
            stderr=tty,
            env=on_terminal,
            close_fds=True,
        )
        os.close(tty)
        try:
            screen = Screen(controller)
            screen.wait_for(rf"{bar}0/{DEEP} {UNIT}  \({CUSTOMERS} listed\)")
            holds[0].release()
            screen.wait_for(rf"{bar}2/{DEEP} {UNIT}")
            time.sleep(RATE_SPAN * 1.2)  # a lower bound: the next reads come that much later
            holds[1].release()
            screen.wait_for(rf"{bar}4/{DEEP} {UNIT}  {RATE}  ETA \d[^(]*\({CUSTOMERS} listed\)")
            for hold in holds[2:]:
                hold.release()
            assert process.wait(SAFETY_SECONDS) == 0, screen.text
            drawn = screen.wait_closed()
        finally:
            for hold in holds:
                hold.close()
            process.kill()
            process.wait()
    done = rf"{bar}{DEEP}/{DEEP} {UNIT}  {RATE}  in {DURATION}  \({CUSTOMERS} listed\)\s*\r\n"
    assert re.search(done, drawn), drawn  # left whole on its line
    assert "\x1b" not in drawn  # NO_COLOR: no escape code, the redrawn line's included
    assert "pcr: reading Partner Center" not in drawn  # no plain line beside it
