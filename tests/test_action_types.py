"""Every table that lists action types agrees: the description in the plan model, the
executor's steps, the renderers' verbs, and the fake's routes for each type's calls."""

from __future__ import annotations

import re

import pytest

from reconciler.apply.executor import STEPS, Executor
from reconciler.fake import serves
from reconciler.plan.model import ACTION_TYPES, DESTRUCTIVE, Action, ActionType, Plan
from reconciler.render import render
from tests.plan.builders import NOW

IDS = {"customer": "c-1", "subscription": "s-1", "order": "o-1", "entitlement": "e-1"}
IDS["relationship"] = "00000000-0000-4000-8000-000000000001-00000000-0000-4000-8000-000000000002"


def test_every_action_type_is_described_once() -> None:
    assert list(ACTION_TYPES) and set(ACTION_TYPES) == set(ActionType)
    assert {t for t, spec in ACTION_TYPES.items() if spec.destructive} == DESTRUCTIVE


def test_every_action_type_has_an_executor_step() -> None:
    assert set(STEPS) == set(ActionType)
    for step in STEPS.values():
        assert getattr(Executor, step.__name__) is step


@pytest.mark.parametrize("action_type", list(ActionType))
def test_every_action_type_renders_under_its_own_words(action_type: ActionType) -> None:
    spec = ACTION_TYPES[action_type]
    action = Action("c-1", action_type, "s-1", "a reason", target_name="Offer (nce)")
    shown = render(Plan(now=NOW, actions=[action]), "text")
    assert re.search(rf"{re.escape(spec.symbol)}\s+{re.escape(spec.verb)}\s", shown), shown
    assert f"1 to change (1 {spec.short})" in shown
    assert spec.verb in render(Plan(now=NOW, actions=[action]), "markdown")


@pytest.mark.parametrize("action_type", list(ActionType))
def test_the_fake_serves_every_call_an_action_type_makes(action_type: ActionType) -> None:
    routes = ACTION_TYPES[action_type].routes
    assert routes
    for route in routes:
        method, path = route.split(" ", 1)
        assert serves(method, path.format(**IDS)), route


def test_the_route_check_can_fail() -> None:
    assert not serves("DELETE", "/v1/customers/c-1")
    assert not serves("PATCH", "/v1/customers/c-1/azureEntitlements/e-1")
