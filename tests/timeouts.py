"""A client timeout that is certain rather than raced: a transport that gives only the first
attempt of chosen calls a short read timeout, for the fake to hold that attempt until the
client has given up on it (`FakePartnerCenter.hold`)."""

from __future__ import annotations

import re
import threading

import httpx


class FirstAttemptTimesOut(httpx.HTTPTransport):
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
