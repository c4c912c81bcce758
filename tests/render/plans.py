"""Plans built by hand for the renderer tests: a small estate and a generated large one."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime

from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Billing
from reconciler.plan.actions import Refund
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import CustomerRef
from reconciler.plan.model import Deferred
from reconciler.plan.model import Plan
from reconciler.plan.model import Refusal
from reconciler.plan.model import RefusalKind

NOW = datetime(2026, 11, 22, tzinfo=UTC)
CONTOSO = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
FABRIKAM = "7c1d0e2a-9b3f-4a5e-8d6c-1f2e3d4c5b6a"
NORTHWIND = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
TAILSPIN = "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"
AZURE_PLAN = "azure-plan-1"

# What each action type's billing rule gives its step (docs/partner-center.md,
# "Refunds and billing").
STOPS_PRORATED = Billing(stops_billing=True, refund=Refund.PRORATED)  # NCE, after its first day
STOPS = Billing(stops_billing=True)  # a legacy suspension, an Azure subscription's usage
TERM_END = date(2027, 1, 13)
TO_TERM_END = Billing(stops_billing=False, billed_until=TERM_END)  # auto-renew off
UNCHANGED = Billing(stops_billing=False)  # removing, reactivating, renewing

REMOVE_REASON = "offboarding: relationship is none in customers/contoso.yaml"
DEFER_REASON = "NCE subscription nce-3 is outside its cancellation window; auto-renew is off"
BLOCK_REASON = "customer has 1 Azure reserved instance, which only Azure support can cancel"
STEPS = (
    "Open an Azure support request to cancel reservation order ro-1",
    "Run pcr plan again once the reservation is cancelled",
)


def refusal(message: str) -> Refusal:
    """A guardrail's refusal, as a plan file gives it back: its words only."""
    return Refusal(RefusalKind.SAVED, message)


def remove(customer_id: str, name: str = "") -> Action:
    return Action(
        customer_id,
        ActionType.REMOVE_RELATIONSHIP,
        customer_id,
        REMOVE_REASON,
        target_name=name,
        irreversible=True,
        billing=UNCHANGED,
    )


def cancel(customer_id: str, target_id: str, name: str = "") -> Action:
    """An NCE cancellation inside its window: final, billing stops with a prorated refund."""
    return Action(
        customer_id,
        ActionType.CANCEL,
        target_id,
        "inside the window",
        name,
        irreversible=True,
        billing=STOPS_PRORATED,
    )


def cancel_azure(customer_id: str, target_id: str, name: str = "") -> Action:
    return Action(
        customer_id,
        ActionType.CANCEL_AZURE_ENTITLEMENT,
        target_id,
        "declared cancelled",
        name,
        irreversible=True,
        billing=STOPS,
        parent_id=AZURE_PLAN,
    )


def small_plan() -> Plan:
    """Every action type, a deferred and a blocked item, warnings and unmanaged customers."""
    actions = [
        Action(
            CONTOSO,
            ActionType.DISABLE_AUTO_RENEW,
            "nce-1",
            "stop renewal",
            "Microsoft 365 E3",
            billing=TO_TERM_END,
        ),
        cancel(CONTOSO, "nce-2", "Microsoft 365 E5"),
        Action(
            CONTOSO,
            ActionType.SUSPEND,
            "legacy-1",
            "legacy: suspend",
            "Office 365 E1",
            billing=STOPS,
        ),
        remove(CONTOSO, "Contoso Ltd"),
        Action(
            FABRIKAM,
            ActionType.REACTIVATE,
            "sub-4",
            "declared active",
            "Visio Plan 2",
            billing=UNCHANGED,
        ),
        Action(
            FABRIKAM,
            ActionType.ENABLE_AUTO_RENEW,
            "sub-5",
            "declared on",
            "Project Plan 3",
            billing=UNCHANGED,
        ),
        cancel_azure(FABRIKAM, "az-1", "Dev/Test"),
    ]
    return Plan(
        now=NOW,
        actions=actions,
        deferred=[
            Deferred(
                NORTHWIND,
                ActionType.REMOVE_RELATIONSHIP,
                datetime(2027, 3, 1, tzinfo=UTC),
                DEFER_REASON,
                NORTHWIND,
            )
        ],
        blocked=[Blocked(TAILSPIN, BLOCK_REASON, STEPS)],
        warnings=["customers/fabrikam.yaml: name 'Fabrikam' differs from live 'Fabrikam Inc'"],
        customers={
            CONTOSO: CustomerRef("Contoso Ltd", "customers/contoso.yaml"),
            FABRIKAM: CustomerRef("Fabrikam", "customers/fabrikam.yaml"),
            NORTHWIND: CustomerRef("Northwind Traders", "customers/northwind.yaml"),
            TAILSPIN: CustomerRef("Tailspin Toys", "customers/tailspin.yaml"),
        },
        unmanaged=["u-1", "u-2", "u-3", "u-4", "u-5"],
        live_fingerprint="sha256:" + "0" * 64,
        expires_at=datetime(2026, 11, 25, 23, 59, tzinfo=UTC),
        max_removals=10,
        api_calls=42,
    )


def large_plan(customers: int) -> Plan:
    """Many offboarded customers: each a cancellation and a removal."""
    plan = Plan(now=NOW, api_calls=customers * 3)
    for n in range(customers):
        cid = f"00000000-0000-4000-8000-{n:012d}"
        plan.customers[cid] = CustomerRef(f"Customer {n}", f"customers/c{n}.yaml")
        plan.actions.append(cancel(cid, f"sub-{n}"))
        plan.actions.append(remove(cid, f"Customer {n}"))
    return plan
