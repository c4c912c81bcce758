"""Each action type is one `ActionKind` in the registry, and nothing else dispatches on the
type: the plan model, the renderers, drift's words, the executor's step, its landed check
and the audit trail's `after` all come from the kind; the fake serves each kind's calls."""

from __future__ import annotations

import inspect
import json
import re
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from reconciler.apply.executor import Executor
from reconciler.apply.journal import AuditLog
from reconciler.apply.journal import Journal
from reconciler.apply.journal import Orphan
from reconciler.fake import serves
from reconciler.plan import actions
from reconciler.plan.actions import DESTRUCTIVE
from reconciler.plan.actions import KINDS
from reconciler.plan.actions import REGISTRY
from reconciler.plan.actions import ActionType
from reconciler.plan.actions import Billing
from reconciler.plan.actions import Outcome
from reconciler.plan.actions.base import ActionKind
from reconciler.plan.actions.base import Steps
from reconciler.plan.actions.base import SubscriptionPatch
from reconciler.plan.model import Action
from reconciler.plan.model import Plan
from reconciler.plan.model import from_dict
from reconciler.plan.model import to_dict
from reconciler.render import render
from tests.apply.test_executor import client_for
from tests.plan.builders import NOW

IDS = {"customer": "c-1", "subscription": "s-1", "order": "o-1", "entitlement": "e-1"}
IDS |= {"user": "u-1", "organization": "o-1", "servicePrincipal": "sp-1"}
IDS["relationship"] = "00000000-0000-4000-8000-000000000001-00000000-0000-4000-8000-000000000002"


def modules() -> list[ModuleType]:
    return [m for n, m in sys.modules.items() if n.startswith("reconciler.plan.actions.")]


def test_every_action_type_is_one_kind_in_the_registry() -> None:
    assert [k.type for k in KINDS] == list(REGISTRY) and set(REGISTRY) == set(ActionType)
    assert len(KINDS) == len(set(k.type for k in KINDS))
    assert {k.type for k in KINDS if k.destructive} == DESTRUCTIVE


def test_what_cannot_be_undone_is_destructive_and_marked_so() -> None:
    """Irreversible (it lists what it takes away) makes a kind destructive and marks it "-"
    (the removal: "!!"); of the reversible ones only a suspension takes something away."""
    irreversible = {k.type for k in KINDS if k.irreversible}
    assert irreversible == set(ActionType) - {
        ActionType.SUSPEND,
        ActionType.REACTIVATE,
        ActionType.DISABLE_AUTO_RENEW,
        ActionType.ENABLE_AUTO_RENEW,
    }
    assert irreversible | {ActionType.SUSPEND} == DESTRUCTIVE
    assert (
        ActionType.REACTIVATE not in DESTRUCTIVE and ActionType.ENABLE_AUTO_RENEW not in DESTRUCTIVE
    )
    marks = {k.type: k.symbol for k in KINDS}
    assert {marks[t] for t in irreversible - {ActionType.REMOVE_RELATIONSHIP}} == {"-"}
    assert marks[ActionType.REMOVE_RELATIONSHIP] == "!!"
    assert (marks[ActionType.SUSPEND], marks[ActionType.DISABLE_AUTO_RENEW]) == ("~", "~")
    assert (marks[ActionType.REACTIVATE], marks[ActionType.ENABLE_AUTO_RENEW]) == ("+", "+")
    for kind in KINDS:
        # Its step and its landed check are written in the kind's own module, or are one
        # subscription PATCH's (`SubscriptionPatch`, whose rules are written there).
        home = next(m for m in modules() if kind in vars(m).values())
        patch = getattr(kind.landed, "__self__", None)
        if isinstance(patch, SubscriptionPatch):
            if inspect.ismethod(kind.step):  # the patch's own step
                assert kind.step.__self__ is patch
            assert inspect.getmodule(patch.wanted) is home
        else:
            assert inspect.getmodule(kind.step) is inspect.getmodule(kind.landed)
        assert inspect.getmodule(kind.step).__name__.startswith("reconciler.plan.actions.")


@pytest.mark.parametrize("action_type", list(ActionType))
def test_every_action_type_renders_under_its_own_words(action_type: ActionType) -> None:
    kind = REGISTRY[action_type]
    action = Action("c-1", action_type, "s-1", "a reason", target_name="Offer (nce)")
    shown = render(Plan(now=NOW, actions=[action]), "text")
    assert re.search(rf"{re.escape(kind.symbol)}\s+{re.escape(kind.verb)}\s", shown), shown
    assert f"1 to change (1 {kind.short})" in shown
    assert kind.verb in render(Plan(now=NOW, actions=[action]), "markdown")
    assert action.irreversible is kind.irreversible


@pytest.mark.parametrize("action_type", list(ActionType))
def test_the_fake_serves_every_call_an_action_type_makes(action_type: ActionType) -> None:
    routes = REGISTRY[action_type].routes
    assert routes
    for route in routes:
        method, path = route.split(" ", 1)
        assert serves(method, path.format(**IDS)), route


def test_the_route_check_can_fail() -> None:
    assert not serves("DELETE", "/v1/customers/c-1")
    assert not serves("PATCH", "/v1/customers/c-1/azureEntitlements/e-1")


def test_a_hand_edited_plan_cannot_make_an_irreversible_step_reversible() -> None:
    removal = Action("c-1", ActionType.REMOVE_RELATIONSHIP, "c-1", "why")
    data = to_dict(Plan(now=NOW, actions=[removal]))
    data["actions"][0]["irreversible"] = False
    (loaded,) = from_dict(json.loads(json.dumps(data))).actions
    assert loaded.irreversible and loaded.consequences


def test_a_kind_is_all_the_rest_of_pcr_knows_of_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind swapped in the registry is what the plan shows, what apply runs, what its
    landed check answers and what the audit trail records: there is no second table."""
    called: list[str] = []

    def step(steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
        called.append(action.id)
        steps.mutate(action, request_id, lambda call, landed: None)
        return Outcome.DONE, "pinged"

    pinged = ActionKind(
        type=ActionType.REACTIVATE,
        verb="ping",
        short="ping",
        symbol="*",
        routes=("GET /v1/customers/{customer}",),
        after="pinged",
        apply_says="`pcr apply` pings it",
        goes_on="billing as ever",
        step=step,
        landed=lambda steps, action: action.target_id == "s-1",
    )
    monkeypatch.setitem(actions.REGISTRY, ActionType.REACTIVATE, pinged)
    unchanged = Billing(stops_billing=False)
    action = Action(
        "c-1", ActionType.REACTIVATE, "s-1", "why", target_name="Offer", billing=unchanged
    )
    plan = Plan(now=NOW, actions=[action])
    shown = render(plan, "text")
    assert re.search(r"\*\s+ping\s", shown) and "billing as ever" in shown

    executor = Executor(
        client=client_for(lambda *args: None),  # never called: the step sends nothing
        journal=Journal(tmp_path / "journal.jsonl"),
        audit=AuditLog(tmp_path / "audit.jsonl"),
        now=NOW,
    )
    (result,) = executor.apply(plan).results
    assert (result.outcome, result.message, called) == (Outcome.DONE, "pinged", [action.id])
    (record,) = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert record["after"] == "pinged"
    # A step an interrupted run sent is verified by the kind's landed check.
    sent = Orphan(Journal(tmp_path / "killed.jsonl"), action, "req-9")
    assert executor.recover([sent]) == [f"{action.id}: sent by an interrupted run, found in place"]
    elsewhere = Orphan(sent.journal, replace(action, target_id="s-2"), "req-8")
    assert "did not land" in executor.recover([elsewhere])[0]
