"""The fake Partner Center on a loopback socket: `pcr fake serve`, or a test's background thread.

A threaded `wsgiref` server: each request on its own thread, the app's lock
around the state, and the state file rewritten atomically after every change,
so another process (or a crash) always sees a complete, current file. Only
loopback addresses are accepted: the fake takes any bearer token. Microsoft Graph's
part of the fake is on the same port, under `/v1.0`.
"""

from __future__ import annotations

import logging
import signal
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from reconciler.partnercenter.auth import is_loopback
from reconciler.partnercenter.errors import InsecureEndpointError
from reconciler.partnercenter.fake.app import FakePartnerCenter
from reconciler.partnercenter.fake.state import FakeState

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the debug log instead of stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a
        # machine without reverse DNS; the loopback address is name enough.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class FakeServer:
    """The fake, loaded from `state_path` and saved back to it after every change."""

    def __init__(
        self,
        state_path: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        save_interval: float = 0.0,
    ) -> None:
        if not is_loopback(host):
            raise InsecureEndpointError(f"the fake serves on loopback only, not {host!r}")
        self.state_path = state_path
        # 0 saves after every change; a large estate (benchmarks) saves at most
        # once per interval instead, as rewriting a big file per change is slow.
        self.save_interval = save_interval
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._saver: threading.Thread | None = None
        on_change = self._save if save_interval <= 0 else self._mark_dirty
        state = FakeState.load(state_path)
        # Catch terms up with the clock now, not inside the first request: on a
        # large state that walk takes seconds and would skew the first answer.
        state.apply_lifecycle()
        self.app = FakePartnerCenter(state, on_change=on_change)
        server_class = _ThreadingWSGIServer6 if ":" in host else _ThreadingWSGIServer
        self._server: WSGIServer = server_class((host.strip("[]"), port), _QuietHandler)
        self._server.set_app(self.app)
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> FakeState:
        return self.app.state

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def _mark_dirty(self, state: FakeState) -> None:
        self._dirty.set()
        if self._saver is None:
            self._saver = threading.Thread(target=self._save_periodically, daemon=True)
            self._saver.start()

    def _save_periodically(self) -> None:
        while not self._stopping.wait(self.save_interval):
            if self._dirty.is_set():
                self._dirty.clear()
                with self.app.lock:
                    self._save(self.app.state)

    def start(self) -> FakeServer:
        """Serve in a daemon thread (for tests); `stop()` ends it."""
        # A short poll interval: stop() waits for the serving loop to notice, and tests stop often.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self.app.release_holds()  # a request a test still holds must not outlive the server
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        self._stopping.set()
        if self._saver is not None:
            self._saver.join()
        with self.app.lock:
            self._save(self.app.state)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _save(self, state: FakeState) -> None:
        state.save(self.state_path)


def serve(
    state_path: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[str], None] | None = None,
    save_interval: float = 0.0,
) -> None:
    """Serve the fake in the foreground until interrupted; `ready(url)` once it listens.

    `ready` is called only once Ctrl+C (SIGINT) is sure to stop the server, so whoever
    waits for it may interrupt the server straight away.
    """
    server = FakeServer(state_path, host, port, save_interval=save_interval)
    with _interrupted_by_sigint():
        try:
            # Inside the try: an interrupt that comes as soon as the announcement is out
            # still saves the state and reports.
            (ready or _announce)(server.url)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            counts = server.app.status_counts
            total, throttled = sum(counts.values()), counts[429]
            print(
                f"Fake Partner Center served {total} requests ({throttled} answered 429)",
                flush=True,
            )


@contextmanager
def _interrupted_by_sigint() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt meanwhile, even in a process that was started with
    SIGINT ignored: a shell without job control starts background commands so (`pcr fake
    serve &` in a script or a CI step), and Python then never installs its own handler."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; the caller handles interrupts
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _announce(url: str) -> None:
    print(
        f"Fake Partner Center (and Microsoft Graph) listening on {url} (Ctrl+C to stop)",
        flush=True,
    )
