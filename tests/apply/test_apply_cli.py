"""`pcr apply` end to end, as a subprocess of the installed `pcr`: convergence on the example
estate (in process and over loopback), the journal and audit log it leaves, and confirmation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from reconciler.plan.model import from_dict
from reconciler.render.common import irreversible_headline
from tests.apply.support import EXAMPLE_ACTIONS
from tests.apply.support import FABRIKAM
from tests.apply.support import FABRIKAM_LEGACY
from tests.apply.support import FABRIKAM_NCE
from tests.apply.support import NOW
from tests.apply.support import TOKEN
from tests.apply.support import WAITING_FILES
from tests.apply.support import Estate
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import fake_serve
from tests.apply.support import make_estate
from tests.apply.support import read_jsonl
from tests.apply.support import run_apply
from tests.apply.support import run_on_terminal
from tests.apply.support import run_pcr
from tests.apply.support import save_plan
from tests.apply.support import strip_escapes

AUDIT_FIELDS = {
    *("time", "customer_id", "action", "target_id", "result", "request_id"),
    # who applied which plan, at which commit, and what the step changed
    *("actor", "commit", "plan", "before", "after"),
}
# What the fake's mutation log calls each plan action.
FAKE_ACTION = {
    "suspend_subscription": "suspend",
    "reactivate_subscription": "reactivate",
    "cancel_subscription": "cancel",
    "disable_auto_renew": "update_auto_renew",
    "enable_auto_renew": "update_auto_renew",
    "remove_relationship": "remove_relationship",
}


def fresh_plan(pcr: str, estate: Estate) -> tuple[int, dict[str, object]]:
    """`pcr plan --format json --detailed-exitcode` against the fake state file."""
    result = run_pcr(
        pcr,
        *("plan", "--desired", "desired-state", "--fake", "live.json", "--now", NOW),
        *("--format", "json", "--detailed-exitcode"),
        cwd=estate.root,
    )
    assert result.returncode in (0, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def assert_converged(pcr: str, estate: Estate) -> None:
    """Nothing left to do now: the deferred and blocked items that remain are no changes."""
    code, plan = fresh_plan(pcr, estate)
    assert plan["actions"] == []
    summary = plan["summary"]
    assert isinstance(summary, dict)
    assert (summary["deferred"], summary["blocked"]) == (2, 1)
    assert code == 0


def assert_records_match(estate: Estate, plan: dict[str, object]) -> None:
    """Journal, audit log and the fake's mutation log tell the same story, request id by id."""
    actions = plan["actions"]
    assert isinstance(actions, list)
    sent = {m["request_id"]: m for m in estate.mutations()}
    journal = read_jsonl(estate.journal())
    audit = {r["request_id"]: r for r in read_jsonl(estate.audit)}
    for action in actions:
        events = [(r["event"], r["request_id"]) for r in journal if r["action"] == action["id"]]
        request_id = events[0][1]
        assert events == [("start", request_id), ("done", request_id)]
        mutation = sent[request_id]
        target = action["target_id"]
        assert (mutation["target"], mutation["action"]) == (target, FAKE_ACTION[action["type"]])
        entry = audit[request_id]
        assert set(entry) == AUDIT_FIELDS
        assert (entry["customer_id"], entry["action"], entry["target_id"], entry["result"]) == (
            action["customer_id"],
            action["type"],
            target,
            "done",
        )
        assert entry["plan"] == estate.journal().name.removeprefix("journal-")[:16]
        assert entry["actor"] and entry["before"] and entry["after"]
        assert entry["before"] != entry["after"]
    assert len(audit) == len(sent) == len(actions)


def test_saved_plan_converges_in_process(planned: Estate, pcr_executable: str) -> None:
    plan = json.loads(planned.plan.read_text())
    assert len(plan["actions"]) == EXAMPLE_ACTIONS

    applied = run_apply(pcr_executable, planned)

    assert applied.returncode == 0, applied.stderr
    assert (
        "Apply: 13 done, 0 already in place, 0 skipped, 0 failed, 2 deferred, 1 blocked."
        in applied.stderr
    )
    # No terminal: one plain log line per step, no status-line escapes.
    steps = [line for line in applied.stderr.splitlines() if re.match(r"\[\d+/13\] ", line)]
    assert len(steps) == EXAMPLE_ACTIONS and all(" done " in line for line in steps)
    assert "\x1b" not in applied.stderr
    mutations = planned.mutations()
    assert len(mutations) == EXAMPLE_ACTIONS
    assert_each_mutation_once(mutations)
    assert_records_match(planned, plan)
    assert_converged(pcr_executable, planned)

    # The same saved plan again: every step is finished in the journal, nothing is sent.
    again = run_apply(pcr_executable, planned)
    assert again.returncode == 0, again.stderr
    assert "Apply: 0 done, 13 already in place" in again.stderr
    assert len(planned.mutations()) == EXAMPLE_ACTIONS


def test_saved_plan_converges_over_loopback(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    with fake_serve(pcr_executable, estate.live) as url:
        plan = save_plan(pcr_executable, estate, "--endpoint", url)
        applied = run_apply(pcr_executable, estate, "--endpoint", url)

    assert applied.returncode == 0, applied.stderr
    assert "13 done" in applied.stderr
    assert_each_mutation_once(estate.mutations())
    assert_records_match(estate, plan)
    assert_converged(pcr_executable, estate)
    # The bearer token went to the server, and nowhere else.
    logs = (estate.audit.read_text(), estate.journal().read_text())
    for text in (applied.stdout, applied.stderr, *logs):
        assert TOKEN not in text and "Bearer" not in text


AUTO = ("apply", "--desired", "desired-state", "--fake", "live.json", "--now", NOW)


def test_nothing_waiting_then_detailed_exitcode_is_zero(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    for name in WAITING_FILES:  # the customers that end up deferred or blocked
        (estate.desired / "customers" / name).unlink()

    applied = run_pcr(pcr_executable, *AUTO, "--auto-approve", cwd=tmp_path)

    assert applied.returncode == 0, applied.stderr
    assert "Apply: 9 done, 0 already in place, 0 skipped, 0 failed, 0 deferred, 0 blocked." in (
        applied.stderr
    )
    assert "Plan: 9 to change" in applied.stdout  # the plan it applied was shown first
    code, plan = fresh_plan(pcr_executable, estate)
    assert (code, plan["actions"], plan["deferred"], plan["blocked"]) == (0, [], [], [])

    again = run_pcr(pcr_executable, *AUTO, "--auto-approve", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "Apply: 0 done" in again.stderr
    assert len(estate.mutations()) == 9


def test_without_terminal_or_auto_approve_or_saved_plan_it_refuses(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    refused = run_pcr(pcr_executable, *AUTO, cwd=tmp_path)
    assert refused.returncode == 1
    assert "apply refused, nothing was changed" in refused.stderr
    assert "no terminal to confirm on" in refused.stderr and "--auto-approve" in refused.stderr
    assert "Plan: 13 to change" in refused.stdout  # shown, so the log says what was refused
    assert estate.mutations() == []


# --- on a terminal -------------------------------------------------------------------------------


def fresh_apply(pcr: str, estate: Estate) -> list[str]:
    """`pcr apply` without a saved plan: it plans afresh and asks."""
    return [
        pcr,
        "apply",
        "--desired",
        str(estate.desired),
        "--fake",
        str(estate.live),
        "--now",
        NOW,
    ]


def test_on_a_terminal_it_asks_and_applies_on_yes(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    code, output = run_on_terminal(fresh_apply(pcr_executable, estate), tmp_path, "yes")

    assert code == 0, output
    assert "Apply these actions?" in output
    # A progress bar redrawn in place, not a log line per step.
    assert re.search(r"\rapplying +\[#+\] +13/13 +steps", strip_escapes(output)), output
    assert not re.search(r"^\[\d+/13\]", output, re.MULTILINE)
    assert "13 done" in output
    assert len(estate.mutations()) == EXAMPLE_ACTIONS


def test_on_a_terminal_anything_but_yes_refuses(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    code, output = run_on_terminal(fresh_apply(pcr_executable, estate), tmp_path, "y")

    assert code == 1, output
    assert "apply refused, nothing was changed: not confirmed" in output
    assert estate.mutations() == []


def test_on_a_terminal_the_irreversible_steps_are_counted_right_above_the_prompt(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    _, planned = fresh_plan(pcr_executable, estate)
    headline = irreversible_headline(from_dict(planned))
    assert headline is not None, "the example estate has irreversible steps"
    summary = planned["summary"]
    assert isinstance(summary, dict) and headline.startswith(f"{summary['irreversible']} ")

    code, output = run_on_terminal(fresh_apply(pcr_executable, estate), tmp_path, "no")

    assert code == 1, output
    lines = output.replace("\r\n", "\n").splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith("Apply these actions?"))
    assert lines[at - 1] == f"{headline}. Cannot be undone from the partner's side."
    assert estate.mutations() == []


def test_a_change_undone_in_the_portal_is_applied_again_by_a_fresh_plan(
    tmp_path: Path, pcr_executable: str
) -> None:
    """pcr suspends Fabrikam's legacy seats and turns auto-renew off; someone puts both back
    in the portal. Partner Center is then exactly as before the first apply (the same live
    fingerprint), and the next apply must do both again, not find them "done" in a journal."""
    estate = make_estate(tmp_path)
    for path in (estate.desired / "customers").iterdir():
        if path.name != "fabrikam.yaml":
            path.unlink()
    _, first_plan = fresh_plan(pcr_executable, estate)
    first = run_pcr(pcr_executable, *AUTO, "--auto-approve", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Apply: 2 done" in first.stderr

    data = estate.live_data()
    fabrikam = {s["id"]: s for s in data["subscriptions"][FABRIKAM]}
    fabrikam[FABRIKAM_LEGACY]["status"] = "active"  # reactivated in the portal
    fabrikam[FABRIKAM_NCE]["autoRenewEnabled"] = True
    estate.live.write_text(json.dumps(data))
    _, second_plan = fresh_plan(pcr_executable, estate)
    assert second_plan["live_fingerprint"] == first_plan["live_fingerprint"]

    second = run_pcr(pcr_executable, *AUTO, "--auto-approve", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Apply: 2 done" in second.stderr
    assert "earlier run" not in second.stderr
    suspends = [m for m in estate.mutations() if m["target"] == FABRIKAM_LEGACY]
    assert len(suspends) == 2
    live = {s["id"]: s for s in estate.live_data()["subscriptions"][FABRIKAM]}
    assert live[FABRIKAM_LEGACY]["status"] == "suspended"
    assert live[FABRIKAM_NCE]["autoRenewEnabled"] is False
