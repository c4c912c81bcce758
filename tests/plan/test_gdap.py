"""GDAP in the offboarding plan: what each status gets, in which order, when it is deferred
or held back, and what a person is told when pcr cannot or may not end a relationship."""

from __future__ import annotations

from dataclasses import replace

from reconciler.desired.model import GdapOffboarding
from reconciler.live.models import GdapStatus
from reconciler.live.models import SubscriptionKind
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.model import to_dict
from reconciler.plan.planner import make_plan
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import guid
from tests.plan.builders import relationship
from tests.plan.builders import sub

TERMINATE, DELETE = ActionType.TERMINATE_GDAP, ActionType.DELETE_GDAP
REMOVE = ActionType.REMOVE_RELATIONSHIP


def offboarding_with(*statuses: GdapStatus, subs: tuple = (), **options: object):  # type: ignore[no-untyped-def]
    c = customer(**options)  # type: ignore[arg-type]
    desired, live = estate((c, detail(*subs)))
    relationships = tuple(relationship(c.tenant_id, s) for s in statuses)
    live.gdap[c.tenant_id] = relationships
    return c, desired, live, relationships


def test_the_documented_mix_terminates_deletes_leaves_and_blocks() -> None:
    legacy = sub(SubscriptionKind.LEGACY)
    statuses = [GdapStatus.ACTIVE, GdapStatus.ACTIVE, GdapStatus.CREATED]
    statuses += [GdapStatus.TERMINATED, GdapStatus.APPROVAL_PENDING]
    c, desired, live, rels = offboarding_with(*statuses, subs=(legacy,))
    plan = make_plan(desired, live, NOW)

    kinds = [(a.type, a.target_id) for a in plan.actions]
    assert kinds == [
        (ActionType.SUSPEND, legacy.id),
        (TERMINATE, rels[0].id),
        (TERMINATE, rels[1].id),
        (DELETE, rels[2].id),
        (REMOVE, c.tenant_id),
    ]
    suspend, *gdap, removal = plan.actions
    # After the subscriptions, before the removal, which waits for all of them.
    assert all(a.depends_on == (suspend.id,) for a in gdap)
    assert set(removal.depends_on) == {a.id for a in plan.actions[:-1]}
    assert all(a.irreversible and a.consequences for a in gdap)
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.GDAP and rels[4].id in blocked.reason
    assert "approval" in blocked.reason
    assert (
        to_dict(plan)["summary"]["irreversible"] == 4
    )  # two terminations, a deletion, the removal


def test_a_deferred_removal_defers_its_gdap_steps_to_the_same_date() -> None:
    nce = sub(SubscriptionKind.NCE, auto_renew=False, term_end_days=60)
    _, desired, live, rels = offboarding_with(GdapStatus.ACTIVE, GdapStatus.CREATED, subs=(nce,))
    plan = make_plan(desired, live, NOW)
    assert plan.actions == []
    dates = {d.not_before for d in plan.deferred}
    assert [(d.type, d.target_id) for d in plan.deferred] == [
        (TERMINATE, rels[0].id),
        (DELETE, rels[1].id),
        (REMOVE, plan.deferred[-1].target_id),
    ]
    assert len(dates) == 1
    assert "together with the removal" in plan.deferred[0].reason


def test_a_reservation_holds_the_gdap_steps_back_and_names_them() -> None:
    c, desired, live, rels = offboarding_with(GdapStatus.ACTIVE)
    live.details[c.tenant_id] = replace(detail(ris=1))
    plan = make_plan(desired, live, NOW)
    assert [a.type for a in plan.actions] == []
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.RESERVED_INSTANCE
    assert any(rels[0].name in step for step in blocked.manual_steps)


def test_transient_states_are_waited_for_not_acted_on() -> None:
    for status in (GdapStatus.APPROVED, GdapStatus.ACTIVATING):
        _, desired, live, _ = offboarding_with(status)
        plan = make_plan(desired, live, NOW)
        assert plan.actions == [], status  # the removal waits: it must not leave roles behind
        (blocked,) = plan.blocked
        assert (
            blocked.kind is BlockedKind.GDAP
            and "Plan again in a few minutes" in (blocked.manual_steps[0])
        )
    for status in (GdapStatus.TERMINATION_REQUESTED, GdapStatus.TERMINATING):
        _, desired, live, _ = offboarding_with(status)
        plan = make_plan(desired, live, NOW)
        # Ending by itself, but the roles may hold until it is terminated: the removal waits.
        assert plan.actions == [], status
        (blocked,) = plan.blocked
        assert blocked.kind is BlockedKind.GDAP and "Graph is ending it" in blocked.reason


def test_an_unknown_gdap_status_blocks_everything_destructive() -> None:
    legacy = sub(SubscriptionKind.LEGACY)
    c, desired, live, rels = offboarding_with(GdapStatus.ACTIVE, subs=(legacy,))
    odd = replace(
        rels[0], status=GdapStatus.UNKNOWN, status_text="unknownFutureValue",
        unknowns=("status 'unknownFutureValue'",),
    )  # fmt: skip
    live.gdap[c.tenant_id] = (odd, relationship(c.tenant_id, GdapStatus.ACTIVE))
    plan = make_plan(desired, live, NOW)
    assert [a for a in plan.actions if a.destructive] == []
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.UNKNOWN_STATE and odd.id in blocked.reason


def test_gdap_keep_plans_nothing_for_gdap_and_says_so() -> None:
    c, desired, live, _ = offboarding_with(GdapStatus.ACTIVE, gdap=GdapOffboarding.KEEP)
    plan = make_plan(desired, live, NOW)
    assert [a.type for a in plan.actions] == [REMOVE]
    assert any("offboarding.gdap: keep" in w for w in plan.warnings)


def test_without_graph_the_offboarding_is_blocked_and_says_what_to_set() -> None:
    c = customer()
    desired, live = estate((c, detail()))
    del live.gdap[c.tenant_id]  # not read: there was no Graph client
    live.gdap_unreadable = "no Microsoft Graph credentials"
    plan = make_plan(desired, live, NOW)
    assert plan.actions == []
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.GDAP
    assert "no Microsoft Graph credentials" in blocked.reason
    assert "PCR_GRAPH_TOKEN" in blocked.manual_steps[0]
    assert "gdap: keep" in blocked.manual_steps[1]


def test_after_a_removal_done_by_hand_the_gdap_left_behind_is_terminated() -> None:
    c, desired, live, rels = offboarding_with(GdapStatus.ACTIVE)
    live.gdap[c.tenant_id] = (replace(rels[0], customer_name=" contoso "),)
    del live.customers[c.tenant_id]  # no longer in the partner's list
    plan = make_plan(desired, live, NOW)
    assert [(a.type, a.target_id) for a in plan.actions] == [(TERMINATE, rels[0].id)]


def test_an_unlisted_tenant_whose_gdap_names_someone_else_is_left_alone() -> None:
    """No listed customer, no domain to check: a mistyped tenant id must not end another
    customer's GDAP, so Graph's name of the customer must be the declared one."""
    c, desired, live, rels = offboarding_with(GdapStatus.ACTIVE)
    live.gdap[c.tenant_id] = (replace(rels[0], customer_name="Fabrikam"),)
    del live.customers[c.tenant_id]
    plan = make_plan(desired, live, NOW)
    assert plan.actions == []
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.GDAP
    assert "'Fabrikam'" in blocked.reason and "'Contoso'" in blocked.reason


def test_a_relationship_without_an_etag_blocks_everything_destructive() -> None:
    from reconciler.live.models import gdap_relationship_from_wire

    wire = {"id": "a-b", "status": "created", "customer": {"tenantId": guid()}}
    parsed = gdap_relationship_from_wire(wire)
    assert any(u.startswith("@odata.etag") for u in parsed.unknowns)
    c, desired, live, rels = offboarding_with(
        GdapStatus.ACTIVE, subs=(sub(SubscriptionKind.LEGACY),)
    )
    live.gdap[c.tenant_id] += (replace(parsed, customer_id=c.tenant_id),)
    plan = make_plan(desired, live, NOW)
    assert [a for a in plan.actions if a.destructive] == []
    (blocked,) = plan.blocked
    assert blocked.kind is BlockedKind.UNKNOWN_STATE
    assert "Admin relationships (Microsoft Graph)" in blocked.manual_steps[0]


def test_a_customer_that_stays_gets_no_gdap_steps() -> None:
    from reconciler.desired.model import Relationship

    c = customer(relationship=Relationship.RESELLER)
    desired, live = estate((c, detail()))
    live.gdap[c.tenant_id] = (relationship(c.tenant_id, GdapStatus.ACTIVE),)
    assert make_plan(desired, live, NOW).actions == []


def test_the_fingerprint_changes_when_a_relationship_does() -> None:
    c, desired, live, rels = offboarding_with(GdapStatus.ACTIVE)
    before = make_plan(desired, live, NOW).live_fingerprint
    live.gdap[c.tenant_id] = (
        replace(rels[0], status=GdapStatus.TERMINATED, status_text="terminated"),
    )
    assert make_plan(desired, live, NOW).live_fingerprint != before
