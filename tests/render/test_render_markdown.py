"""The Markdown rendering: alerts, summary table, sections, escaping and the size limit."""

from __future__ import annotations

import re

import pytest

from reconciler.plan.actions import ActionType
from reconciler.plan.actions.azure_subscription import CONSEQUENCES as AZURE_CANCEL_CONSEQUENCES
from reconciler.plan.actions.cancel import CONSEQUENCES as CANCEL_CONSEQUENCES
from reconciler.plan.actions.removal import CONSEQUENCES as REMOVAL_CONSEQUENCES
from reconciler.plan.guardrails import removal_limit
from reconciler.plan.model import Action
from reconciler.plan.model import CustomerRef
from reconciler.plan.model import Plan
from reconciler.render.common import NO_CHANGES
from reconciler.render.common import billing_words
from reconciler.render.common import md
from reconciler.render.markdown import DEFAULT_LIMIT
from reconciler.render.markdown import render
from tests.render.plans import CONTOSO
from tests.render.plans import FABRIKAM
from tests.render.plans import NOW
from tests.render.plans import STEPS
from tests.render.plans import STOPS
from tests.render.plans import cancel
from tests.render.plans import cancel_azure
from tests.render.plans import large_plan
from tests.render.plans import refusal
from tests.render.plans import remove
from tests.render.plans import small_plan

HOSTILE = "Evil | Corp <script>alert(1)</script> *x* `y` [l](http://e) </details>\n- injected"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def section_of(document: str, name: str) -> str:
    start = document.index(f"<summary><b>{name}</b>")
    return document[start : document.index("</details>", start)]


def test_heading_table_and_sections() -> None:
    document = render(small_plan())
    assert document.startswith("### pcr plan\n\n")
    table = document[document.index("| Plan | |") :].split("\n\n")[0].splitlines()
    assert table == [
        "| Plan | |",
        "| --- | --- |",
        "| Customers | 4 |",
        "| Actions | 7 |",
        "| · suspend | 1 |",
        "| · cancel | 1 |",
        "| · cancel Azure subscription | 1 |",
        "| · remove relationship | 1 (at most 10 per run) |",
        "| · auto-renew off | 1 |",
        "| · reactivate | 1 |",
        "| · auto-renew on | 1 |",
        "| Irreversible | **3 irreversible: 1 cancellation, 1 Azure subscription cancellation, "
        "1 removal** |",
        "| Deferred | 1 |",
        "| Blocked | 1 |",
        "| API calls | 42 |",
        "| Expires at | 2026-11-25 23:59 UTC (an NCE cancellation window closes) |",
    ]
    assert document.count("<details><summary>") == document.count("</details>") == 4
    assert "[!CAUTION]" not in document


def test_errors_and_removal_limit_are_a_caution_alert_before_the_table() -> None:
    plan = Plan(now=NOW, actions=[remove(f"c-{n}") for n in range(3)], max_removals=2)
    plan.refusals = [refusal("customers/a.yaml: protected: true, refusing remove_relationship")]
    plan.refusals.append(removal_limit(plan.removals, 2) or refusal("no limit refusal"))
    document = render(plan)
    alert = document[document.index("> [!CAUTION]") : document.index("| Plan | |")]
    assert alert.strip().splitlines() == [
        "> [!CAUTION]",
        "> **This plan will not be applied: apply refuses it until these errors are fixed.**",
        ">",
        r"> - customers/a.yaml: protected: true, refusing remove\_relationship",
        r"> - the plan removes 3 reseller relationships, more than max\_removals\_per\_run "
        "(2): offboard fewer customers per change",
    ]


def test_warnings_and_unmanaged() -> None:
    document = render(small_plan())
    assert "**Warnings**\n\n- customers/fabrikam.yaml: name 'Fabrikam' differs" in document
    assert (
        "**Unmanaged:** 5 customers in Partner Center not in the desired state (left alone): "
        r"<code>u-1</code>, <code>u-2</code>, <code>u-3</code> and 2 more." in document
    )


def test_overview_without_irreversible_steps_says_none() -> None:
    plan = Plan(now=NOW, actions=[Action(CONTOSO, ActionType.SUSPEND, "s", "why", billing=STOPS)])
    assert "| Irreversible | none |" in render(plan)


def test_overview_counts_irreversible_steps_apart_and_in_the_plural() -> None:
    plan = Plan(now=NOW, actions=[remove("c-1"), remove("c-2"), cancel("c-1", "s-1")])
    expected = "| Irreversible | **3 irreversible: 1 cancellation, 2 removals** |"
    assert expected in render(plan)


def test_summary_counts_irreversible_steps_and_names_a_removal() -> None:
    document = render(small_plan())
    contoso = section_of(document, "Contoso Ltd")
    assert (
        " · 4 actions · <b>2 irreversible steps</b> · <b>removes the relationship</b></summary>"
        in contoso
    )
    fabrikam = section_of(document, "Fabrikam")
    assert " · 3 actions · <b>1 irreversible step</b></summary>" in fabrikam
    northwind = section_of(document, "Northwind Traders")
    assert "irreversible" not in northwind.lower()


@pytest.mark.parametrize(
    ("name", "row", "heading", "consequences"),
    [
        (
            "Contoso Ltd",
            "| **cancel (IRREVERSIBLE)** | Microsoft 365 E5 <code>nce-2</code> | inside the window "
            "| billing stops now; prorated refund |",
            "**IRREVERSIBLE: cancel Microsoft 365 E5 <code>nce-2</code>.**",
            CANCEL_CONSEQUENCES,
        ),
        (
            "Fabrikam",
            "| **cancel Azure subscription (IRREVERSIBLE)** | Dev/Test <code>az-1</code> "
            "| declared cancelled | billing stops now; no refund |",
            "**IRREVERSIBLE: cancel Azure subscription Dev/Test <code>az-1</code>.**",
            AZURE_CANCEL_CONSEQUENCES,
        ),
        (
            "Contoso Ltd",
            f"| **remove relationship (IRREVERSIBLE)** | Contoso Ltd <code>{CONTOSO}</code> "
            "| offboarding: relationship is none in customers/contoso.yaml | billing unchanged |",
            f"**IRREVERSIBLE: remove relationship Contoso Ltd <code>{CONTOSO}</code>.**",
            REMOVAL_CONSEQUENCES,
        ),
    ],
)
def test_irreversible_action_is_bold_with_its_own_consequences_in_its_section(
    name: str, row: str, heading: str, consequences: tuple[str, ...]
) -> None:
    section = section_of(render(small_plan()), name)
    assert row in section.splitlines()
    block = f"{heading} Cannot be undone from the partner's side:\n\n" + "\n".join(
        f"- {c}" for c in consequences
    )
    assert block + "\n\n" in section


def test_every_action_row_has_a_billing_cell() -> None:
    plan = small_plan()
    document = render(plan)
    rows = [line for line in document.splitlines() if line.startswith("| ") and "<code>" in line]
    assert len(rows) == len(plan.actions)
    for action, row in zip(plan.actions, rows, strict=True):
        assert f"<code>{action.target_id}</code>" in row
        assert row.endswith(f" | {billing_words(action.billing, action.type)} |"), row
    assert (
        "| auto-renew off | Microsoft 365 E3 <code>nce-1</code> | stop renewal | still billed: "
        "the partner pays through 2027-01-13, the last day of its term |"
    ) in document.splitlines()


def test_reversible_actions_have_no_consequences_block() -> None:
    section = section_of(render(small_plan()), "Fabrikam")
    assert "| reactivate | Visio Plan 2 <code>sub-4</code> | declared active | billing " in section
    assert section.count("**IRREVERSIBLE:") == 1
    plan = Plan(now=NOW, actions=[Action(FABRIKAM, ActionType.SUSPEND, "s", "why")])
    assert "IRREVERSIBLE" not in render(plan)


def test_deferred_and_blocked_items() -> None:
    document = render(small_plan())
    deferred = section_of(document, "Northwind Traders")
    assert "1 deferred</summary>" in deferred
    assert "- **until 2027-03-01 00:00 UTC:** remove relationship <code>" in deferred
    blocked = section_of(document, "Tailspin Toys")
    assert f"  1. {STEPS[0]}\n  2. {STEPS[1]}" in blocked


def test_hostile_customer_name_cannot_break_the_table_or_inject_html() -> None:
    plan = Plan(now=NOW, actions=[remove(CONTOSO, HOSTILE)])
    plan.actions.append(cancel_azure(CONTOSO, "s|1", HOSTILE))
    plan.actions.append(Action(CONTOSO, ActionType.SUSPEND, "s|2", HOSTILE, HOSTILE))
    plan.customers[CONTOSO] = CustomerRef(HOSTILE, "customers/<evil>.yaml")
    plan.warnings = [HOSTILE]
    document = render(plan)
    assert "<script>" not in document
    assert "<evil>" not in document
    assert document.count("</details>") == 1
    assert "\n- injected" not in document
    assert "<summary><b>Evil | Corp &lt;script&gt;alert(1)&lt;/script&gt;" in document
    rows = [line for line in document.splitlines() if line.startswith("| ")]
    section_rows = rows[rows.index("| Action | Target | Reason | Billing |") :]
    assert len(section_rows) == 5
    assert all(len(UNESCAPED_PIPE.findall(row)) == 5 for row in section_rows)
    assert "**IRREVERSIBLE: cancel Azure subscription Evil \\| Corp &lt;script&gt;" in document
    assert r"\*x\* \`y\` \[l\](http://e)" in document


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("- item", r"\- item"),
        ("12. item", r"12\. item"),
        ("# heading", r"\# heading"),
        ("a-b.c", "a-b.c"),
        ("a|b", r"a\|b"),
        ("<b>&", "&lt;b&gt;&amp;"),
        ("$x$ ~s~ _u_", r"\$x\$ \~s\~ \_u\_"),
        ("two\nlines", "two lines"),
    ],
)
def test_md_escaping(text: str, escaped: str) -> None:
    assert md(text) == escaped


def test_no_changes() -> None:
    document = render(Plan(now=NOW, api_calls=2))
    assert NO_CHANGES in document
    assert "<details>" not in document
    assert "| API calls | 2 |" in document


def test_small_plan_is_not_truncated_and_is_deterministic() -> None:
    document = render(small_plan())
    assert "Not shown here" not in document
    assert document == render(small_plan())


def test_thousands_of_customers_fit_the_default_limit_with_a_count() -> None:
    document = render(large_plan(3000))
    assert len(document) <= DEFAULT_LIMIT
    shown = document.count("<details><summary>")
    assert 0 < shown < 3000
    assert document.count("</details>") == shown
    note = f"Not shown here, to stay within {DEFAULT_LIMIT} characters: {3000 - shown} of 3000"
    assert f"> [!NOTE]\n> {note} customers. The full plan is in this job's artifacts" in document
    assert "| Customers | 3000 |" in document
    assert "| Actions | 6000 |" in document
    # The first customers are the ones shown.
    assert f"<b>Customer {shown - 1}</b>" in document
    assert f"<b>Customer {shown}</b>" not in document


@pytest.mark.parametrize("limit", [3_000, 10_000, 65_536])
def test_any_limit_holds(limit: int) -> None:
    document = render(large_plan(1000), limit=limit)
    assert len(document) <= limit
    shown = document.count("<details><summary>")
    assert f": {1000 - shown} of 1000 customers." in document


def test_a_document_that_just_fits_is_whole() -> None:
    full = render(small_plan(), limit=10**9)
    assert render(small_plan(), limit=len(full)) == full
    cut = render(small_plan(), limit=len(full) - 1)
    assert len(cut) < len(full)
    assert re.search(r"Not shown here, to stay within \d+ characters: [1-4] of 4 customers", cut)


def test_thousands_of_warnings_are_cut_too() -> None:
    plan = small_plan()
    plan.warnings = [f"warning {n}: " + "x" * 80 for n in range(5000)]
    document = render(plan)
    assert len(document) <= DEFAULT_LIMIT
    shown = len(re.findall(r"^- warning \d+", document, flags=re.MULTILINE))
    assert f"{5000 - shown} of 5000 warnings, 4 of 4 customers." in document
