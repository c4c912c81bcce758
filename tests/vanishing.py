"""Customers that vanish while pcr works: the fake behind a WSGI wrapper that removes a
reseller relationship (or hides a customer from the list) at an exact point of a run."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import WSGIServer
from wsgiref.simple_server import make_server

import httpx

from reconciler.desired.load import load_desired
from reconciler.desired.model import Desired
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from tests.conftest import EXAMPLE

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TOKEN = "tok-VANISHING-5c1e"
CUSTOMER_LIST = "/v1/customers"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Trigger = Callable[[str, str], bool]  # (method, path) of a request just answered


def after_customer_page(method: str, path: str) -> bool:
    """Between a page of the customer list and the deep reads it starts."""
    return method == "GET" and path == CUSTOMER_LIST


def after_customer_read(customer_id: str) -> Trigger:
    """Right after a GET of this customer by id (apply's removal re-check starts with one)."""
    return lambda method, path: method == "GET" and path == f"{CUSTOMER_LIST}/{customer_id}"


@dataclass
class Vanishing:
    """The fake, plus what happens in the portal meanwhile.

    Once a request matching `after` is answered (its body is ready, so the
    client sees the world as it was), the `removed` customers' reseller
    relationships are gone: the fake then answers 404 (code 3000) for them, and
    lists them no more. `hidden` customers are left out of every customer page,
    as a list that shifts under pcr's paging may leave one out.
    """

    app: FakePartnerCenter
    removed: set[str] = field(default_factory=set)
    after: Trigger = after_customer_page
    hidden: set[str] = field(default_factory=set)
    armed: bool = True

    @property
    def state(self) -> FakeState:
        return self.app.state

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        method, path = str(environ["REQUEST_METHOD"]), str(environ.get("PATH_INFO") or "")
        if path == CUSTOMER_LIST and self.hidden:
            body = self._without_hidden(environ, start_response)
        else:
            body = self.app(environ, start_response)
        if self.armed and self.after(method, path):
            self.remove_now()
        return body

    def remove_now(self) -> None:
        with self.app.edit():
            for customer in self.state.data["customers"]:
                if customer["id"] in self.removed:
                    customer["relationshipToPartner"] = "none"

    def _without_hidden(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        answered: list[Any] = []
        page = json.loads(b"".join(self.app(environ, lambda *args: answered.extend(args))))
        page["items"] = [c for c in page["items"] if c["id"] not in self.hidden]
        payload = json.dumps(page).encode()
        status, headers = answered[0], answered[1]
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


def example_desired() -> Desired:
    desired = load_desired(EXAMPLE).desired
    assert desired is not None
    return desired


def example_fake() -> FakePartnerCenter:
    return FakePartnerCenter(FakeState(json.loads((EXAMPLE / "fake-state.json").read_text())))


def in_process_client(app: WsgiApp) -> PartnerCenterClient:
    return PartnerCenterClient(
        "https://pc.test",
        StaticToken(TOKEN),
        transport=httpx.WSGITransport(app=app),
        limits=Limits(rate_per_minute=100_000),
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """Each request on its own thread, as `pcr fake serve` answers them."""

    daemon_threads = True


@contextmanager
def loopback_client(app: WsgiApp) -> Iterator[PartnerCenterClient]:
    """A client talking to `app` over a real loopback socket."""
    httpd = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        with PartnerCenterClient(
            f"http://127.0.0.1:{httpd.server_port}",
            StaticToken(TOKEN),
            limits=Limits(rate_per_minute=100_000),
        ) as client:
            yield client
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@contextmanager
def client_for(app: WsgiApp, mode: str) -> Iterator[PartnerCenterClient]:
    if mode == "loopback":
        with loopback_client(app) as client:
            yield client
        return
    with in_process_client(app) as client:
        yield client
