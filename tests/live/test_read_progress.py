"""What a read of Partner Center counts as its progress: the customers read in depth, each
once all its reads (deep read, GDAP listing, lookup by id) are over; not the customers
listed, which page by quickly.

The fake's holds make each moment exact: a deep read held at the fake's door is one the
count must not have reached yet, without a clock.
"""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

from reconciler.desired.load import load_desired
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.lifecycle import needs_gdap
from reconciler.live.models import Live
from reconciler.live.read import ReadAhead
from reconciler.live.read import _Held
from reconciler.live.read import read_live
from tests.apply.support import NORTHWIND
from tests.conftest import EXAMPLE
from tests.reading import Recorder
from tests.reading import clients_on
from tests.reading import needing_reads
from tests.vanishing import example_desired
from tests.vanishing import example_fake

SAFETY_SECONDS = 30  # only a bound for waits that end on events
FABRIKAM = "d815fc46-557a-42b8-83ec-fb3ebcb1fb2f"
CONTOSO = "cfc52cfc-1732-4fd6-8bf3-8918bdf0a40b"
GHOST = "0badc0de-0000-4000-8000-000000000001"  # declared, unknown to Partner Center


def test_a_full_read_counts_while_the_deep_reads_go_not_when_the_list_is_in() -> None:
    fake, desired = example_fake(), example_desired()
    deep = needing_reads(desired)
    assert any(needs_gdap(desired.customers[cid]) for cid in deep)  # Graph is read too
    listed = len(fake.state.data["customers"])
    holds = {cid: fake.hold("GET", f"/customers/{cid}/subscriptions$") for cid in deep}
    progress = Recorder()
    read: Future[Live] = Future()
    ahead = ReadAhead(lambda: clients_on(fake))
    try:
        ahead.declare(desired.customers.values())

        def finish() -> None:
            try:
                read.set_result(ahead.finish(desired, progress))
            except BaseException as exc:
                read.set_exception(exc)

        threading.Thread(target=finish, daemon=True).start()
        for hold in holds.values():
            assert hold.arrived.wait(SAFETY_SECONDS)
        # Every customer is listed, and every deep read is still to come: so is the count.
        progress.wait_for_status(f"{listed:,} listed")
        assert (progress.done, progress.total) == (0, len(deep))
        for released, hold in enumerate(holds.values(), start=1):
            hold.release()
            progress.wait_for(released)  # one customer read, one step
            assert progress.done == released
        live = read.result(SAFETY_SECONDS)
    finally:
        for hold in holds.values():
            hold.close()
        ahead.close()
    assert sorted(live.details) == sorted(deep)
    assert progress.totals == [len(deep)]  # known from the start, and right
    assert not progress.ahead_of_total


def test_a_read_drops_from_its_total_what_turns_out_to_need_no_read(tmp_path: Path) -> None:
    """Fabrikam (subscription overrides) is listed as an advisor's customer, no longer a
    reseller's: nothing of it is read. Northwind, offboarding, lost its reseller relationship
    in the portal: the list leaves it out, and a lookup by id finds it without one (its GDAP
    relationships are still read). Another offboarding customer's file names a tenant
    Partner Center does not have: a lookup by id finds nothing (GDAP read too)."""
    shutil.copytree(EXAMPLE, tmp_path / "desired")
    (tmp_path / "desired" / "customers" / "ghost.yaml").write_text(
        f"tenant_id: {GHOST}\ndomain: ghost.onmicrosoft.com\nrelationship: none\n"
    )
    desired = load_desired(tmp_path / "desired").desired
    assert desired is not None
    data = json.loads((EXAMPLE / "fake-state.json").read_text())
    relationships = {FABRIKAM: "advisor", NORTHWIND: "none"}
    for customer in data["customers"]:
        customer["relationshipToPartner"] = relationships.get(customer["id"], "reseller")
    fake = FakePartnerCenter(FakeState(data))
    reads = needing_reads(desired)
    assert {FABRIKAM, NORTHWIND, GHOST} <= set(reads)
    assert not needs_gdap(desired.customers[FABRIKAM])
    progress = Recorder()
    with clients_on(fake) as clients:
        live = read_live(clients.partner_center, desired, progress=progress, graph=clients.graph)
    assert sorted(live.details) == sorted(set(reads) - {FABRIKAM, NORTHWIND, GHOST})
    assert progress.totals[0] == len(reads)  # before the first page: all the files may need
    assert progress.done == progress.total == len(reads) - 1  # all but Fabrikam
    assert not progress.ahead_of_total


def test_a_scoped_read_counts_each_customer_once_its_lookup_and_deep_read_are_over() -> None:
    fake, desired = example_fake(), example_desired()
    scope = {cid: desired.customers[cid] for cid in (FABRIKAM, CONTOSO)}
    fabrikam_read = fake.hold("GET", f"/customers/{FABRIKAM}/subscriptions$")
    progress = Recorder()
    read: Future[Live] = Future()

    def scoped() -> None:
        try:
            with clients_on(fake) as clients:
                read.set_result(
                    read_live(
                        clients.partner_center,
                        replace(desired, customers=scope),
                        progress=progress,
                        graph=clients.graph,
                        scoped=True,
                    )
                )
        except BaseException as exc:
            read.set_exception(exc)

    with fabrikam_read:
        threading.Thread(target=scoped, daemon=True).start()
        assert fabrikam_read.arrived.wait(SAFETY_SECONDS)
        progress.wait_for(1)  # Contoso: its lookup was all it needed
        assert (progress.done, progress.total) == (1, 2)  # Fabrikam: looked up, not read
    live = read.result(SAFETY_SECONDS)
    assert list(live.details) == [FABRIKAM]
    assert progress.done == progress.total == 2
    assert progress.statuses[-1] == "2 listed"
    assert not progress.ahead_of_total


def test_the_hand_over_passes_what_was_done_after_the_total_and_then_goes_straight_on() -> None:
    """The hand-over itself, without a race: steps and a status made before the meter
    exists reach it after its total, once; later ones go straight to it; none after
    `detach`."""
    held = _Held()
    held.status("3 listed")
    held.advance()
    held.expect(4)
    held.advance(2)
    progress = Recorder()
    held.attach(progress)
    assert (progress.statuses, progress.totals, progress.done) == (["3 listed"], [4], 3)
    assert not progress.ahead_of_total
    held.attach(progress)  # again: nothing passed twice
    held.advance()
    assert progress.done == 4
    held.detach()
    held.advance()
    assert progress.done == 4


def test_reads_done_before_the_meter_exists_are_passed_on_to_it_after_their_total() -> None:
    """The same through a whole read ahead. Whether a read ends before `finish` attaches
    the meter is the read's own timing, so this holds the count right either way; the
    hand-over's order is pinned above."""
    fake, desired = example_fake(), example_desired()
    reads = needing_reads(desired)
    last_deep = fake.hold("GET", f"/customers/{reads[-1]}/subscriptions$")
    ahead = ReadAhead(lambda: clients_on(fake))
    try:
        ahead.declare(desired.customers.values())
        assert last_deep.arrived.wait(SAFETY_SECONDS)  # the read is well under way
        last_deep.release()
        progress = Recorder()
        live = ahead.finish(desired, progress)
    finally:
        last_deep.close()
        ahead.close()
    assert progress.done == progress.total == len(reads)
    assert progress.statuses[-1] == f"{len(live.customers):,} listed"
    assert not progress.ahead_of_total  # the total came first
