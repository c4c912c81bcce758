"""A port nothing listens on: one attempt, and a message that names the URL. Retrying a
refused connection for the whole call budget made a wrong endpoint (or a fake that is not
running) take 22 seconds to say so."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.errors import PartnerCenterError
from reconciler.live.graph import GraphClient
from reconciler.live.http import ApiClient
from tests.apply.support import pcr_env


def closed_port() -> int:
    """A loopback port that was free a moment ago and that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Counting(httpx.HTTPTransport):
    """The real transport, counting what reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return super().handle_request(request)


def first_page_of_customers(pc: PartnerCenterClient) -> object:
    return pc.list_customers()


def every_gdap_relationship(graph: GraphClient) -> object:
    return list(graph.iter_all_relationships())


@pytest.mark.parametrize(
    ("client", "call", "service"),
    [
        (PartnerCenterClient, first_page_of_customers, "Partner Center"),
        (GraphClient, every_gdap_relationship, "Microsoft Graph"),
    ],
    ids=["partner-center", "graph"],
)
def test_a_refused_connection_is_tried_once_and_named(
    client: Callable[..., ApiClient], call: Callable[[Any], object], service: str
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    transport = Counting()
    slept: list[float] = []
    with (
        client(url, StaticToken("t"), transport=transport, sleep=slept.append) as api,
        pytest.raises(PartnerCenterError) as failed,
    ):
        call(api)
    assert transport.attempts == 1 and slept == []
    assert f"nothing accepts connections at {url}" in str(failed.value)
    assert str(failed.value).startswith(service)


def test_pcr_plan_against_a_closed_port_says_where_in_one_line(
    tmp_path: Path, pcr_executable: str, example_copy: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    planned = subprocess.run(
        [pcr_executable, "plan", "--desired", str(example_copy), "--endpoint", url],
        cwd=tmp_path,
        env=pcr_env(),
        capture_output=True,
        text=True,
        timeout=60,  # a net for a hang, not a measure: one attempt is what the test checks
        check=False,
    )
    assert planned.returncode == 1
    assert f"nothing accepts connections at {url}" in planned.stderr
    assert "Traceback" not in planned.stderr


def test_a_refusing_proxy_is_named_as_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Partner Center may well be up: it is the proxy the environment names that refused."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    url = f"http://127.0.0.1:{closed_port()}"
    with (
        PartnerCenterClient(url, StaticToken("t"), sleep=lambda _: None) as pc,
        pytest.raises(PartnerCenterError) as failed,
    ):
        pc.list_customers()
    assert f"nothing accepts connections at the proxy the environment names for {url}" in str(
        failed.value
    )
