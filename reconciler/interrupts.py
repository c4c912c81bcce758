"""SIGINT and SIGTERM: how pcr stops when it is asked to (exit 130: docs/design.md,
"Exit codes").

A person presses Ctrl+C, maybe twice; GitHub cancels a job with SIGINT, then SIGTERM
7.5 s later, then SIGKILL 2.5 s after that. Outside apply's steps there is nothing to
finish: a signal raises `Interrupted` in the main thread, which unwinds (the apply lock
released, temporary files removed) to one line, `pcr: interrupted`, and exit 130. While
apply runs its steps (`graceful`), the first signal only asks that no new step start: the
steps in flight finish, and apply prints its summary and exits 130 itself. A second
SIGINT then stops at once; what was in flight stays in the journal as started, and the
next run verifies it. A SIGTERM meanwhile changes nothing: GitHub's comes unasked, and
the seconds before its SIGKILL are the steps' to finish in. `held` keeps a signal out of
a short section that must not be cut (a file written whole) until its end.

Python runs signal handlers in the main thread only: worker threads see nothing but the
stop event that `graceful` hands them.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn
from typing import TypeVar

T = TypeVar("T")

EXIT_CODE = 130
MESSAGE = "pcr: interrupted"
SIGNALS = (signal.SIGINT, signal.SIGTERM)

FINISHING = (
    "pcr: interrupted ({signal}): finishing the steps in flight, starting no new one "
    "(Ctrl+C again stops at once)"
)
STILL = "pcr: {signal}: still finishing the steps in flight (SIGINT stops at once)"
STOPPED = (
    "pcr: interrupted again ({signal}): stopped at once; the steps in flight stay in the "
    "journal as started, and the next run verifies them"
)


class Interrupted(BaseException):
    """A signal asked pcr to stop.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` (one step's
    failure, the CLI's net for bugs) takes it for an error; and not a KeyboardInterrupt,
    which click turns into Abort ("aborted", exit 1).
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _Mode:
    stop: threading.Event | None = None  # apply's steps are running: a signal sets this
    holding: int = 0  # depth of `held` sections: a signal waits for their end
    pending: int | None = None  # the signal that came while held
    exiting: bool = False  # on the way out: a further signal ends the process
    # pcr was interrupted: what its threads still say as the clients close under them
    # (a retry after a closed connection) is not for the user, who was told "interrupted".
    interrupted: bool = False


_mode = _Mode()


def _handle(signum: int, frame: FrameType | None) -> None:
    if _mode.exiting:
        os._exit(EXIT_CODE)
    if _mode.stop is not None:
        _stop_steps(_mode.stop, signal.Signals(signum))
    elif _mode.holding and _mode.pending is None:
        _mode.pending = signum  # a second signal while held does not wait
    else:
        _mode.interrupted = True
        raise Interrupted(signum)


def not_after_interrupt(record: logging.LogRecord) -> bool:
    """A logging filter: nothing more is logged once pcr was interrupted."""
    return not _mode.interrupted


def _stop_steps(stop: threading.Event, received: signal.Signals) -> None:
    if not stop.is_set():
        stop.set()
        _write(FINISHING.format(signal=received.name))
    elif received is not signal.SIGINT:
        _write(STILL.format(signal=received.name))
    else:
        _write(STOPPED.format(signal=received.name))
        # Not an exception: unwinding would close the client under the workers, whose
        # steps in flight would fail and be journaled failed instead of left to verify.
        os._exit(EXIT_CODE)


def _write(line: str) -> None:
    # Straight to the file descriptor: a worker may hold sys.stderr's lock right now.
    with suppress(OSError):
        # On a terminal, off the line that the echoed ^C or apply's status line is on.
        start = "\n" if os.isatty(2) else ""
        os.write(2, f"{start}{line}\n".encode())


@contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM handled as this module says while the block runs (a whole run).

    Also when the process started with SIGINT ignored (a background job of a shell
    without job control): the contract says what a signal does, and CI sends it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers belong to the main thread; the caller handles interrupts
        return
    previous = {number: signal.signal(number, _handle) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        _mode.exiting = False  # for a caller that runs pcr again in this process (tests)
        _mode.interrupted = False


@contextmanager
def graceful(stop: threading.Event) -> Iterator[None]:
    """While the block runs, a first signal sets `stop`, and a second SIGINT exits at once."""
    _mode.stop = stop
    try:
        yield
    finally:
        _mode.stop = None


@contextmanager
def held() -> Iterator[None]:
    """A signal during the block is acted on at its end (a second one at once)."""
    _mode.holding += 1
    try:
        yield
    finally:
        _mode.holding -= 1
        if not _mode.holding and (signum := _mode.pending) is not None:
            _mode.pending = None
            _mode.interrupted = True
            raise Interrupted(signum)


def leave_signals_to_main() -> None:
    """Block SIGINT and SIGTERM in the calling thread and in the threads it starts.

    The kernel may hand a process's signal to any thread that does not block it. Only
    in the main thread does it cut short the wait that thread is in (on the workers, on
    the reads) at once; anywhere else, it is seen when that wait ends by itself.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)


def interruptible(call: Callable[[], T]) -> T:
    """`call()`, run in a daemon thread while the main thread waits for it.

    For reads: a signal then ends the wait at once, not after every read the call's
    thread pool has queued (leaving a pool's block runs them all). What the call still
    does is cut off when the process exits (`exit_interrupted`).
    """
    outcome: Future[T] = Future()

    def run() -> None:
        leave_signals_to_main()  # and so do the thread pools the call starts
        try:
            outcome.set_result(call())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            outcome.set_exception(exc)

    threading.Thread(target=run, name="pcr-read", daemon=True).start()
    return outcome.result()


def exit_interrupted() -> NoReturn:
    """Say `pcr: interrupted` and exit 130, without waiting for threads left running.

    At exit Python joins every thread a pool started (daemon or not), and a pool runs
    all it has queued first: an interrupted read would go on to its end.
    """
    _mode.exiting = _mode.interrupted = True
    for stream in (sys.stdout, sys.stderr):  # what was said before comes first
        with suppress(Exception):  # a closed pipe: nothing more can be said there
            stream.flush()
    _write(MESSAGE)
    if threading.active_count() > 1:
        os._exit(EXIT_CODE)
    sys.exit(EXIT_CODE)
