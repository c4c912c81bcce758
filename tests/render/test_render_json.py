"""The JSON rendering is the plan-JSON contract and reads back into the same plan."""

from __future__ import annotations

import json

import pytest

from reconciler.plan.actions.azure_subscription import CONSEQUENCES as AZURE_CANCEL_CONSEQUENCES
from reconciler.plan.actions.cancel import CONSEQUENCES as CANCEL_CONSEQUENCES
from reconciler.plan.actions.removal import CONSEQUENCES as REMOVAL_CONSEQUENCES
from reconciler.plan.model import CustomerRef
from reconciler.plan.model import from_dict
from reconciler.plan.model import to_dict
from reconciler.render.json import render
from tests.render.plans import CONTOSO
from tests.render.plans import refusal
from tests.render.plans import small_plan


def test_round_trip_gives_back_the_same_plan() -> None:
    plan = small_plan()
    plan.refusals = [refusal("refused")]
    back = from_dict(json.loads(render(plan)))
    assert back.actions == plan.actions
    assert back.deferred == plan.deferred
    assert back.blocked == plan.blocked
    assert (back.warnings, back.errors, back.unmanaged) == (
        plan.warnings,
        plan.errors,
        plan.unmanaged,
    )
    assert back.customers == plan.customers
    assert (back.now, back.expires_at, back.live_fingerprint) == (
        plan.now,
        plan.expires_at,
        plan.live_fingerprint,
    )
    assert (back.max_removals, back.api_calls) == (plan.max_removals, plan.api_calls)


def test_keys_in_contract_order_indented_with_final_newline() -> None:
    text = render(small_plan())
    assert list(json.loads(text)) == list(to_dict(small_plan()))
    assert text.startswith('{\n  "format_version": 1,\n  "now": "2026-11-22T00:00:00Z",')
    assert text.endswith("}\n")


def test_non_ascii_names_stay_readable() -> None:
    plan = small_plan()
    plan.customers[CONTOSO] = CustomerRef("Müller & Söhne GmbH", "customers/mueller.yaml")
    text = render(plan)
    assert '"name": "Müller & Söhne GmbH"' in text
    assert "\\u00fc" not in text


@pytest.mark.parametrize(
    ("target_id", "consequences"),
    [
        ("nce-2", CANCEL_CONSEQUENCES),
        ("az-1", AZURE_CANCEL_CONSEQUENCES),
        (CONTOSO, REMOVAL_CONSEQUENCES),
    ],
)
def test_irreversible_steps_are_marked_with_their_own_consequences(
    target_id: str, consequences: tuple[str, ...]
) -> None:
    actions = json.loads(render(small_plan()))["actions"]
    action = next(a for a in actions if a["target_id"] == target_id)
    assert action["irreversible"] is True
    assert action["consequences"] == list(consequences)


def test_reversible_steps_are_marked_and_carry_no_consequences() -> None:
    document = json.loads(render(small_plan()))
    reversible = [a for a in document["actions"] if not a["irreversible"]]
    assert len(reversible) == 4
    assert all("consequences" not in a for a in reversible)
    assert document["summary"]["irreversible"] == 3


def test_every_action_carries_its_billing() -> None:
    by_target = {a["target_id"]: a["billing"] for a in json.loads(render(small_plan()))["actions"]}
    assert by_target["nce-1"] == {
        "stops_billing": False,
        "billed_until": "2027-01-13",
        "refund": "none",
    }
    assert by_target["nce-2"] == {"stops_billing": True, "billed_until": None, "refund": "prorated"}
    assert all(billing is not None for billing in by_target.values())
