"""The BACKEND options shared by plan, apply, drift and import: --endpoint (and
--graph-endpoint) or --fake."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar
from typing import cast

import click

from reconciler.errors import PcrError
from reconciler.live.errors import BackendError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import one_line
from reconciler.live.errors import scrub

# The HTTP client, the clients and the fake are imported when a backend is opened: the
# CLI imports this module for its options, and `pcr --help` or `pcr validate` need none.
if TYPE_CHECKING:
    from reconciler.live.client import PartnerCenterClient
    from reconciler.live.clients import Clients

F = TypeVar("F", bound=Callable[..., Any])


def backend_errors() -> tuple[type[Exception], ...]:
    """What talking to Partner Center can raise; each becomes one line and exit 1. Nothing
    broader: any other exception is a bug and is reported as an internal error."""
    import httpx

    return (BackendError, httpx.HTTPError)


@dataclass(frozen=True)
class Backend:
    endpoint: str | None = None
    fake_state: Path | None = None
    # Never in a repr: it holds PCR_TOKEN, PCR_GRAPH_TOKEN, the client secret, the refresh token.
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    graph_endpoint: str | None = None

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        return backend_errors()

    @contextmanager
    def open(self, read_only: bool = False) -> Iterator[PartnerCenterClient]:
        """Partner Center alone. `read_only`: a command that only reads, whose `--fake`
        file is never written."""
        from reconciler.connect import open_client

        with open_client(**self._connection(read_only)) as client:
            yield client

    @contextmanager
    def open_clients(self, read_only: bool = False) -> Iterator[Clients]:
        """Partner Center, and Microsoft Graph for GDAP (None, and why, without credentials).
        The limits from the environment hold for each, each with its own budget.
        `read_only`: a command that only reads, whose `--fake` file is never written."""
        from reconciler.connect import open_clients

        with open_clients(graph_endpoint=self.graph_endpoint, **self._connection(read_only)) as c:
            yield c

    def _connection(self, read_only: bool) -> dict[str, Any]:
        """What every connection is opened with: where to, the environment, the limits."""
        where = {"endpoint": self.endpoint, "fake_state": self.fake_state, "env": self.env}
        return where | {"read_only": read_only} | self._limits()

    def _limits(self) -> dict[str, Any]:
        limits = client_limits(self.env)
        if self.fake_state is not None:
            # In process there is no service to protect: pace only when asked to.
            limits.setdefault("rate_per_minute", 1_000_000)
        return limits

    @contextmanager
    def failures(self) -> Iterator[None]:
        """What talking to Partner Center raises in the block, raised again as a PcrError
        in `failure_message`'s words; anything else passes through as it is."""
        try:
            yield
        except self.errors as exc:
            raise PcrError(self.failure_message(exc)) from exc

    def failure_message(self, exc: Exception) -> str:
        """One line, with no secret from the environment in it, whatever raised it."""
        import httpx

        if isinstance(exc, httpx.HTTPError):
            # The client wraps httpx's errors itself; this is only a net, and an httpx
            # error's text may quote a request header: only its kind is shown.
            message = f"cannot reach Partner Center: {type(exc).__name__}"
        else:
            message = str(exc)
        return one_line(scrub(message, *(self.env.get(name) for name in SECRET_VARIABLES)))


@dataclass(frozen=True)
class ReportOptions:
    """What every command that reads Partner Center and reports takes (plan, drift,
    calendar): the desired state, the backend, the moment, the format and whether
    something to do exits 2."""

    desired_dir: Path
    backend: Backend
    now: datetime
    output_format: str = "text"
    detailed_exitcode: bool = False


# The environment variables whose values are secrets: never shown in a message.
SECRET_VARIABLES = ("PCR_TOKEN", "PCR_GRAPH_TOKEN", "PCR_CLIENT_SECRET", "PCR_REFRESH_TOKEN")

# Throughput knobs, from the environment so CI and scripts set them once:
# the documented limit is 500 requests a minute per partner tenant. And the limits on
# what one answer may cost, for an estate that needs more than the defaults.
LIMIT_VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "PCR_RATE_LIMIT": ("rate_per_minute", float),
    "PCR_CONCURRENCY": ("max_concurrency", int),
    "PCR_TIMEOUT": ("answer_timeout", float),  # seconds one call may take, retries included
    "PCR_MAX_ANSWER_MB": ("max_answer_bytes", lambda raw: int(float(raw) * 1024 * 1024)),
    "PCR_MAX_PAGES": ("max_pages", int),
    "PCR_BUSY_WAIT": ("busy_wait", float),  # seconds of 409s (a renewal in progress) waited out
}


def client_limits(env: dict[str, str]) -> dict[str, Any]:
    """Client limits set in the environment; the error names a bad one."""
    limits: dict[str, Any] = {}
    for variable, (name, kind) in LIMIT_VARIABLES.items():
        raw = env.get(variable, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except (ValueError, OverflowError):
            value = 0
        if not 0 < value < float("inf"):  # NaN too
            raise ConfigurationError(f"{variable}={raw!r}: expected a positive number")
        limits[name] = value
    return limits


def backend_options(command: F) -> F:
    """Add --endpoint / --graph-endpoint / --fake to a command, which gets them as one
    `backend` (`make_backend`)."""

    takes_backend = command

    @functools.wraps(takes_backend)
    def with_backend(
        *args: Any,
        endpoint: str | None,
        graph_endpoint: str | None,
        fake_state: Path | None,
        **kwargs: Any,
    ) -> Any:
        backend = make_backend(endpoint, fake_state, graph_endpoint)
        return takes_backend(*args, backend=backend, **kwargs)

    command = cast(F, with_backend)
    command = click.option(
        "--fake",
        "fake_state",
        type=click.Path(path_type=Path, dir_okay=False),
        help="Use the fake (Partner Center and Graph) in process, its state read from FILE "
        "(and written back to it by apply only).",
    )(command)
    command = click.option(
        "--graph-endpoint",
        metavar="URL",
        help="Microsoft Graph root for GDAP (default: env PCR_GRAPH_ENDPOINT, else "
        "https://graph.microsoft.com; a loopback --endpoint is also the Graph root unless "
        "this is given). Token from PCR_GRAPH_TOKEN, or the Secure Application Model.",
    )(command)
    command = click.option(
        "--endpoint",
        help="Partner Center API root (default: env PCR_ENDPOINT, else the real API). "
        "Token from PCR_TOKEN, or PCR_TENANT_ID, PCR_CLIENT_ID, PCR_CLIENT_SECRET and "
        "PCR_REFRESH_TOKEN.",
    )(command)
    return command


def make_backend(
    endpoint: str | None, fake_state: Path | None, graph_endpoint: str | None = None
) -> Backend:
    from reconciler.connect import backend_conflict

    if (conflict := backend_conflict(endpoint, fake_state, graph_endpoint)) is not None:
        raise click.UsageError(conflict)
    if fake_state is not None and not fake_state.is_file():
        raise click.BadParameter(f"{fake_state}: no such fake state file", param_hint="--fake")
    return Backend(endpoint=endpoint, fake_state=fake_state, graph_endpoint=graph_endpoint)
