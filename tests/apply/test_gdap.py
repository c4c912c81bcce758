"""GDAP in `pcr apply`, end to end with the installed `pcr` against the fake (Partner Center
and Microsoft Graph on one state): the documented mix converges in order, in process and
over loopback, also when a run is killed at random; `gdap: keep` sends Graph nothing; a
deferred removal defers its GDAP steps."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from tests.apply.killing import STEP_DONE
from tests.apply.killing import Run
from tests.apply.killing import Tally
from tests.apply.killing import run_to_the_end
from tests.apply.support import NORTHWIND
from tests.apply.support import NOW
from tests.apply.support import Estate
from tests.apply.support import apply_command
from tests.apply.support import assert_each_mutation_once
from tests.apply.support import make_estate
from tests.apply.support import pcr_env
from tests.apply.support import read_jsonl
from tests.apply.support import run_apply
from tests.apply.support import run_pcr
from tests.apply.support import save_plan

# The example estate's Tailspin Toys waits for its NCE term to end (2027-03-01).
TAILSPIN = "6f55635c-a2f9-40b3-98c9-9879d04da870"
MIX = ("active", "active", "created", "terminated", "approvalPending")
GDAP_ACTIONS = {"terminate_gdap_relationship", "delete_gdap_relationship"}


def with_gdap(estate: Estate, customer_id: str, *statuses: str) -> list[str]:
    """Relationships with `customer_id` in the fake's Graph; their ids, in `statuses` order."""
    state = FakeState.load(estate.live)
    ids = [
        state.add_gdap_relationship(customer_id, status=status, display_name=f"gdap {n} {status}")[
            "id"
        ]
        for n, status in enumerate(statuses)
    ]
    state.save(estate.live)
    return ids


def relationships(estate: Estate) -> dict[str, str]:
    """Every GDAP relationship the fake holds now: id -> status."""
    data = estate.live_data()
    return {r["id"]: r["status"] for r in data.get("gdapRelationships", [])}


def writes_to_graph(server: FakeServer) -> list[tuple[str, str]]:
    return [
        (r.method, r.path)
        for r in server.app.requests
        if r.path.startswith("/v1.0/") and r.method != "GET"
    ]


def northwind_steps(mutations: list[dict[str, Any]]) -> list[str]:
    return [m["action"] for m in mutations if m["customer_id"] == NORTHWIND]


def assert_the_mix_converged(estate: Estate, ids: list[str]) -> None:
    first, second, draft, ended, pending = ids
    assert relationships(estate) == {
        first: "terminated",
        second: "terminated",
        ended: "terminated",  # left as it was
        pending: "approvalPending",  # left: a person's to see
    }  # the draft is deleted
    assert draft not in relationships(estate)
    steps = northwind_steps(estate.mutations())
    # Subscriptions first, then GDAP, then the removal (docs/partner-center.md, "GDAP").
    gdap = [i for i, step in enumerate(steps) if step in GDAP_ACTIONS]
    assert len(gdap) == 3 and steps[-1] == "remove_relationship"
    assert all(step not in GDAP_ACTIONS for step in steps[: gdap[0]])
    assert steps[: gdap[0]] and gdap == list(range(gdap[0], gdap[0] + 3))
    assert_each_mutation_once(estate.mutations())


def planned_mix(root: Path, pcr: str) -> tuple[Estate, list[str], dict[str, Any]]:
    estate = make_estate(root)
    ids = with_gdap(estate, NORTHWIND, *MIX)
    plan = save_plan(pcr, estate)
    return estate, ids, plan


def test_the_plan_terminates_two_deletes_one_and_blocks_one(
    tmp_path: Path, pcr_executable: str
) -> None:
    _, ids, plan = planned_mix(tmp_path, pcr_executable)
    northwind = [a for a in plan["actions"] if a["customer_id"] == NORTHWIND]
    gdap = [(a["type"], a["target_id"]) for a in northwind if a["type"] in GDAP_ACTIONS]
    assert gdap == [
        ("terminate_gdap_relationship", ids[0]),
        ("terminate_gdap_relationship", ids[1]),
        ("delete_gdap_relationship", ids[2]),
    ]
    removal = northwind[-1]
    assert removal["type"] == "remove_relationship"
    assert {a["id"] for a in northwind[:-1]} == set(removal["depends_on"])
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]
    assert blocked["kind"] == "gdap" and ids[4] in blocked["reason"]


def test_the_mix_converges_in_process(tmp_path: Path, pcr_executable: str) -> None:
    estate, ids, _ = planned_mix(tmp_path, pcr_executable)
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    assert_the_mix_converged(estate, ids)
    # Audited like every other step: who, under which plan, before and after.
    audited = {r["target_id"]: r for r in read_jsonl(estate.audit)}
    assert audited[ids[0]]["before"] == "active" and audited[ids[0]]["after"] == "terminated"
    assert audited[ids[2]]["after"] == "deleted"


def test_the_mix_converges_over_loopback(tmp_path: Path, pcr_executable: str) -> None:
    estate, ids, _ = planned_mix(tmp_path, pcr_executable)
    with FakeServer(estate.live) as server:
        applied = run_apply(pcr_executable, estate, "--endpoint", server.url)
        graph_writes = writes_to_graph(server)
    assert applied.returncode == 0, applied.stderr
    assert_the_mix_converged(estate, ids)
    assert len(graph_writes) == 3  # two terminate requests and one DELETE, nothing repeated


@pytest.mark.parametrize("where", ["in-process", "loopback"])
def test_a_run_killed_at_random_resumes_and_doubles_nothing(
    tmp_path: Path, pcr_executable: str, where: str
) -> None:
    estate, ids, _ = planned_mix(tmp_path, pcr_executable)
    # Slow Graph writes, so that a kill can land while one is on its way.
    estate.add_faults({"method": "*", "path": "/v1.0/.*(requests|Relationships/[^/]+)$",
                       "latency": 0.2, "count": None})  # fmt: skip
    with contextlib.ExitStack() as stack:
        backend: tuple[str, ...] = ()
        if where == "loopback":  # the fake outlives each killed client, as a service does
            server = stack.enter_context(FakeServer(estate.live))
            backend = ("--endpoint", server.url)
        killed_and_resumed(estate, apply_command(pcr_executable, *backend))
    assert_the_mix_converged(estate, ids)
    audit = read_jsonl(estate.audit)
    sent = sorted(m["request_id"] for m in estate.mutations())
    assert sorted(r["request_id"] for r in audit) == sent  # each change audited once


def killed_and_resumed(estate: Estate, command: list[str]) -> None:
    rng, tally = random.Random(20261201), Tally()
    for _ in range(3):
        # Killed as it reports its nth step done in this run.
        run = Run(command, estate, threading.Event(), STEP_DONE.match, rng.randint(1, 8))
        run.wait_for_stop()
        if run.kill_or_exit_code(tally) is not None:
            break
    assert run_to_the_end(command, estate, tally) == 0, tally.stderr[-1]
    assert tally.kills >= 1, tally


def test_gdap_keep_sends_graph_nothing(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    ids = with_gdap(estate, NORTHWIND, "active", "created")
    northwind = estate.desired / "customers" / "northwind.yaml"
    northwind.write_text(northwind.read_text() + "offboarding:\n  gdap: keep\n")
    with FakeServer(estate.live) as server:
        plan = save_plan(pcr_executable, estate, "--endpoint", server.url)
        assert any("offboarding.gdap: keep" in w for w in plan["warnings"])
        applied = run_apply(pcr_executable, estate, "--endpoint", server.url)
        graph_writes = writes_to_graph(server)
    assert applied.returncode == 0, applied.stderr
    assert "remove_relationship" in northwind_steps(estate.mutations())
    assert graph_writes == []  # kept is kept
    assert relationships(estate) == {ids[0]: "active", ids[1]: "created"}


def test_a_deferred_removal_defers_its_gdap_steps(tmp_path: Path, pcr_executable: str) -> None:
    estate = make_estate(tmp_path)
    (active,) = with_gdap(estate, TAILSPIN, "active")
    plan = save_plan(pcr_executable, estate)
    deferred = {d["type"]: d for d in plan["deferred"] if d["customer_id"] == TAILSPIN}
    assert set(deferred) == {"terminate_gdap_relationship", "remove_relationship"}
    terminate, removal = deferred["terminate_gdap_relationship"], deferred["remove_relationship"]
    assert terminate["target_id"] == active
    assert terminate["not_before"] == removal["not_before"] == "2027-03-01T00:00:00Z"
    applied = run_apply(pcr_executable, estate)
    assert applied.returncode == 0, applied.stderr
    assert [m for m in estate.mutations() if m["customer_id"] == TAILSPIN and (
        m["action"] in GDAP_ACTIONS)] == []  # fmt: skip
    assert relationships(estate) == {active: "active"}


def test_the_saved_plan_names_the_gdap_steps_for_a_reviewer(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate, ids, _ = planned_mix(tmp_path, pcr_executable)
    shown = run_pcr(pcr_executable, "show", "plan.json", cwd=estate.root)
    assert shown.returncode == 0, shown.stderr
    assert "terminate GDAP relationship" in shown.stdout
    assert "the partner's security groups lose their admin roles" in shown.stdout
    data = json.loads(estate.plan.read_text())
    assert data["summary"]["irreversible"] >= 4


def test_without_graph_credentials_an_offboarding_is_blocked_and_says_what_to_set(
    tmp_path: Path, pcr_executable: str
) -> None:
    estate = make_estate(tmp_path)
    with_gdap(estate, NORTHWIND, "active")
    no_graph = {k: v for k, v in pcr_env().items() if k != "PCR_GRAPH_TOKEN"}
    with FakeServer(estate.live) as server:
        planned = subprocess.run(
            [pcr_executable, "plan", "--desired", "desired-state", "--endpoint", server.url,
             "--now", NOW, "--format", "json"],
            cwd=estate.root, env=no_graph, capture_output=True, text=True, check=False,
        )  # fmt: skip
        graph = [r for r in server.app.requests if r.path.startswith("/v1.0/")]
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert not [a for a in plan["actions"] if a["type"] == "remove_relationship"]
    (blocked,) = [b for b in plan["blocked"] if b["customer_id"] == NORTHWIND]
    assert blocked["kind"] == "gdap"
    assert "PCR_GRAPH_TOKEN" in " ".join(blocked["manual_steps"])
    assert graph == []  # a Partner Center token is never sent to Graph
