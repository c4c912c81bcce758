"""Shared constants and helpers for the live-side tests (ids from the example fake state)."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server

import httpx

from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits

EXAMPLE_STATE = Path(__file__).resolve().parents[2] / "desired-state" / "fake-state.json"
# Recognisable, so a test can prove it never shows up anywhere.
FAKE_TOKEN = "tok-SECRET-3b9f1c7e-do-not-print"

CONTOSO = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"
FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
FABRIKAM_E3_LEGACY = "f3ea7643-adc7-4f68-b701-7b00fd007869"
FABRIKAM_BASIC_NCE = "1e576d26-e853-4b0b-a16b-9f12450fa0e2"
NORTHWIND = "f86270b9-6fdb-4baa-965b-bffb2f7a52ec"
ADVENTURE_WORKS = "f0539d6e-a996-4622-89f9-b3150c1e88cd"
ADVENTURE_WORKS_NCE = "e5f7b9c1-4d6f-4b8c-9dae-2f3a4b5c6d7e"
TAILSPIN = "6f55635c-a2f9-40b3-98c9-9879d04da870"
TAILSPIN_NCE = "f6a8c0d2-5e7a-4c9d-8ebf-3a4b5c6d7e8f"
PROSEWARE = "93fbc55a-41ac-4fc1-b41e-1e976ccce06a"
PROSEWARE_NCE = "a7b9d1e3-6f8b-4dae-9fc0-4b5c6d7e8f90"
PROSEWARE_LEGACY = "b8c0e2f4-7a9c-4ebf-8ad1-5c6d7e8f9a01"
WOODGROVE = "139748a4-22d9-4508-bd7f-04e25f245176"
WOODGROVE_RESERVATION = "5d8e2f1a-3b4c-4d6e-9f70-a1b2c3d4e5f6"
WIDE_WORLD = "d597d86d-6156-4b62-b83c-8bccabcc0e21"
WIDE_WORLD_SOFTWARE = "f2a4c6d8-1e3a-4cf3-8e15-9a0b1c2d3e45"
WIDE_WORLD_ORDER = "3df4a1c5d6eb"
ALPINE = "ae43c559-1885-44c2-ad5f-68ff5454b9da"


class SleepRecorder:
    """An injected `sleep` that records what it was asked to wait, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class Live:
    """A client wired to a fake, and that fake's app (same Python API in both modes)."""

    client: PartnerCenterClient
    app: FakePartnerCenter
    sleep: SleepRecorder

    @property
    def state(self) -> FakeState:
        return self.app.state


def example_state() -> FakeState:
    return FakeState(copy.deepcopy(json.loads(EXAMPLE_STATE.read_text())))


def make_client(
    app: Callable[..., Any], base_url: str = "https://pc.test", **kwargs: Any
) -> PartnerCenterClient:
    return PartnerCenterClient(
        base_url,
        StaticToken(FAKE_TOKEN),
        transport=httpx.WSGITransport(app=app),
        **with_limits(kwargs, rate_per_minute=100_000),
    )


class _Silent(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_wsgi(app: Callable[..., Any]) -> Iterator[str]:
    """Any WSGI app on a loopback port for the duration; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, handler_class=_Silent)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def with_limits(kwargs: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """A client's keywords, the `Limits` fields among them (and `defaults`) gathered into
    its one `limits`."""
    fields = {f.name for f in dataclasses.fields(Limits)}
    limits = {**defaults, **{k: v for k, v in kwargs.items() if k in fields}}
    rest = {k: v for k, v in kwargs.items() if k not in fields}
    return {**rest, "limits": Limits(**limits)}


# A perpetual software purchase that Wide World's software order holds beside its one-year
# SQL Server subscription: a second line, as Microsoft's cancel-software-purchases example
# orders do.
WIDE_WORLD_PERPETUAL = "0c9e2f4a-6b8d-4e1f-a3c5-7d9b1f3e5a70"
PERPETUAL_OFFER = "DG7GMGF0DVT6:0002:DG7GMGF0DK1G"


# A marketplace SaaS subscription, as Microsoft's own example shows one.
MARKETPLACE = "5e6f7a8b-0000-4000-8000-000000000004"


def marketplace_subscription(started: str, **fields: Any) -> dict[str, Any]:
    """Microsoft's marketplace shape: no productType, not a Microsoft product; bought (and
    its term begun) at `started`. `fields` add to (or replace) its wire fields."""
    return {
        "id": MARKETPLACE,
        "offerId": "DZH318Z0BXWC:0001:DZH318Z0BMJX",
        "offerName": "Contoso CRM",
        "isMicrosoftProduct": False,
        "publisherName": "Contoso Software Inc",
        "quantity": 5,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1M",
        "creationDate": started,
        "effectiveStartDate": started,
        "commitmentEndDate": "2026-12-20T00:00:00Z",
        "attributes": {"objectType": "Subscription"},
        **fields,
    }


def add_perpetual_purchase(state: FakeState, **fields: Any) -> None:
    """Wide World's order gets `WIDE_WORLD_PERPETUAL` as its second line; `fields` add to
    (or replace) the subscription's wire fields."""
    state.add_subscription(
        WIDE_WORLD,
        {
            "id": WIDE_WORLD_PERPETUAL,
            "offerId": PERPETUAL_OFFER,
            "offerName": "Windows Server 2022 Standard - 16 Core License Pack",
            "productType": {"id": "Software", "displayName": "Software"},
            "quantity": 2,
            "status": "active",
            "autoRenewEnabled": False,
            "billingCycle": "one_time",
            "creationDate": "2026-11-20T11:26:40Z",
            "orderId": WIDE_WORLD_ORDER,
            "attributes": {"objectType": "Subscription"},
            **fields,
        },
    )
    state.order(WIDE_WORLD, WIDE_WORLD_ORDER)["lineItems"].append(
        {
            "lineItemNumber": 1,
            "offerId": PERPETUAL_OFFER,
            "subscriptionId": WIDE_WORLD_PERPETUAL,
            "quantity": 2,
        }
    )
