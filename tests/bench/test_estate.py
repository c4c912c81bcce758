"""The benchmark's synthetic estate is a valid desired state that plans as intended.

Kept in `make test` (at a small size) so that `make bench` cannot rot unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.lifecycle import needs_detail
from reconciler.plan import ActionType
from reconciler.planner import make_plan
from reconciler.validate import load_desired
from tests.bench.estate import NOW, generate, live_snapshot, write_desired, write_fake_state
from tests.bench.report import write_markdown


def test_generated_estate_validates_and_plans_only_what_it_declares(tmp_path: Path) -> None:
    estate = generate(400, seed=11)
    write_desired(estate, tmp_path / "desired")
    result = load_desired(tmp_path / "desired")
    assert result.problems == []
    assert result.desired is not None
    declared = result.desired.customers
    deep = {t for t, c in declared.items() if needs_detail(c)}
    assert deep == estate.offboarding | set(estate.overrides)
    assert estate.deep_reads == 2 * len(estate.offboarding) + len(estate.overrides)

    made = make_plan(result.desired, live_snapshot(estate, deep), NOW)
    assert made.errors == []
    acted_on = {a.customer_id for a in made.actions}
    assert acted_on <= deep
    removed = {a.customer_id for a in made.actions if a.type is ActionType.REMOVE_RELATIONSHIP}
    assert removed <= estate.offboarding

    write_fake_state(estate, tmp_path / "state.json")
    state = json.loads((tmp_path / "state.json").read_text())
    assert len(state["customers"]) == 400
    software = sum(
        1 for subs in estate.subscriptions.values() for s in subs if "Software" in str(s)
    )
    assert sum(len(o) for o in state["orders"].values()) == software


def test_report_states_targets_and_explains_misses(tmp_path: Path) -> None:
    run = {
        "calls": 400,
        "throttled_429": 0,
        "floor_s": 1.6,
        "api_s": 2.4,
        "api_over_floor": 1.5,
        "wall_s": 3.0,
    }
    size = {
        "customers": 10_000,
        "deep_read_customers": 200,
        "plan_minimum_calls": 400,
        "naive_calls": 20_001,
        "cpu": {
            "load_validate_s": 1.0,
            "plan_s": 0.1,
            "total_s": 1.1,
            "peak_rss_mb": 50,
            "worker_peak_rss_mb": 20,
        },
        "plan": run | {"actions": 10},
        "plan_sequential": {"wall_s": 22.0, "api_s": 20.0, "calls": 400},
        "apply": run | {"api_over_floor": 1.1},
    }
    report = {
        "date": "2026-11-22",
        "machine": "test",
        "command": "make bench",
        "setting": {"rate": 250.0, "latency": 0.05, "client_share": 0.96, "concurrency": 32},
        "sizes": [size],
    }
    out = tmp_path / "BENCHMARKS.md"
    write_markdown(report, out)
    text = out.read_text()
    assert "| 10,000 | plan | 400 | 1.6 | 2.4 | 1.5 | **not met** |" in text
    assert "| 10,000 | apply | 400 | 1.6 | 2.4 | 1.1 | met |" in text
    assert "**plan, 10,000 customers, 1.5× the floor.**" in text
    assert "apply, 10,000" not in text  # a met target needs no explanation
