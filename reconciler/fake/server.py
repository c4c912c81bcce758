"""The fake Partner Center on a loopback socket: `pcr fake serve`, or a test's background thread.

HTTP/1.1 with keep-alive: a client sends request after request on one connection, each
answer framed by its Content-Length (errors and 204s included) and a `Connection: close`
honoured. Each connection has its own daemon thread; the app's lock serialises access to
the state, and injected latency is slept outside it, so slow answers overlap. The listen
backlog is deep (`REQUEST_QUEUE_SIZE`), so that a burst of new connections waits in the
kernel's queue instead of being dropped. The state file is rewritten atomically after every
change (or at most every `save_interval`), so another process (or a crash) always sees a
complete, current file. Only loopback addresses are accepted: the fake takes any bearer
token. Microsoft Graph's part of the fake is on the same port, under `/v1.0`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from reconciler.fake.app import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.auth import is_loopback
from reconciler.live.errors import InsecureEndpointError

log = logging.getLogger(__name__)

# Connections the kernel queues before they are accepted; Linux caps it at net.core.somaxconn.
REQUEST_QUEUE_SIZE = 1024
# Seconds an idle keep-alive connection stays open (clients close theirs sooner).
IDLE_TIMEOUT_SECONDS = 120.0
# Statuses whose answers never have a body (RFC 9110 §6.4.1).
_NO_BODY = frozenset({204, 304})


class _Handler(BaseHTTPRequestHandler):
    """One connection: requests answered one after another, by the WSGI app, until the
    client closes, asks to (`Connection: close`), or the server stops."""

    protocol_version = "HTTP/1.1"
    server_version = "FakePartnerCenter"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # an answer goes out in one write, at once
    server: _Server

    def _answer(self) -> None:
        server = self.server
        if server.stopping.is_set():
            self.close_connection = True  # hung up on, unanswered: the server has stopped
            return
        if self.headers.get("Transfer-Encoding"):
            self.send_error(HTTPStatus.LENGTH_REQUIRED, "Send the body with a Content-Length")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-request
            self.close_connection = True
            return
        status, headers, payload = self._call_app(body)
        self._send(status, headers, payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def _call_app(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            started[:] = [status, headers]
            return lambda data: None  # the app returns its body; it never writes

        try:
            chunks: Iterable[bytes] = self.server.app(self._environ(body), start_response)
            try:
                payload = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if callable(close):
                    close()
            status_line, headers = started
            return int(str(status_line).split(" ", 1)[0]), list(headers), payload
        except Exception:
            log.exception("the fake failed on %s %s", self.command, self.path)
            self.close_connection = True
            payload = b'{"code":500,"description":"The fake failed.","data":[]}'
            return 500, [("Content-Type", "application/json; charset=utf-8")], payload

    def _environ(self, body: bytes) -> dict[str, Any]:
        """The WSGI environ, as `wsgiref` builds it (the process environment left out)."""
        path, _, query = self.path.partition("?")
        server_name, server_port = self.server.server_name, self.server.server_port
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "iso-8859-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "SERVER_PROTOCOL": self.request_version,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type") or self.headers.get_content_type(),
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.replace("-", "_").upper()
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            value = value.strip()
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _send(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        """The whole answer in one write; its Content-Length always the body's."""
        if status in _NO_BODY or self.command == "HEAD":
            length = 0 if status in _NO_BODY else len(payload)
            payload = b""
        else:
            length = len(payload)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}", f"Date: {self.date_time_string()}"]
        lines.append(f"Server: {self.server_version}")
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("content-length", "connection", "transfer-encoding", "date", "server"):
                continue
            lines.append(f"{name}: {value}")
        if status != 304:
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")  # as it asked; 1.0 closes by default
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + payload)
        self.log_request(status, length)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Each connection on a daemon thread; counts the connections it accepts."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = REQUEST_QUEUE_SIZE

    def __init__(self, address: tuple[str, int], app: FakePartnerCenter) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.connections_accepted = 0
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self.connections_accepted += 1
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Hang up on every open connection: a handler waiting for the next request on one
        wakes to its end, and a client's pooled connection is not served after a stop."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (or a stop that hangs up on it) is no error.
        log.debug("connection from %s ended", client_address, exc_info=True)


class _Server6(_Server):
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
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host.strip("[]"), port), self.app)
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> FakeState:
        return self.app.state

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections the server has accepted: with keep-alive, far fewer
        than the requests it has answered."""
        return self._server.connections_accepted

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
        self._server.stopping.set()
        self._server.close_connections()
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


@contextlib.contextmanager
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
