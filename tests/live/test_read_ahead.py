"""A full read begun while the desired state still validates (`ReadAhead`): the customer list
is paged from the first moment, a customer's reads start once its file is valid, and what
went wrong is said after validation, where the user expects it.

The fake's holds make each overlap exact: a request held at the fake's door proves what
was asked for, and when, without a clock.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from reconciler import cli
from reconciler.commands import plan as plan_command
from reconciler.desired.load import load_desired
from reconciler.desired.model import DesiredCustomer
from reconciler.fake.server import FakeServer
from reconciler.live.clients import Clients
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import Forbidden
from reconciler.live.errors import PartnerCenterError
from reconciler.live.lifecycle import needs_detail
from reconciler.live.models import Live
from reconciler.live.read import LiveRead
from reconciler.live.read import ReadAhead
from reconciler.live.read import read_live
from reconciler.progress import SILENT
from tests.apply.support import NORTHWIND
from tests.conftest import EXAMPLE
from tests.reading import Recorder
from tests.reading import clients_on
from tests.reading import needing_reads
from tests.vanishing import example_desired
from tests.vanishing import example_fake

NOW = "2026-11-22T09:00:00Z"
SAFETY_SECONDS = 30  # only a bound for waits that end on events
CUSTOMER_LIST = r"^/v1/customers$"


def what_was_read(live: Live) -> tuple[object, ...]:
    return (live.customers, live.details, live.gdap, live.vanished, live.relationship_request_url)


def read_after_validation() -> Live:
    """The same estate read the old way: validation first, then the read."""
    fake = example_fake()
    with clients_on(fake) as clients:
        return read_live(clients.partner_center, example_desired(), graph=clients.graph)


def test_the_customer_list_is_paged_while_the_desired_state_validates() -> None:
    fake = example_fake()
    with fake.hold("GET", CUSTOMER_LIST) as page:
        ahead = ReadAhead(lambda: clients_on(fake))
        try:
            # The list is asked for before a single file is read...
            assert page.arrived.wait(SAFETY_SECONDS)
            # ...and every file is validated while that page is still on its way.
            result = load_desired(EXAMPLE, ahead.declare)
            assert result.desired is not None
            assert not page.answered.is_set()
            page.release()
            live = ahead.finish(result.desired, SILENT)
        finally:
            ahead.close()
    assert what_was_read(live) == what_was_read(read_after_validation())
    assert live.api_calls == len(fake.requests)  # the pages begun early count in the read


def test_a_customers_reads_start_when_its_file_is_valid_not_when_all_are() -> None:
    fake = example_fake()
    desired = example_desired()
    northwind = desired.customers[NORTHWIND]  # offboarding: its subscriptions are read
    ahead = ReadAhead(lambda: clients_on(fake))
    try:
        with fake.hold("GET", f"/customers/{NORTHWIND}/subscriptions") as deep:
            ahead.declare([northwind])
            # Before the rest of the desired state is known (`finish` not called yet).
            assert deep.arrived.wait(SAFETY_SECONDS)
        live = ahead.finish(desired, SILENT)
    finally:
        ahead.close()
    assert what_was_read(live) == what_was_read(read_after_validation())
    reads = [r.path for r in fake.requests if r.path.endswith(f"{NORTHWIND}/subscriptions")]
    assert len(reads) == 1  # declared twice (early, then with the whole), read once


def test_what_opening_the_clients_raised_is_raised_after_validation() -> None:
    @contextmanager
    def no_credentials() -> Iterator[Clients]:
        raise ConfigurationError("set PCR_TOKEN")
        yield  # pragma: no cover

    ahead = ReadAhead(no_credentials)
    try:
        ahead.declare(example_desired().customers.values())  # no error yet: files validate
        with pytest.raises(ConfigurationError, match="PCR_TOKEN"):
            ahead.finish(example_desired(), SILENT)
    finally:
        ahead.close()


def test_what_paging_raised_is_raised_by_the_finish() -> None:
    fake = example_fake()
    fake.add_fault("GET", CUSTOMER_LIST, status=403, count=None)
    ahead = ReadAhead(lambda: clients_on(fake))
    try:
        with pytest.raises(Forbidden):
            ahead.finish(example_desired(), SILENT)
    finally:
        ahead.close()


def test_an_abandoned_read_lets_go_at_once_while_a_page_is_in_flight() -> None:
    fake = example_fake()
    with fake.hold("GET", CUSTOMER_LIST) as page:
        ahead = ReadAhead(lambda: clients_on(fake))
        assert page.arrived.wait(SAFETY_SECONDS)
        closing = threading.Thread(target=lambda: ahead.close(wait=False))
        closing.start()
        closing.join(SAFETY_SECONDS)
        assert not closing.is_alive()  # the invalid file's user is not kept waiting
        assert not page.answered.is_set()
    ahead.close()  # the hold released: the thread ends after its page, clients closed
    assert [r.path for r in fake.requests] == ["/v1/customers"]  # nothing after the page


def test_progress_made_before_the_meter_exists_is_passed_on_to_it() -> None:
    fake = example_fake()
    desired = example_desired()
    ahead = ReadAhead(lambda: clients_on(fake))
    try:
        ahead.declare(desired.customers.values())
        meter = Recorder()
        live = ahead.finish(desired, meter)
    finally:
        ahead.close()
    read = [cid for cid in needing_reads(desired) if cid in live.customers]
    assert meter.done == meter.total == len(read)  # once per customer read in depth
    assert meter.statuses[-1] == f"{len(live.customers):,} listed"


def test_pcr_plan_pages_the_customer_list_before_it_validates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.json"
    shutil.copy(EXAMPLE / "fake-state.json", state)
    real_load_valid = plan_command.load_valid

    def load_once_paging_began(*args: Any) -> Any:
        # Validation waits here for the first page: a plan that read only after it would
        # never get there, and fail.
        assert page.arrived.wait(SAFETY_SECONDS), "no page was asked for before validation"
        assert not page.answered.is_set()
        page.release()
        return real_load_valid(*args)

    monkeypatch.setattr(plan_command, "load_valid", load_once_paging_began)
    monkeypatch.setenv("PCR_TOKEN", "tok-read-ahead")
    monkeypatch.setenv("PCR_GRAPH_TOKEN", "tok-read-ahead-graph")
    with FakeServer(state) as server, server.app.hold("GET", CUSTOMER_LIST) as page:
        args = ["plan", "--desired", str(EXAMPLE), "--endpoint", server.url, "--now", NOW]
        with pytest.raises(SystemExit) as exited:
            cli.main([*args, "--format", "json"])
    assert exited.value.code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["actions"]


def test_reads_in_flight_when_a_read_fails_report_no_progress_after_it() -> None:
    fake = example_fake()
    desired = example_desired()
    listed = [c["id"] for c in fake.state.data["customers"]]
    deep = [
        cid for cid in listed if cid in desired.customers and needs_detail(desired.customers[cid])
    ]
    failing, held_one = deep[0], deep[-1]  # collected first; still in flight then
    fake.add_fault("GET", f"/customers/{failing}/subscriptions", status=400, count=None)
    meter = Recorder()
    with (
        fake.hold("GET", f"/customers/{held_one}/subscriptions") as held,
        clients_on(fake) as clients,
        LiveRead(clients.partner_center, clients.graph, workers=16) as read,
    ):
        read.declare(desired.customers.values())
        for customer in clients.partner_center.iter_customers():
            read.listed(customer)
        assert held.arrived.wait(SAFETY_SECONDS)
        with pytest.raises(PartnerCenterError):
            read.finish(desired, meter, None)
        steps = meter.done
        held.release()
        read.pool.shutdown(wait=True)  # the held read done: the command had moved on
        assert meter.done == steps


# --- validation hands out customers as their files prove valid ---------------------------


def copies_of_the_example(folder: Path, count: int) -> list[str]:
    """`count` customer files like the example's Contoso, each its own tenant."""
    (folder / "customers").mkdir(parents=True)
    shutil.copy(EXAMPLE / "partner.yaml", folder / "partner.yaml")
    text = (EXAMPLE / "customers" / "contoso.yaml").read_text()
    tenant = next(line.split()[1] for line in text.splitlines() if line.startswith("tenant_id"))
    tenants = []
    for index in range(count):
        other = f"{index:08x}-0000-4000-8000-000000000000"
        (folder / "customers" / f"c{index}.yaml").write_text(
            text.replace(tenant, other).replace("domain:", f"# {index}\ndomain:", 1)
        )
        tenants.append(other)
    return tenants


@pytest.mark.parametrize("count", [3, 2100])  # one process; worker processes in batches
def test_every_valid_customer_is_handed_out_once(tmp_path: Path, count: int) -> None:
    tenants = copies_of_the_example(tmp_path, count)
    batches: list[list[DesiredCustomer]] = []
    result = load_desired(tmp_path, batches.append)
    assert result.desired is not None, result.problems[:3]
    handed = [c.tenant_id for batch in batches for c in batch]
    assert sorted(handed) == sorted(tenants)
    assert len(batches) >= (2 if count > 2000 else 1)


def test_a_customer_whose_file_is_invalid_is_not_handed_out(tmp_path: Path) -> None:
    tenants = copies_of_the_example(tmp_path, 3)
    (tmp_path / "customers" / "c1.yaml").write_text("tenant_id: x\n")
    batches: list[list[DesiredCustomer]] = []
    result = load_desired(tmp_path, batches.append)
    assert result.desired is None
    assert sorted(c.tenant_id for b in batches for c in b) == sorted([tenants[0], tenants[2]])
