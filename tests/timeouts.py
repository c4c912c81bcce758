"""Timeouts that are certain rather than raced, and servers that misbehave on purpose.

`FirstAttemptTimesOut` gives only the first attempt of chosen calls a short read timeout, for
the fake to hold that attempt until the client has given up on it (`FakePartnerCenter.hold`).
`RawServer` is a loopback TCP server whose every connection a test's own function answers,
byte by byte if it likes: for slow-loris answers, endless bodies, silence, or a port that
never accepts. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

import httpx

from reconciler.live.transport import DeadlineTransport

# Only a safety net: how long a misbehaving server keeps misbehaving at most, so that a
# client that does not give up makes a test fail instead of hang.
SAFETY_SECONDS = 20.0


class FirstAttemptTimesOut(DeadlineTransport):
    """Real sockets. The first attempt of a call (an `MS-RequestId` not seen before) whose
    method is `method` and whose path `path` (a regular expression) matches waits `read`
    seconds for its answer; everything else, retries included, keeps the client's timeout,
    so on a loaded machine no other request gives up by accident."""

    def __init__(self, method: str, path: str, read: float = 0.1) -> None:
        super().__init__()
        self.method, self.path, self.read = method.upper(), re.compile(path), read
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and self.path.search(request.url.path):
            request_id = request.headers.get("MS-RequestId", "")
            with self._lock:
                first = request_id not in self._seen
                self._seen.add(request_id)
            if first:
                request.extensions = {
                    **request.extensions,
                    "timeout": {**request.extensions.get("timeout", {}), "read": self.read},
                }
        return super().handle_request(request)


class Connection:
    """One accepted connection, for a `RawServer` handler: read the request, send bytes."""

    def __init__(self, sock: socket.socket, stopped: threading.Event) -> None:
        self.sock = sock
        self.stopped = stopped

    def read_request(self) -> bytes:
        """The request's head (up to the blank line), or what came before the peer left."""
        data = b""
        self.sock.settimeout(SAFETY_SECONDS)
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def send(self, data: bytes) -> bool:
        """Send; False once the client has gone (it gave up, as it should)."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; False if the server is stopping meanwhile."""
        return not self.stopped.wait(seconds)


Handler = Callable[[Connection], None]


class RawServer:
    """A loopback TCP server; each connection is answered by `handler` in a thread of its own.

    With `accept=False` it listens but never accepts, and its one-place queue is filled at
    once, so a connect to it hangs as one to a blackholed port does (the kernel drops the
    SYN while the queue is full) until the client's connect timeout ends it.
    """

    def __init__(self, handler: Handler | None = None, *, accept: bool = True) -> None:
        self.handler = handler
        self.stopped = threading.Event()
        self.connections = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._fillers: list[socket.socket] = []
        if accept:
            self._listener.listen(16)
            self._listener.settimeout(0.05)  # so the accept loop sees `stopped` soon
            self._threads.append(threading.Thread(target=self._serve, daemon=True))
        else:
            self._listener.listen(0)
            filler = socket.create_connection(self._listener.getsockname(), timeout=5)
            self._fillers.append(filler)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()
        return f"http://{host}:{port}"

    def __enter__(self) -> RawServer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopped.set()
        self._listener.close()
        for filler in self._fillers:
            filler.close()
        for thread in list(self._threads):
            thread.join(SAFETY_SECONDS)

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            thread = threading.Thread(target=self._answer, args=(sock,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _answer(self, sock: socket.socket) -> None:
        # OSError: the client went away, which is what a server sees when it gives up.
        with sock, suppress(OSError):
            if self.handler is not None:
                self.handler(Connection(sock, self.stopped))
