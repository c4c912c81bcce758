"""A customer whose relationship is removed while pcr reads: recorded for that customer
alone, planned and drift-reported sensibly, never aborting the read of everyone else.

The fake runs behind `Vanishing`, which really removes the relationship between the
customer-list page and the deep reads it starts, in process and over loopback.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from reconciler.desired.marked_yaml import Mark
from reconciler.desired.model import Desired
from reconciler.desired.model import DesiredCustomer
from reconciler.desired.model import Relationship
from reconciler.drift.compare import drift
from reconciler.drift.model import DriftKind
from reconciler.live.errors import PartnerCenterError
from reconciler.live.models import Live
from reconciler.live.read import read_live
from reconciler.live.read import read_subscriptions
from reconciler.live.read import read_summary
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import Plan
from reconciler.plan.model import to_dict
from reconciler.plan.planner import make_plan
from tests.apply.support import CONTOSO
from tests.apply.support import FABRIKAM
from tests.apply.support import NORTHWIND
from tests.graphs import graph_beside
from tests.vanishing import NOW
from tests.vanishing import Vanishing
from tests.vanishing import client_for
from tests.vanishing import example_desired
from tests.vanishing import example_fake
from tests.vanishing import in_process_client

TYPO = "0badc0de-0000-4000-8000-000000000000"


@pytest.fixture(params=["in-process", "loopback"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def read(vanishing: Vanishing, mode: str = "in-process", desired: Desired | None = None) -> Live:
    with client_for(vanishing, mode) as client:
        return read_live(client, desired or example_desired(), graph=graph_beside(client))


def baseline() -> tuple[Live, Plan]:
    """The example estate read and planned with nobody vanishing."""
    live = read(Vanishing(example_fake()))
    return live, make_plan(example_desired(), live, NOW)


def action_ids(result: Plan, *, without: set[str]) -> list[str]:
    return [a.id for a in result.actions if a.customer_id not in without]


def test_offboarding_customer_removed_mid_read_is_a_warning_and_the_rest_is_planned(
    mode: str,
) -> None:
    vanishing = Vanishing(example_fake(), removed={NORTHWIND})
    live = read(vanishing, mode)
    result = make_plan(example_desired(), live, NOW)

    assert "No relationship with customer" in live.vanished[NORTHWIND]
    assert NORTHWIND not in live.customers and NORTHWIND not in live.details
    gone = [r for r in vanishing.app.requests if r.path.startswith(f"/v1/customers/{NORTHWIND}/")]
    assert gone and all(r.status == 404 for r in gone)
    # Every other customer is planned exactly as without the removal.
    _, expected = baseline()
    assert action_ids(result, without=set()) == action_ids(expected, without={NORTHWIND})
    assert action_ids(expected, without=set()) != action_ids(expected, without={NORTHWIND})
    assert (result.deferred, result.blocked) == (expected.deferred, expected.blocked)
    assert not result.errors
    (warning,) = [w for w in result.warnings if "northwind.yaml" in w]
    assert "relationship was removed while pcr was reading it" in warning
    assert "offboarding is done" in warning
    assert "vanished while being read" in read_summary(live)


def test_reseller_customer_removed_mid_read_is_blocked_alone(mode: str) -> None:
    live = read(Vanishing(example_fake(), removed={FABRIKAM}), mode)
    result = make_plan(example_desired(), live, NOW)

    (blocked,) = [b for b in result.blocked if b.customer_id == FABRIKAM]
    assert "fabrikam.yaml" in blocked.reason
    assert "vanished from Partner Center's list while pcr read it" in blocked.reason
    steps = " ".join(blocked.manual_steps)
    assert "check whether the reseller relationship" in steps
    assert "Request a reseller relationship" in steps and "plan again" in steps
    assert not result.errors, "not the whole-plan error for customers never listed"
    _, expected = baseline()
    assert action_ids(result, without=set()) == action_ids(expected, without={FABRIKAM})
    assert result.blocked == [blocked, *expected.blocked]  # in file order: fabrikam, woodgrove
    assert FABRIKAM in json.dumps(to_dict(result)["blocked"])


def test_drift_reports_vanished_customers_like_absent_ones(mode: str) -> None:
    desired = example_desired()
    live = read(Vanishing(example_fake(), removed={NORTHWIND, FABRIKAM}), mode)

    report = drift(desired, live, NOW)

    (missing,) = [r for r in report.records if r.customer_id == FABRIKAM]
    assert missing.kind is DriftKind.MISSING_CUSTOMER
    assert "vanished from Partner Center's list while pcr read it" in missing.message
    assert "No relationship with customer" in missing.detail["vanished"]
    assert not [r for r in report.records if r.customer_id == NORTHWIND], "offboarding done"
    expected = drift(desired, baseline()[0], NOW)
    vanished = {NORTHWIND, FABRIKAM}
    assert [r for r in report.records if r.customer_id not in vanished] == [
        r for r in expected.records if r.customer_id not in vanished
    ]


def test_the_fingerprint_of_a_read_with_a_vanished_customer_is_deterministic() -> None:
    desired = example_desired()
    first = make_plan(desired, read(Vanishing(example_fake(), removed={NORTHWIND})), NOW)
    second = make_plan(desired, read(Vanishing(example_fake(), removed={NORTHWIND})), NOW)

    assert first.live_fingerprint == second.live_fingerprint
    assert first.live_fingerprint != baseline()[1].live_fingerprint


def test_other_errors_of_a_deep_read_still_abort_the_read() -> None:
    app = example_fake()
    app.add_fault("GET", f"/customers/{FABRIKAM}/subscriptions$", status=400, count=None)

    with in_process_client(app) as client, pytest.raises(PartnerCenterError) as caught:
        read_live(client, example_desired(), graph=graph_beside(client))
    assert caught.value.status == 400


@pytest.mark.parametrize("status", [403, 404])
def test_a_one_off_403_or_404_is_read_again_and_proves_nothing(status: int) -> None:
    """A deep read refused once, of a customer Partner Center still has: read again, and
    planned as if nothing had happened (absence is never proof on one answer)."""
    app = example_fake()
    app.add_fault("GET", f"/customers/{NORTHWIND}/subscriptions$", status=status, count=1)
    with in_process_client(app) as client:
        live = read_live(client, example_desired(), graph=graph_beside(client))
    expected_live, expected = baseline()
    assert not live.vanished and not live.unreadable
    assert NORTHWIND in live.details
    assert live.api_calls == expected_live.api_calls + 2  # the customer, its subscriptions
    result = make_plan(example_desired(), live, NOW)
    assert action_ids(result, without=set()) == action_ids(expected, without=set())


@pytest.mark.parametrize("status", [403, 404])
def test_a_customer_whose_deep_read_keeps_failing_is_unread_not_removed(status: int) -> None:
    """Northwind offboards. Its subscriptions answer 404 (or 403) every time, yet Partner
    Center still has it: not "its relationship was removed, so its offboarding is done",
    but a customer nothing is known of, planned for nothing, and a failed run."""
    app = example_fake()
    app.add_fault("GET", f"/customers/{NORTHWIND}/subscriptions$", status=status, count=None)
    with in_process_client(app) as client:
        live = read_live(client, example_desired(), graph=graph_beside(client))
    assert not live.vanished and NORTHWIND in live.unreadable
    result = make_plan(example_desired(), live, NOW)
    assert not [a for a in result.actions if a.customer_id == NORTHWIND]
    assert not [w for w in result.warnings if "offboarding is done" in w]
    (blocked,) = [b for b in result.blocked if b.customer_id == NORTHWIND]
    assert blocked.kind is BlockedKind.READ_FAILED
    assert result.unread == [NORTHWIND]
    assert [a for a in result.actions if a.customer_id != NORTHWIND]  # the others go on


def test_a_reseller_the_list_left_out_is_confirmed_by_one_direct_read(mode: str) -> None:
    # Fabrikam's file needs a deep read, Contoso's does not.
    vanishing = Vanishing(example_fake(), hidden={FABRIKAM, CONTOSO})
    live = read(vanishing, mode)
    result = make_plan(example_desired(), live, NOW)

    by_id = [
        r.path
        for r in vanishing.app.requests
        if r.path in (f"/v1/customers/{FABRIKAM}", f"/v1/customers/{CONTOSO}")
    ]
    assert sorted(by_id) == sorted([f"/v1/customers/{FABRIKAM}", f"/v1/customers/{CONTOSO}"])
    assert {FABRIKAM, CONTOSO} <= live.customers.keys() and FABRIKAM in live.details
    expected_live, expected = baseline()
    assert live.api_calls == expected_live.api_calls + 2
    assert action_ids(result, without=set()) == action_ids(expected, without=set())
    assert not result.errors and result.live_fingerprint == expected.live_fingerprint


def test_a_reseller_confirmed_missing_is_its_own_blocked_item_with_the_link() -> None:
    example = example_desired()
    typo = DesiredCustomer(TYPO, Relationship.RESELLER, Mark("customers/typo.yaml", 1, 1))
    desired = dataclasses.replace(example, customers={**example.customers, TYPO: typo})
    vanishing = Vanishing(example_fake())

    live = read(vanishing, desired=desired)
    result = make_plan(desired, live, NOW)

    looked_up = [r for r in vanishing.app.requests if TYPO in r.path]
    assert [(r.method, r.path, r.status) for r in looked_up] == [
        ("GET", f"/v1/customers/{TYPO}", 404)
    ]
    # One GET by id, then the invitation link for its blocked item.
    assert live.api_calls == baseline()[0].api_calls + 2
    assert live.relationship_request_url is not None
    assert TYPO not in live.customers and TYPO not in live.vanished
    assert result.errors == []
    (blocked,) = [b for b in result.blocked if b.customer_id == TYPO]
    assert blocked.kind is BlockedKind.MISSING_CUSTOMER
    assert "typo" in blocked.reason
    assert any(live.relationship_request_url in step for step in blocked.manual_steps)
    # Everyone else is planned as before.
    assert action_ids(result, without=set()) == action_ids(baseline()[1], without=set())


def test_an_offboarding_customer_absent_from_the_list_is_looked_up_before_it_counts_as_done() -> (
    None
):
    """Absent from the list is the removal done, but a list that shifts under paging can
    leave a customer out: one direct read says so before pcr believes it."""
    vanishing = Vanishing(example_fake())
    vanishing.state.customer(NORTHWIND)["relationshipToPartner"] = "none"  # removed before

    live = read(vanishing)
    result = make_plan(example_desired(), live, NOW)

    assert [r.path for r in vanishing.app.requests if NORTHWIND in r.path] == [
        f"/v1/customers/{NORTHWIND}"
    ]
    assert live.api_calls == baseline()[0].api_calls - 2 + 1  # no deep reads; one lookup
    assert not live.vanished and not [a for a in result.actions if a.customer_id == NORTHWIND]
    assert not [w for w in result.warnings if "northwind.yaml" in w] and not result.errors


def test_an_offboarding_customer_a_shifting_list_left_out_is_still_offboarded() -> None:
    vanishing = Vanishing(example_fake(), hidden={NORTHWIND})
    live = read(vanishing)
    result = make_plan(example_desired(), live, NOW)
    expected_live, expected = baseline()
    assert NORTHWIND in live.details  # found by the direct read, then read in full
    assert action_ids(result, without=set()) == action_ids(expected, without=set())


def test_subscriptions_read_for_import_leave_out_a_vanished_customer(mode: str) -> None:
    # `pcr import` and `pcr drift --all` read subscriptions after the list: a customer
    # removed in between is left out instead of failing the whole read.
    vanishing = Vanishing(example_fake(), removed={CONTOSO})
    with client_for(vanishing, mode) as client:
        listed = [c.id.lower() for c in client.iter_customers()]
        details = read_subscriptions(client, listed)
    assert CONTOSO in listed
    assert set(details) == set(listed) - {CONTOSO}
    assert details[FABRIKAM].subscriptions
