"""Changes made to the fake's state from outside its request handlers: a test moving a
term's end or the clock, a person's edit in the portal. The fake keeps a few things to
answer quickly (whether terms are caught up with the clock, an index of customers); an
edit from outside must never leave them stale, or the fake would answer from a world
that no longer exists."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.fake.server import FakeServer
from reconciler.live.models import SubscriptionStatus
from tests.live.pc_support import TAILSPIN
from tests.live.pc_support import TAILSPIN_NCE
from tests.live.pc_support import Live

THE_SECOND = "2026-12-07T01:43:58Z"


def tailspin_nce_status(live: Live) -> SubscriptionStatus:
    return live.client.get_subscription(TAILSPIN, TAILSPIN_NCE).status


def end_the_term_yesterday(live: Live) -> None:
    """Tailspin's NCE term, auto-renew off, ended on the day before `THE_SECOND`."""
    with live.app.edit() as state:
        nce = state.subscription(TAILSPIN, TAILSPIN_NCE)
        nce |= {"autoRenewEnabled": False, "commitmentEndDate": "2026-12-06T00:00:00Z"}


def test_a_term_ended_and_the_clock_set_in_the_same_second_ends_the_term(live: Live) -> None:
    """The clock is kept to the second. A read catches terms up to it; then a term's end is
    moved into the past and the clock set again, within that one second (the daily
    reconcile's workflow test does this when its first run takes under a second). The
    next read must see the term ended, not the answer it gave before the edit."""
    live.app.set_now(THE_SECOND)
    assert tailspin_nce_status(live) is SubscriptionStatus.ACTIVE  # terms caught up to it
    with live.app.lock:  # changed under the lock alone: setting the clock is what counts
        nce = live.state.subscription(TAILSPIN, TAILSPIN_NCE)
        nce |= {"autoRenewEnabled": False, "commitmentEndDate": "2026-12-06T00:00:00Z"}
    live.app.set_now(THE_SECOND)
    assert tailspin_nce_status(live) is SubscriptionStatus.EXPIRED  # auto-renew was off


def test_an_edit_alone_makes_the_next_read_catch_terms_up(live: Live) -> None:
    live.app.set_now(THE_SECOND)
    assert tailspin_nce_status(live) is SubscriptionStatus.ACTIVE
    end_the_term_yesterday(live)
    assert tailspin_nce_status(live) is SubscriptionStatus.EXPIRED


def test_an_edit_finds_customers_in_a_list_put_in_place_of_the_old(live: Live) -> None:
    assert live.client.get_customer(TAILSPIN).name == "Tailspin Toys"
    with live.app.edit() as state:
        renamed = json.loads(json.dumps(state.data["customers"]))  # as many, new objects
        for customer in renamed:
            customer["companyProfile"]["companyName"] += " (edited)"
        state.data["customers"] = renamed
    assert live.client.get_customer(TAILSPIN).name == "Tailspin Toys (edited)"


def test_an_edit_is_saved_to_the_served_state_file(server: FakeServer, state_file: Path) -> None:
    with server.app.edit() as state:
        state.subscription(TAILSPIN, TAILSPIN_NCE)["quantity"] = 7
    saved = json.loads(state_file.read_text())
    (nce,) = [s for s in saved["subscriptions"][TAILSPIN] if s["id"] == TAILSPIN_NCE]
    assert nce["quantity"] == 7


def test_a_term_ends_the_day_after_its_inclusive_end_date_however_it_is_spelt(
    live: Live,
) -> None:
    """The walk over every term skips the ones that plainly run on (most of a large estate)
    by the text of their end date; a term that ended must never be skipped by it."""
    cases = [
        ("2026-12-07T00:00:00Z", SubscriptionStatus.ACTIVE),  # its last day is today
        ("2026-12-06T23:59:59Z", SubscriptionStatus.EXPIRED),
        # 2026-12-06 in UTC, though its text says the 7th: it ended at midnight UTC.
        ("2026-12-07T02:00:00+05:00", SubscriptionStatus.EXPIRED),
        # The basic spelling sorts wrongly as text: it is read, not compared as text.
        ("20261206T000000Z", SubscriptionStatus.EXPIRED),
    ]
    for end, status in cases:
        live.app.set_now("2026-12-06T12:00:00Z")
        with live.app.edit() as state:
            nce = state.subscription(TAILSPIN, TAILSPIN_NCE)
            nce |= {"status": "active", "autoRenewEnabled": False, "commitmentEndDate": end}
        live.app.set_now(THE_SECOND)
        assert tailspin_nce_status(live) is status, end
