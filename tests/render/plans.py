"""Plans built by hand for the renderer tests: a small estate and a generated large one."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.plan import Action, ActionType, Blocked, CustomerRef, Deferred, Plan

NOW = datetime(2026, 11, 22, tzinfo=UTC)
CONTOSO = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13"
FABRIKAM = "7c1d0e2a-9b3f-4a5e-8d6c-1f2e3d4c5b6a"
NORTHWIND = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
TAILSPIN = "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"

REMOVE_REASON = "offboarding: relationship is none in customers/contoso.yaml"
DEFER_REASON = "NCE subscription nce-3 is outside its cancellation window; auto-renew is off"
BLOCK_REASON = "customer has 1 Azure reserved instance, which only Azure support can cancel"
STEPS = (
    "Open an Azure support request to cancel reservation order ro-1",
    "Run pcr plan again once the reservation is cancelled",
)


def remove(customer_id: str, name: str = "") -> Action:
    return Action(
        customer_id,
        ActionType.REMOVE_RELATIONSHIP,
        customer_id,
        REMOVE_REASON,
        target_name=name,
        irreversible=True,
    )


def small_plan() -> Plan:
    """Every action type, a deferred and a blocked item, warnings and unmanaged customers."""
    actions = [
        Action(CONTOSO, ActionType.DISABLE_AUTO_RENEW, "nce-1", "stop renewal", "Microsoft 365 E3"),
        Action(CONTOSO, ActionType.CANCEL, "nce-2", "inside the window", "Microsoft 365 E5"),
        Action(CONTOSO, ActionType.SUSPEND, "legacy-1", "legacy: suspend", "Office 365 E1"),
        remove(CONTOSO, "Contoso Ltd"),
        Action(FABRIKAM, ActionType.REACTIVATE, "sub-4", "declared active", "Visio Plan 2"),
        Action(FABRIKAM, ActionType.ENABLE_AUTO_RENEW, "sub-5", "declared on", "Project Plan 3"),
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
        plan.actions.append(Action(cid, ActionType.CANCEL, f"sub-{n}", "inside the window"))
        plan.actions.append(remove(cid, f"Customer {n}"))
    return plan
