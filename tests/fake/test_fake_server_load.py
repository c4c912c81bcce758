"""`pcr fake serve` keeps up: HTTP/1.1 keep-alive on a threaded server with a deep backlog.

Many clients at once, each as fast as it can: every request is answered, none of them meets
a connection error, and the connections are reused (the server counts the TCP connections
it accepts). Framing holds on a kept-alive connection whatever the answer (errors, a 204),
and a `Connection: close` is honoured. No timing here: speed is the benchmarks' business.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from reconciler.fake.server import REQUEST_QUEUE_SIZE
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import EXAMPLE_STATE
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import NORTHWIND
from tests.timeouts import SAFETY_SECONDS

CLIENTS = 32
REQUESTS_PER_CLIENT = 60  # 1,920 in all
AUTH = {"Authorization": "Bearer load-test"}
PATHS = (
    "/v1/customers?size=5",
    f"/v1/customers/{CONTOSO}",
    f"/v1/customers/{FABRIKAM}/subscriptions",
    f"/v1/customers/{NORTHWIND}/entitlements",
)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    path = tmp_path / "fake-state.json"
    path.write_text(EXAMPLE_STATE.read_text())
    return path


def hammer(url: str) -> tuple[Counter[int], list[BaseException]]:
    """CLIENTS keep-alive clients, started together, each sending its requests back to back."""
    statuses: Counter[int] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(number: int) -> None:
        seen: Counter[int] = Counter()
        try:
            # One connection per client, kept: the pool never needs a second one.
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            with httpx.Client(
                base_url=url, headers=AUTH, limits=limits, timeout=SAFETY_SECONDS
            ) as http:
                start.wait(SAFETY_SECONDS)
                for index in range(REQUESTS_PER_CLIENT):
                    seen[http.get(PATHS[(number + index) % len(PATHS)]).status_code] += 1
        except BaseException as exc:  # a dropped or refused connection, a timeout
            with lock:
                errors.append(exc)
        with lock:
            statuses.update(seen)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, errors


def test_many_keep_alive_clients_are_all_answered_on_reused_connections(
    state_file: Path,
) -> None:
    with FakeServer(state_file) as server:
        statuses, errors = hammer(server.url)
        served = sum(server.app.status_counts.values())
        accepted = server.connections_accepted
    total = CLIENTS * REQUESTS_PER_CLIENT
    assert errors == []
    assert statuses == Counter({200: total})
    assert served == total  # every request reached the fake, and was answered by it
    # Each client kept its one connection: nowhere near one connection per request.
    assert CLIENTS <= accepted <= 2 * CLIENTS
    assert accepted * 25 < total


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped(
    state_file: Path,
) -> None:
    """Connections the server has not yet accepted are queued by the kernel, up to the
    listen backlog: a burst of them all connect at once (with a backlog of 5, the sixth
    and later would wait for SYN retransmissions, a second and more each)."""
    assert REQUEST_QUEUE_SIZE >= 1024
    somaxconn = Path("/proc/sys/net/core/somaxconn")  # the kernel's cap on any backlog
    burst = min(200, int(somaxconn.read_text()) if somaxconn.exists() else 128)
    server = FakeServer(state_file)  # listening, but accepting nothing until started
    sockets: list[socket.socket] = []
    try:
        host, port = server._server.server_address[:2]
        for _ in range(burst):
            sockets.append(socket.create_connection((str(host), int(port)), SAFETY_SECONDS))
        server.start()
        last = sockets[-1]
        last.sendall(
            b"GET /v1/customers?size=1 HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer t\r\n\r\n"
        )
        with last.makefile("rb") as answer:
            assert answer.read(12) == b"HTTP/1.1 200"
    finally:
        for connection in sockets:
            connection.close()
        server.stop()
    assert server.connections_accepted == burst


def test_a_kept_alive_connection_frames_errors_and_no_content_answers(
    state_file: Path,
) -> None:
    """A 404, a 401, a 204 and a 400 on one connection, a 200 after them: each answer's
    Content-Length is its body's, so the next answer is read from where it starts."""
    state = FakeState.load(state_file)
    relationship = state.add_gdap_relationship(CONTOSO, status="created", display_name="draft")
    state.save(state_file)
    with FakeServer(state_file) as server:
        host, port = server._server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), int(port), timeout=SAFETY_SECONDS)
        try:
            answers = []
            for method, path, headers in (
                ("GET", "/v1/nowhere", AUTH),
                ("GET", f"/v1/customers/{CONTOSO}", {}),
                (
                    "DELETE",
                    f"/v1.0/tenantRelationships/delegatedAdminRelationships/{relationship['id']}",
                    {**AUTH, "If-Match": relationship["@odata.etag"]},
                ),
                ("PATCH", f"/v1/customers/{CONTOSO}", {**AUTH, "Content-Type": "text/plain"}),
                ("GET", f"/v1/customers/{CONTOSO}", AUTH),
            ):
                body = b"not json" if method == "PATCH" else None
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                content = answer.read()
                assert answer.getheader("Content-Length") == str(len(content))
                assert not answer.will_close
                answers.append((answer.status, content))
        finally:
            connection.close()
        accepted = server.connections_accepted
    assert [status for status, _ in answers] == [404, 401, 204, 400, 200]
    assert answers[2][1] == b""
    assert CONTOSO.encode() in answers[4][1]
    assert accepted == 1


def test_connection_close_is_answered_and_then_closed(state_file: Path) -> None:
    with FakeServer(state_file) as server:
        host, port = server._server.server_address[:2]
        with socket.create_connection((str(host), int(port)), timeout=SAFETY_SECONDS) as sock:
            sock.sendall(
                f"GET /v1/customers/{CONTOSO} HTTP/1.1\r\nHost: {host}\r\n"
                "Authorization: Bearer t\r\nConnection: close\r\n\r\n".encode()
            )
            received = b""
            while chunk := sock.recv(65536):  # b"" once the server has closed its end
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert lines[0].startswith("HTTP/1.1 200")
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    assert CONTOSO.encode() in body


def test_requests_on_kept_connections_still_overlap(state_file: Path) -> None:
    """Two clients, each on its own kept-alive connection, are inside the fake at once: each
    connection has its own thread, and a held request keeps nobody else waiting."""
    with FakeServer(state_file) as server:
        first = server.app.hold("GET", f"/customers/{CONTOSO}$", count=1)
        second = server.app.hold("GET", f"/customers/{CONTOSO}$", count=1)
        results: list[int] = []

        def get() -> None:
            with httpx.Client(base_url=server.url, headers=AUTH, timeout=SAFETY_SECONDS) as http:
                http.get("/v1/customers?size=1")  # the connection, opened and kept
                results.append(http.get(f"/v1/customers/{CONTOSO}").status_code)

        threads = [threading.Thread(target=get) for _ in range(2)]
        for thread in threads:
            thread.start()
        assert first.arrived.wait(SAFETY_SECONDS)
        assert second.arrived.wait(SAFETY_SECONDS)  # while the first is still held
        first.release()
        second.release()
        for thread in threads:
            thread.join()
        accepted = server.connections_accepted
    assert results == [200, 200]
    assert accepted == 2


def test_a_stopped_server_serves_no_kept_connection(state_file: Path) -> None:
    """Stopping hangs up on idle kept-alive connections: a client's pooled connection is
    not answered by a server that has stopped (it connects anew, and is refused)."""
    server = FakeServer(state_file).start()
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=SAFETY_SECONDS) as http:
        assert http.get(f"/v1/customers/{CONTOSO}").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get(f"/v1/customers/{CONTOSO}")
    assert sum(server.app.status_counts.values()) == 1
