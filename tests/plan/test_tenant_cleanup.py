"""The tenant's clean-up in the planner, plain data: held back and named with a held
offboarding, what a reviewer reads of each step's consequences, and nothing of the tenant
planned for a customer that stays or keeps it."""

from __future__ import annotations

from reconciler.desired.model import Cleanup
from reconciler.desired.model import Relationship
from reconciler.desired.model import TenantCleanup
from reconciler.plan.actions import ActionType
from reconciler.plan.model import BlockedKind
from reconciler.plan.planner import make_plan
from reconciler.render import render
from tests.plan.builders import NOW
from tests.plan.builders import customer
from tests.plan.builders import detail
from tests.plan.builders import estate
from tests.plan.builders import footprint
from tests.plan.builders import relationship

EVERYTHING = TenantCleanup(Cleanup.REMOVE, Cleanup.REMOVE, Cleanup.REMOVE)
TENANT_STEPS = {
    ActionType.REMOVE_GUEST_USER,
    ActionType.REMOVE_TENANT_CONTACT,
    ActionType.REMOVE_PARTNER_APP,
}


def test_a_held_offboarding_names_the_clean_up_it_holds_back() -> None:
    c = customer(tenant_cleanup=EVERYTHING)
    desired, live = estate((c, detail(ris=1)))  # a reserved instance: a person must act
    live.gdap[c.tenant_id] = (relationship(c.tenant_id),)
    live.tenants[c.tenant_id] = footprint(guests=1, contacts=1, apps=1)
    plan = make_plan(desired, live, NOW)
    assert not {a.type for a in plan.actions} & TENANT_STEPS
    (blocked,) = [b for b in plan.blocked if b.kind is BlockedKind.RESERVED_INSTANCE]
    (held,) = [s for s in blocked.manual_steps if s.startswith("Held back until then: ")]
    assert held == (
        "Held back until then: remove guest user tech0@partner.example; remove notification "
        "contact ops0@partner.example; remove partner app Partner app 0; terminate GDAP "
        f"relationship {live.gdap[c.tenant_id][0].name}"
    )  # the tenant before GDAP, as they would go


def test_the_reviewer_reads_what_each_step_takes_away() -> None:
    c = customer(tenant_cleanup=EVERYTHING)
    desired, live = estate((c, detail()))
    live.tenants[c.tenant_id] = footprint(guests=1, contacts=1, apps=1)
    plan = make_plan(desired, live, NOW)
    text = render(plan, "text")
    assert "remove guest user" in text and "tech0@partner.example" in text
    assert "Microsoft Graph keeps a deleted user 30 days in the tenant's deleted items" in text
    assert "the partner's address no longer receives the tenant's notifications" in text
    markdown = render(plan, "markdown")
    assert "the partner's app loses its access to the customer's tenant at once" in markdown
    guest = next(a for a in plan.actions if a.type is ActionType.REMOVE_GUEST_USER)
    assert guest.irreversible and guest.billing is not None and not guest.billing.stops_billing


def test_a_customer_that_stays_or_keeps_its_tenant_gets_no_tenant_step() -> None:
    stays = customer(relationship=Relationship.RESELLER, tenant_cleanup=EVERYTHING)
    keeps = customer(tenant_cleanup=TenantCleanup(Cleanup.KEEP, Cleanup.KEEP, Cleanup.KEEP))
    desired, live = estate((stays, detail()), (keeps, detail()))
    for c in (stays, keeps):
        live.tenants[c.tenant_id] = footprint(guests=2, contacts=1, apps=1)
    plan = make_plan(desired, live, NOW)
    assert not {a.type for a in plan.actions} & TENANT_STEPS
    assert not [d for d in plan.deferred if d.type in TENANT_STEPS]
