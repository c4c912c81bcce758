"""Which Microsoft Graph a run talks to: the fake's, over the same state as Partner Center's;
else the endpoint the rules pick, with a Graph token of its own, or none and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler import cli
from reconciler.commands.backend import SECRET_VARIABLES
from reconciler.commands.backend import Backend
from reconciler.commands.backend import make_backend
from reconciler.connect import client_settings
from reconciler.connect import open_clients
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.auth import GRAPH
from reconciler.live.clients import Clients
from reconciler.live.config import GRAPH_LIMITS
from reconciler.live.config import PARTNER_CENTER_LIMITS
from reconciler.live.config import Limits
from reconciler.live.errors import AuthError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import InsecureEndpointError
from reconciler.live.models import GdapStatus
from reconciler.live.sam import SamTokenProvider
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_E3_LEGACY
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import example_state
from tests.live.pc_support import serve_wsgi

GRAPH_TOKEN = "tok-GRAPH-SECRET-5c1e9a37-do-not-print"
SAM = {
    "PCR_TENANT_ID": "partner.onmicrosoft.com",
    "PCR_CLIENT_ID": "3e1f4a52-0000-4000-8000-000000000001",
    "PCR_CLIENT_SECRET": "client-SECRET-value-7d2b",
    "PCR_REFRESH_TOKEN": "refresh-SECRET-value-9e4c",
}
NO_GRAPH_VARIABLES = ("PCR_GRAPH_TOKEN", *SAM)


@pytest.fixture
def gdap_file(tmp_path: Path) -> Path:
    """The example estate with one active GDAP relationship with Contoso."""
    state = example_state()
    state.add_gdap_relationship(CONTOSO, display_name="Contoso admins")
    path = tmp_path / "fake-state.json"
    state.save(path)
    return path


@pytest.fixture
def served(gdap_file: Path) -> Iterator[FakeServer]:
    with FakeServer(gdap_file) as server:
        yield server


def opened(**options: Any) -> Any:
    options.setdefault("fake_state", None)
    options.setdefault("rate_per_minute", 100_000)
    return open_clients(**options)


# -- the fake -------------------------------------------------------------------------------


def test_the_fake_serves_both_apis_from_one_state(gdap_file: Path) -> None:
    with opened(endpoint=None, fake_state=gdap_file, env={}) as clients:
        assert clients.graph is not None and clients.graph_unavailable is None
        clients.partner_center.update_subscription(FABRIKAM, FABRIKAM_E3_LEGACY, status="suspended")
        (relationship,) = clients.graph.list_relationships(CONTOSO)
        clients.graph.terminate_relationship(relationship.id, request_id="run-1")
        # Saved as it happens, like Partner Center's changes.
        saved = FakeState.load(gdap_file)
        assert [m["action"] for m in saved.mutations] == [
            "suspend",
            "terminate_gdap_relationship",
        ]
        assert saved.mutations[1]["request_id"] == "run-1"
    (after,) = FakeState.load(gdap_file).data["gdapRelationships"]
    assert after["status"] == "terminationRequested"


def test_a_read_through_the_fake_settles_the_termination_in_the_file(gdap_file: Path) -> None:
    with opened(endpoint=None, fake_state=gdap_file, env={}) as clients:
        assert clients.graph is not None
        (relationship,) = clients.graph.list_relationships(CONTOSO)
        clients.graph.terminate_relationship(relationship.id)
        assert clients.graph.get_relationship(relationship.id).status is GdapStatus.TERMINATED
    (after,) = FakeState.load(gdap_file).data["gdapRelationships"]
    assert after["status"] == "terminated"


def test_the_fake_takes_no_graph_endpoint(gdap_file: Path) -> None:
    with (
        pytest.raises(ConfigurationError, match="--graph-endpoint goes with --endpoint"),
        opened(endpoint=None, fake_state=gdap_file, env={}, graph_endpoint="https://g.test"),
    ):
        pass


def test_the_fake_takes_the_partner_center_only_settings(gdap_file: Path) -> None:
    with opened(
        endpoint=None, fake_state=gdap_file, env={}, correlation_id="run-9", busy_wait=10.0
    ) as clients:
        assert clients.partner_center.correlation_id == "run-9"
        assert clients.graph is not None


# -- an endpoint ----------------------------------------------------------------------------


def test_a_loopback_endpoint_is_the_graph_root_too(served: FakeServer) -> None:
    env = {"PCR_TOKEN": FAKE_TOKEN, "PCR_GRAPH_TOKEN": GRAPH_TOKEN}
    with opened(endpoint=served.url, env=env) as clients:
        assert clients.graph is not None and clients.graph.base_url == served.url
        (relationship,) = clients.graph.list_relationships(CONTOSO)
        assert relationship.name == "Contoso admins"
    assert all(r.authorized for r in served.app.requests)


def test_a_loopback_endpoint_with_a_path_gives_its_root(served: FakeServer) -> None:
    env = {"PCR_TOKEN": FAKE_TOKEN, "PCR_GRAPH_TOKEN": GRAPH_TOKEN}
    with opened(endpoint=f"{served.url}/v1", env=env) as clients:
        assert clients.graph is not None and clients.graph.base_url == served.url


@pytest.mark.parametrize(
    ("endpoint", "env", "argument", "root"),
    [
        ("https://pc.example.com", {}, None, "https://graph.microsoft.com"),
        (
            "https://pc.example.com",
            {"PCR_GRAPH_ENDPOINT": "https://g.test"},
            None,
            "https://g.test",
        ),
        ("http://127.0.0.1:9", {"PCR_GRAPH_ENDPOINT": "https://g.test/"}, None, "https://g.test"),
        (
            "http://127.0.0.1:9",
            {"PCR_GRAPH_ENDPOINT": "https://g.test"},
            "https://a.test",
            "https://a.test",
        ),
        ("https://pc.example.com", {}, "http://localhost:8080", "http://localhost:8080"),
    ],
)
def test_the_graph_root_is_chosen_by_the_rules(
    endpoint: str, env: dict[str, str], argument: str | None, root: str
) -> None:
    env = {**env, "PCR_TOKEN": FAKE_TOKEN, "PCR_GRAPH_TOKEN": GRAPH_TOKEN}
    with opened(endpoint=endpoint, env=env, graph_endpoint=argument) as clients:
        assert clients.graph is not None and clients.graph.base_url == root


def test_an_insecure_graph_endpoint_is_refused_before_credentials() -> None:
    env = {"PCR_GRAPH_ENDPOINT": "http://graph.example.com"}
    with (
        pytest.raises(InsecureEndpointError, match=r"Microsoft Graph endpoint.*use https"),
        opened(endpoint="https://pc.example.com", env=env),
    ):
        pass


def test_without_graph_credentials_graph_is_none_and_says_what_to_set(
    served: FakeServer,
) -> None:
    with opened(endpoint=served.url, env={"PCR_TOKEN": FAKE_TOKEN}) as clients:
        assert clients.graph is None
        assert clients.partner_center.get_customer(CONTOSO).name == "Contoso Ltd"
    message = clients.graph_unavailable
    assert message is not None and "\n" not in message
    for name in NO_GRAPH_VARIABLES:
        assert name in message
    assert not any(r.path.startswith("/v1.0/") for r in served.app.requests)


def test_part_of_the_secure_application_model_is_no_graph_credential(served: FakeServer) -> None:
    env = {"PCR_TOKEN": FAKE_TOKEN, "PCR_TENANT_ID": SAM["PCR_TENANT_ID"]}
    with opened(endpoint=served.url, env=env) as clients:
        assert clients.graph is None
    assert clients.graph_unavailable is not None
    assert "missing: PCR_CLIENT_ID, PCR_CLIENT_SECRET, PCR_REFRESH_TOKEN" in (
        clients.graph_unavailable
    )


def spy() -> tuple[list[tuple[str, str]], Callable[..., Iterable[bytes]]]:
    """A WSGI app that answers empty listings, and the (path, Authorization) it was sent."""
    seen: list[tuple[str, str]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        seen.append((path, environ.get("HTTP_AUTHORIZATION", "")))
        body = {"value": []} if path.startswith("/v1.0/") else {"items": []}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]

    return seen, app


def test_each_api_gets_its_own_token() -> None:
    seen, app = spy()
    env = {"PCR_TOKEN": FAKE_TOKEN, "PCR_GRAPH_TOKEN": GRAPH_TOKEN}
    with serve_wsgi(app) as url, opened(endpoint=url, env=env) as clients:
        assert clients.graph is not None
        clients.graph.list_relationships(CONTOSO)
        clients.partner_center.list_customers()
    assert seen == [
        ("/v1.0/tenantRelationships/delegatedAdminRelationships", f"Bearer {GRAPH_TOKEN}"),
        ("/v1/customers", f"Bearer {FAKE_TOKEN}"),
    ]


def test_the_secure_application_model_gives_graph_its_own_audience() -> None:
    env = {**SAM, "PCR_LOGIN_URL": "https://login.test"}
    with opened(endpoint="https://pc.example.com", env=env) as clients:
        assert isinstance(clients, Clients) and clients.graph is not None
        provider = clients.graph._token_provider
        assert isinstance(provider, SamTokenProvider) and provider.audience == GRAPH


def test_a_graph_token_that_cannot_be_sent_is_an_error_not_a_missing_one() -> None:
    env = {"PCR_TOKEN": FAKE_TOKEN, "PCR_GRAPH_TOKEN": "tok-SECRET-abc\ndef"}
    with (
        pytest.raises(AuthError, match="PCR_GRAPH_TOKEN") as caught,
        opened(endpoint="https://pc.example.com", env=env),
    ):
        pass
    assert "tok-SECRET" not in str(caught.value)


# -- the CLI's backend ----------------------------------------------------------------------


def test_the_backend_passes_the_graph_endpoint_and_the_limits(served: FakeServer) -> None:
    env = {
        "PCR_TOKEN": FAKE_TOKEN,
        "PCR_GRAPH_TOKEN": GRAPH_TOKEN,
        "PCR_MAX_PAGES": "7",
        "PCR_BUSY_WAIT": "30",
    }
    backend = Backend(endpoint="https://pc.example.com", env=env, graph_endpoint=served.url)
    with backend.open_clients() as clients:
        assert clients.graph is not None and clients.graph.base_url == served.url
        assert clients.graph._limits.max_pages == 7
        assert clients.partner_center._limits.busy_wait == 30
        assert clients.graph.list_relationships(CONTOSO)


def test_the_graph_token_is_a_secret_no_message_shows() -> None:
    assert "PCR_GRAPH_TOKEN" in SECRET_VARIABLES
    backend = Backend(env={"PCR_GRAPH_TOKEN": GRAPH_TOKEN})
    shown = backend.failure_message(AuthError(f"refused {GRAPH_TOKEN}"))
    assert GRAPH_TOKEN not in shown and "<hidden>" in shown


def test_make_backend_refuses_a_graph_endpoint_with_the_fake(gdap_file: Path) -> None:
    assert (
        make_backend("https://pc.test", None, "https://g.test").graph_endpoint == "https://g.test"
    )
    runner = CliRunner()
    done = runner.invoke(
        cli.cli, ["plan", "--fake", str(gdap_file), "--graph-endpoint", "https://g.test"]
    )
    assert done.exit_code == 2 and "--graph-endpoint goes with --endpoint" in done.output


@pytest.mark.parametrize("command", ["plan", "apply", "drift", "import"])
def test_every_backend_command_takes_a_graph_endpoint(command: str) -> None:
    shown = CliRunner().invoke(cli.cli, [command, "--help"]).output
    assert "--graph-endpoint URL" in shown and "PCR_GRAPH_ENDPOINT" in shown


def test_a_backend_never_shows_its_environment() -> None:
    """The options of every command hold a Backend: its repr must not carry the secrets."""
    from reconciler.commands.backend import Backend

    secrets = {"PCR_GRAPH_TOKEN": "graph-SECRET-81", "PCR_CLIENT_SECRET": "client-SECRET-82"}
    shown = repr(Backend(env=secrets))
    assert "SECRET" not in shown and "env" not in shown


def test_each_client_gets_its_own_limits_with_the_overrides_that_apply_to_it() -> None:
    """A rate limit set for the run (PCR_RATE_LIMIT) paces Graph too; waiting out 409s and
    the correlation id are Partner Center's alone; Graph keeps its own budget otherwise."""
    partner_center, graph = client_settings({})
    assert partner_center["limits"] == PARTNER_CENTER_LIMITS
    assert graph["limits"] == GRAPH_LIMITS != PARTNER_CENTER_LIMITS
    partner_center, graph = client_settings(
        {"rate_per_minute": 90, "busy_wait": 12.0, "max_pages": 7, "correlation_id": "run-3"}
    )
    assert partner_center["limits"] == Limits(rate_per_minute=90, busy_wait=12.0, max_pages=7)
    assert partner_center["correlation_id"] == "run-3"
    assert graph == {"limits": replace(GRAPH_LIMITS, rate_per_minute=90, max_pages=7)}
