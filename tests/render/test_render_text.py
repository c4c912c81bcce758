"""The terminal rendering: symbols, irreversible marks, deferred and blocked items, colour."""

from __future__ import annotations

import re

import pytest

from reconciler.plan.actions import ActionType
from reconciler.plan.actions.azure_subscription import CONSEQUENCES as AZURE_CANCEL_CONSEQUENCES
from reconciler.plan.actions.cancel import CONSEQUENCES as CANCEL_CONSEQUENCES
from reconciler.plan.actions.removal import CONSEQUENCES as REMOVAL_CONSEQUENCES
from reconciler.plan.guardrails import removal_limit
from reconciler.plan.model import Action
from reconciler.plan.model import Blocked
from reconciler.plan.model import Plan
from reconciler.render.common import NO_CHANGES
from reconciler.render.common import billing_words
from reconciler.render.text import render
from tests.render.plans import BLOCK_REASON
from tests.render.plans import CONTOSO
from tests.render.plans import DEFER_REASON
from tests.render.plans import FABRIKAM
from tests.render.plans import NORTHWIND
from tests.render.plans import NOW
from tests.render.plans import REMOVE_REASON
from tests.render.plans import STEPS
from tests.render.plans import STOPS
from tests.render.plans import TAILSPIN
from tests.render.plans import cancel
from tests.render.plans import cancel_azure
from tests.render.plans import refusal
from tests.render.plans import remove
from tests.render.plans import small_plan

ESC = "\x1b"


def lines_of(plan: Plan) -> list[str]:
    return render(plan, color=False).splitlines()


def line_with(lines: list[str], needle: str) -> str:
    found = [line for line in lines if needle in line]
    assert len(found) == 1, f"{needle!r} in {found}"
    return found[0]


# Every row's billing line, under its reason; the plan holds the longest verb, so the
# targets line up after "cancel Azure subscription".
@pytest.mark.parametrize(
    ("target", "start", "billing"),
    [
        (
            "(legacy-1)",
            "  ~  suspend                    Office 365 E1 (legacy-1): legacy: suspend",
            "billing stops now; no refund",
        ),
        (
            "(nce-1)",
            "  ~  auto-renew off             Microsoft 365 E3 (nce-1): stop renewal",
            "still billed: the partner pays through 2027-01-13, the last day of its term",
        ),
        (
            "(sub-4)",
            "  +  reactivate                 Visio Plan 2 (sub-4): declared active",
            "billing resumes",
        ),
        (
            "(sub-5)",
            "  +  auto-renew on              Project Plan 3 (sub-5): declared on",
            "billing goes on: the term renews",
        ),
    ],
)
def test_each_reversible_row_has_its_symbol_target_reason_and_billing(
    target: str, start: str, billing: str
) -> None:
    lines = lines_of(small_plan())
    at = lines.index(line_with(lines, target))
    assert lines[at : at + 2] == [start, f"       {billing}"]


@pytest.mark.parametrize(
    ("target", "head", "reason", "billing", "consequences"),
    [
        (
            "(nce-2)",
            "  -  cancel                     Microsoft 365 E5 (nce-2)  IRREVERSIBLE",
            "inside the window",
            "billing stops now; prorated refund",
            CANCEL_CONSEQUENCES,
        ),
        (
            "(az-1)",
            "  -  cancel Azure subscription  Dev/Test (az-1)  IRREVERSIBLE",
            "declared cancelled",
            "billing stops now; no refund",
            AZURE_CANCEL_CONSEQUENCES,
        ),
        (
            "Contoso Ltd (3f2b",
            f"  !! remove relationship        Contoso Ltd ({CONTOSO})  IRREVERSIBLE",
            REMOVE_REASON,
            "billing unchanged",
            REMOVAL_CONSEQUENCES,
        ),
    ],
)
def test_each_irreversible_row_is_marked_with_its_billing_and_own_consequences(
    target: str, head: str, reason: str, billing: str, consequences: tuple[str, ...]
) -> None:
    lines = lines_of(small_plan())
    at = lines.index(line_with(lines, target))
    assert lines[at : at + 4] == [
        head,
        f"       {reason}",
        f"       {billing}",
        "       Cannot be undone from the partner's side:",
    ]
    end = at + 4 + len(consequences)
    assert lines[at + 4 : end] == [f"         - {c}" for c in consequences]
    assert not lines[end].startswith("         - ")  # no other type's consequences


def test_every_action_row_shows_its_billing() -> None:
    plan = small_plan()
    # One piece per row: the row's line and the indented lines under it.
    rows = re.split(r"\n(?=  \S)", render(plan, color=False))
    for action in plan.actions:
        row = next(r for r in rows if f"({action.target_id})" in r.splitlines()[0])
        assert f"       {billing_words(action.billing, action.type)}" in row.splitlines()[1:], row


def test_a_plan_without_billing_says_so_rather_than_guess() -> None:
    plan = Plan(now=NOW, actions=[Action(CONTOSO, ActionType.SUSPEND, "s", "why")])
    assert lines_of(plan)[1:3] == ["  ~  suspend  s: why", "       billing not stated in this plan"]


def test_reversible_actions_are_not_marked_irreversible() -> None:
    plan = Plan(now=NOW, actions=[Action(CONTOSO, ActionType.SUSPEND, "s", "why", billing=STOPS)])
    text = render(plan, color=False)
    assert "IRREVERSIBLE" not in text
    assert "irreversible" not in text
    assert "Cannot be undone" not in text


def test_columns_are_as_wide_as_the_plans_longest_verb() -> None:
    plan = Plan(now=NOW, actions=[cancel(CONTOSO, "nce-2"), remove(FABRIKAM)])
    lines = lines_of(plan)
    assert line_with(lines, "nce-2") == "  -  cancel               nce-2  IRREVERSIBLE"
    assert line_with(lines, "!!") == f"  !! remove relationship  {FABRIKAM}  IRREVERSIBLE"


def test_customers_are_headed_by_name_tenant_and_file_in_plan_order() -> None:
    headers = [line for line in lines_of(small_plan()) if "(tenant " in line]
    assert headers == [
        f"Contoso Ltd (tenant {CONTOSO}, customers/contoso.yaml)",
        f"Fabrikam (tenant {FABRIKAM}, customers/fabrikam.yaml)",
        f"Northwind Traders (tenant {NORTHWIND}, customers/northwind.yaml)",
        f"Tailspin Toys (tenant {TAILSPIN}, customers/tailspin.yaml)",
    ]


def test_customer_without_a_ref_is_headed_by_its_id() -> None:
    plan = Plan(now=NOW, actions=[Action("t-1", ActionType.SUSPEND, "s", "why")])
    assert "t-1 (tenant t-1)" in lines_of(plan)


def test_deferred_item_shows_its_date_and_reason() -> None:
    lines = lines_of(small_plan())
    head = line_with(lines, "deferred until")
    assert head == f"  >  deferred until 2027-03-01 00:00 UTC: remove relationship {NORTHWIND}"
    assert lines[lines.index(head) + 1] == f"       {DEFER_REASON}"


def test_blocked_item_shows_reason_and_numbered_steps() -> None:
    lines = lines_of(small_plan())
    head = line_with(lines, "blocked:")
    assert head == f"  x  blocked: {BLOCK_REASON}"
    at = lines.index(head)
    assert lines[at + 1 : at + 3] == [f"       1. {STEPS[0]}", f"       2. {STEPS[1]}"]


def test_long_reason_goes_on_its_own_wrapped_lines() -> None:
    reason = "word " * 40
    plan = Plan(now=NOW, actions=[Action(CONTOSO, ActionType.SUSPEND, "sub-1", reason.strip())])
    lines = lines_of(plan)
    head = line_with(lines, "sub-1")
    at = lines.index(head)
    assert head == "  ~  suspend  sub-1"
    wrapped = [line for line in lines[at + 1 :] if line.startswith("       word")]
    assert len(wrapped) >= 2
    assert all(len(line) <= 100 for line in wrapped)
    assert " ".join(w.strip() for w in wrapped) == reason.strip()
    assert lines[at + 1 + len(wrapped)] == "       billing not stated in this plan"


def test_errors_come_first_and_say_the_plan_will_not_be_applied() -> None:
    plan = small_plan()
    plan.refusals = [
        refusal("customers/contoso.yaml: protected: true, refusing remove_relationship")
    ]
    lines = lines_of(plan)
    assert (
        lines[0] == "Error: customers/contoso.yaml: protected: true, refusing remove_relationship"
    )
    assert lines[1].startswith("This plan will not be applied")


def test_removal_limit_breach_is_an_error_banner() -> None:
    plan = Plan(now=NOW, actions=[remove(f"c-{n}") for n in range(3)], max_removals=2)
    plan.refusals = [removal_limit(plan.removals, 2) or refusal("no limit refusal")]
    text = render(plan, color=False)
    assert text.startswith(
        "Error: the plan removes 3 reseller relationships, more than max_removals_per_run (2): "
        "offboard fewer customers per change\nThis plan will not be applied"
    )


def test_removals_within_the_limit_have_no_banner() -> None:
    plan = Plan(now=NOW, actions=[remove(f"c-{n}") for n in range(2)], max_removals=2)
    text = render(plan, color=False)
    assert "Error:" not in text
    assert "will not be applied" not in text


def test_warnings_are_listed_under_a_heading() -> None:
    lines = lines_of(small_plan())
    at = lines.index("Warnings:")
    assert lines[at + 1] == (
        "  - customers/fabrikam.yaml: name 'Fabrikam' differs from live 'Fabrikam Inc'"
    )


def test_unmanaged_customers_are_one_line_with_count_and_first_few() -> None:
    line = line_with(lines_of(small_plan()), "Unmanaged:")
    assert line.startswith("Unmanaged: 5 customers in Partner Center")
    assert line.endswith(": u-1, u-2, u-3 and 2 more.")
    assert "u-4" not in line


def test_no_changes() -> None:
    plan = Plan(now=NOW, api_calls=3)
    assert render(plan, color=False) == NO_CHANGES + "\n"
    assert NO_CHANGES == "No changes. Partner Center matches the desired state."


def test_no_changes_still_reports_unmanaged_and_warnings() -> None:
    plan = Plan(now=NOW, warnings=["w"], unmanaged=["u-1"])
    lines = lines_of(plan)
    assert lines[-1] == NO_CHANGES
    assert "  - w" in lines
    assert not any(line.startswith("Plan:") for line in lines)


def test_summary_line_counts_every_part() -> None:
    lines = lines_of(small_plan())
    assert lines[-2] == (
        "Plan: 7 to change (1 suspend, 1 cancel, 1 cancel Azure subscription, 1 remove, "
        "1 auto-renew off, 1 reactivate, 1 auto-renew on), 1 deferred, 1 blocked; "
        "3 irreversible: 1 cancellation, 1 Azure subscription cancellation, 1 removal; "
        "42 API calls."
    )
    assert lines[-1] == (
        "This plan expires at 2026-11-25 23:59 UTC (an NCE cancellation window closes)."
    )


def test_summary_line_counts_irreversible_steps_apart_and_in_the_plural() -> None:
    actions = [remove("c-1"), remove("c-2"), cancel("c-1", "s-1")]
    actions += [cancel_azure("c-1", f"az-{n}") for n in range(2)]
    plan = Plan(now=NOW, actions=actions)
    assert lines_of(plan)[-1] == (
        "Plan: 5 to change (1 cancel, 2 cancel Azure subscription, 2 remove); "
        "5 irreversible: 1 cancellation, 2 Azure subscription cancellations, 2 removals."
    )


def test_summary_line_leaves_out_zero_parts() -> None:
    actions = [Action(CONTOSO, ActionType.SUSPEND, f"s-{n}", "why") for n in range(2)]
    plan = Plan(now=NOW, actions=actions, api_calls=1)
    assert lines_of(plan)[-1] == "Plan: 2 to change (2 suspend); 1 API call."


def test_summary_line_with_only_blocked_items() -> None:
    plan = Plan(now=NOW, blocked=[Blocked(CONTOSO, "why", ())])
    assert lines_of(plan)[-1] == "Plan: 0 to change, 1 blocked."


def test_no_escape_codes_without_colour() -> None:
    plan = small_plan()
    plan.refusals = [refusal("e")]
    assert ESC not in render(plan, color=False)


def test_colours_by_meaning() -> None:
    plan = small_plan()
    plan.refusals = [refusal("refused")]
    lines = render(plan, color=True).splitlines()
    red, yellow, green = "\x1b[31m", "\x1b[33m", "\x1b[32m"
    assert line_with(lines, "refused").startswith("\x1b[31m\x1b[1mError:")
    assert line_with(lines, "Contoso Ltd (3f2b").startswith(f"{red}  !! remove relationship")
    assert line_with(lines, "(nce-2)").startswith(f"{red}  -  cancel")
    assert line_with(lines, "(az-1)").startswith(f"{red}  -  cancel Azure subscription")
    assert line_with(lines, "(nce-2)").endswith("\x1b[31m\x1b[1mIRREVERSIBLE\x1b[0m")
    assert line_with(lines, "(sub-4)").startswith(f"{green}  +  reactivate")
    assert line_with(lines, "deferred until").startswith(f"{yellow}  >")
    assert line_with(lines, "Fabrikam Inc").startswith(yellow)
    # Every style is closed on its own line, so a pager or a cut line shows the rest plain.
    assert all(line.count("\x1b[0m") >= 1 for line in lines if ESC in line)
    assert all(line.rfind("\x1b[0m") > line.rfind(red) for line in lines if red in line)


def test_colour_changes_nothing_but_escape_codes() -> None:
    plain = render(small_plan(), color=False)
    coloured = render(small_plan(), color=True)
    assert coloured != plain
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain
