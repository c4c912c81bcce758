"""Deadlines under the sockets: the client's transport, and the proxy it has to find itself.

httpx's read timeout starts afresh with each byte, so a server trickling a byte every
few seconds would never time out, in the headers or the body. `DeadlineTransport` holds
every socket operation (connect, TLS handshake, read, write) to the deadline the client
sets for the attempt with `answer_deadline`, on the client's own clock.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from reconciler.live.errors import ConfigurationError

__all__ = ["DeadlineTransport", "answer_deadline", "default_transport", "environment_proxy"]

log = logging.getLogger(__name__)


class _Deadline(threading.local):
    """The deadline of the answer this thread is reading, on the client's clock."""

    at: float | None = None
    clock: Callable[[], float] = time.monotonic


_DEADLINE = _Deadline()


@contextmanager
def answer_deadline(at: float, clock: Callable[[], float]) -> Iterator[None]:
    """Hold this thread's socket operations to `at` on `clock` while inside."""
    previous = (_DEADLINE.at, _DEADLINE.clock)
    _DEADLINE.at, _DEADLINE.clock = at, clock
    try:
        yield
    finally:
        _DEADLINE.at, _DEADLINE.clock = previous


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """`timeout`, shortened to what is left of this thread's answer deadline."""
    if _DEADLINE.at is None:
        return timeout
    left = _DEADLINE.at - _DEADLINE.clock()
    if left <= 0:
        raise error("the answer's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read, write and handshake ends by the answer's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, *rest: Any, **options: Any
    ) -> httpcore.NetworkStream:
        # Only the timeout is ours to hold to the deadline: the rest goes on as it came.
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, timeout, *rest, **options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, *rest: Any, **options: Any
    ) -> httpcore.NetworkStream:
        timeout = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, *rest, **options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, with every socket operation held to the answer deadline the
    client sets for the attempt. The client's default; a test's transport may subclass it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx takes no network backend, so it is put in under the pool it built. Should a
        # future httpx lay this out differently, the client still checks the deadline
        # between the chunks it reads, only less exactly.
        pool = getattr(self, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
        else:  # pragma: no cover - a different httpx
            log.debug("httpx's transport has no network backend to hold to deadlines")


def environment_proxy(url: httpx.URL) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, ALL_PROXY, NO_PROXY), as httpx
    would have used it: with a transport of its own the client must look itself."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(url.host):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


def default_transport(url: httpx.URL) -> DeadlineTransport:
    """The client's transport for `url`: a `DeadlineTransport`, through the proxy the
    environment names for it; a proxy that cannot be used is a `ConfigurationError`."""
    try:
        return DeadlineTransport(proxy=environment_proxy(url))
    except (ValueError, httpx.InvalidURL, ImportError) as exc:  # its URL is not shown:
        raise ConfigurationError(  # it may hold the proxy's password
            f"the proxy the environment names for {url.host} (HTTPS_PROXY, "
            f"HTTP_PROXY or ALL_PROXY) cannot be used: {type(exc).__name__}"
        ) from None
