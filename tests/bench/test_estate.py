"""The benchmark's synthetic estate is a valid desired state that plans as intended.

Kept in `make test` (at a small size) so that `make bench` cannot rot unnoticed.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.commands.backend import Backend
from reconciler.commands.calendar import read_for_calendar
from reconciler.desired.load import load_desired
from reconciler.fake import FakePartnerCenter
from reconciler.fake.state import FakeState
from reconciler.live.lifecycle import needs_detail
from reconciler.live.read import read_live
from reconciler.plan.actions import ActionType
from reconciler.plan.planner import make_plan
from tests.bench.estate import NOW
from tests.bench.estate import PAGE_SIZE
from tests.bench.estate import fake_state
from tests.bench.estate import generate
from tests.bench.estate import live_snapshot
from tests.bench.estate import pull_request
from tests.bench.estate import write_desired
from tests.bench.estate import write_fake_state
from tests.bench.report import write_markdown
from tests.bench.startup import import_ms_by_package
from tests.reading import clients_on


def test_generated_estate_validates_and_plans_only_what_it_declares(tmp_path: Path) -> None:
    estate = generate(400, seed=11)
    write_desired(estate, tmp_path / "desired")
    result = load_desired(tmp_path / "desired")
    assert result.problems == []
    assert result.desired is not None
    declared = result.desired.customers
    deep = {t for t, c in declared.items() if needs_detail(c)}
    assert deep == estate.offboarding | set(estate.overrides)

    made = make_plan(result.desired, live_snapshot(estate, deep), NOW)
    assert made.errors == []
    acted_on = {a.customer_id for a in made.actions}
    assert acted_on <= deep
    removed = {a.customer_id for a in made.actions if a.type is ActionType.REMOVE_RELATIONSHIP}
    assert removed <= estate.offboarding

    state = fake_state(estate)
    assert len(state["customers"]) == 400
    software = sum(
        1 for subs in estate.subscriptions.values() for s in subs if "Software" in str(s)
    )
    assert sum(len(o) for o in state["orders"].values()) == software


def test_the_minimum_the_report_counts_is_what_a_full_read_makes(tmp_path: Path) -> None:
    estate = generate(600, seed=5)  # two pages
    write_desired(estate, tmp_path / "desired")
    tenant, changed = pull_request(estate, tmp_path / "desired")
    assert tenant in estate.overrides and "auto_renew: false" in changed.read_text()
    desired = load_desired(tmp_path / "desired").desired
    assert desired is not None
    with clients_on(FakePartnerCenter(FakeState(fake_state(estate)))) as clients:
        live = read_live(clients.partner_center, desired, graph=clients.graph)
    assert estate.graph_reads == len(estate.offboarding) > 0
    assert live.api_calls == -(-600 // PAGE_SIZE) + estate.deep_reads + estate.graph_reads
    made = make_plan(desired, live, NOW)
    assert [a.customer_id for a in made.actions if a.customer_id == tenant] == [tenant]


def test_the_calendars_minimum_is_what_its_read_makes(tmp_path: Path) -> None:
    estate = generate(600, seed=5)
    write_desired(estate, tmp_path / "desired")
    write_fake_state(estate, tmp_path / "state.json")
    desired = load_desired(tmp_path / "desired").desired
    assert desired is not None
    live = read_for_calendar(desired, Backend(fake_state=tmp_path / "state.json"))
    assert estate.calendar_reads > len(estate.customers) - len(estate.offboarding) - len(
        estate.overrides
    )  # some customers not offboarding have an Azure plan
    assert live.api_calls == -(-600 // PAGE_SIZE) + estate.deep_reads + estate.calendar_reads + 1


def test_the_fake_reads_the_written_estate_as_the_one_handed_to_it(tmp_path: Path) -> None:
    """A fake in another process reads the estate from the file the benchmark writes."""
    estate = generate(50, seed=3)
    write_fake_state(estate, tmp_path / "state.json")
    loaded = FakeState.load(tmp_path / "state.json")
    assert loaded.to_json() == FakeState(fake_state(estate)).to_json()
    assert json.loads(loaded.to_json())["subscriptions"] == estate.subscriptions


def _run(calls: int, wall: float, api: float, floor: float, **extra: object) -> dict[str, object]:
    return {
        "calls": calls,
        "partner_center_calls": calls,
        "graph_calls": 0,
        "throttled_429": 0,
        "throttled_share": 0.0,
        "floor_s": floor,
        "wall_s": wall,
        "wall_over_floor": round(wall / floor, 3),
        "api_s": api,
        "api_over_floor": round(api / floor, 3),
        "cpu_s": 1.0,
        "peak_rss_mb": 50,
        **extra,
    }


def test_report_states_each_target_and_explains_misses(tmp_path: Path) -> None:
    plan_summary = {
        "actions": 100,
        "irreversible": 10,
        "subscription_changes": 60,
        "rechecked": 4,
        "scope": None,
    }
    scoped = {
        "actions": 1,
        "irreversible": 0,
        "subscription_changes": 1,
        "rechecked": 0,
        "scope": ["t"],
    }
    size = {
        "customers": 100_000,
        "estate": {"pages": 200, "deep_reads": 2000, "graph_reads": 0},
        "plan_minimum_calls": 2200,
        "cpu": {
            "load_validate_s": 9.0,
            "plan_s": 1.0,
            "total_s": 10.0,
            "peak_rss_mb": 300,
            "worker_peak_rss_mb": 90,
        },
        "plan_fake": {"wall_s": 20.0, "cpu_s": 45.0, "peak_rss_mb": 900, "state_unchanged": False},
        "plan": _run(2200, 60.0, 46.0, 44.0) | plan_summary,  # 1.36 x the floor: missed
        "plan_changed_since": _run(2, 12.0, 0.1, 0.04) | scoped,
        "plan_only": _run(3, 12.0, 0.1, 0.06) | scoped,
        # 1.25 x (2200 + 100 + 60) + 4 = 2954 calls allowed
        "apply": _run(2800, 60.0, 57.0, 56.0),
    }
    sequential = {
        "customers": 1000,
        "plan_side_by_side": _run(60, 2.0, 1.2, 1.2),
        "plan_sequential": _run(60, 4.1, 3.3, 1.2),
        "apply_side_by_side": _run(200, 5.0, 4.2, 4.0),
        "apply_sequential": _run(200, 12.0, 11.0, 4.0),
    }
    report = {
        "date": "2026-11-22",
        "machine": "test",
        "command": "make bench",
        "environment": {"PCR_BENCH_SIZES": "100000"},
        "setting": {"rate": 50.0, "latency": 0.05, "client_share": 0.96},
        "sizes": [size],
        "sequential": sequential,
        "bench_minutes": 12.0,
        "startup": {
            "pcr --help": {
                "import_ms": 48.0,
                "pcr_modules_ms": 4.0,
                "heaviest": [["click", 7.2]],
                "wall_ms": 62.0,
            },
            "pcr validate": {
                "import_ms": 121.5,
                "pcr_modules_ms": 13.0,
                "heaviest": [["referencing", 12.6], ["yaml", 11.0]],
                "wall_ms": 150.0,
            },
        },
    }
    out = tmp_path / "BENCHMARKS.md"
    write_markdown(report, out)
    text = out.read_text()
    assert "`--changed-since` 2, `--only` 3 | met |" in text
    assert "| full plan at 20,000: whole-process wall ≤ 1.15 × floor | not run | n/a |" in text
    assert "60.0 s ÷ 44.0 s = 1.36× (API phase 1.04×) | **not met** |" in text
    assert "2,800 ≤ 1.25 × 2,360 + 4 = 2,954 (1.19× the minimum) | met |" in text
    assert "45.0 s CPU, 900 MB peak RSS | **not met** |" in text
    assert "**full plan, 100,000 customers, 1.36× the floor.**" in text
    assert "apply, 100,000" not in text  # a met target needs no explanation
    assert "**no: rewritten**" in text
    assert (
        "help 48.0 ms (pcr's own modules 4.0 ms); validate 121.5 ms (pcr's own modules "
        "13.0 ms) | **not met** |"
    ) in text
    assert "| `pcr validate` | 121.5 | 13.0 | referencing 12.6, yaml 11.0 | 150.0 |" in text
    assert "**`pcr validate`: 121.5 ms of imports.** pcr's own modules take 13.0 ms" in text
    assert "`pcr --help`: 48.0 ms" not in text
    # One request at a time: 11.0 s / 200 calls = 55 ms a call, ceiling 50/s x 55 ms.
    assert "| apply | 200 / 200 | 12.0 / 11.0 | 5.0 / 4.2 | 55 | 2.62× | 2.75× | 95% |" in text


def test_import_time_is_summed_by_top_level_package() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       500 |        500 |   yaml.reader",
            "import time:      1500 |       2000 | yaml",
            "import time:      3000 |       3000 |     reconciler.desired.marked_yaml",
            "import time:      1000 |       4000 |   reconciler",
            "pcr: something else on stderr",
        ]
    )
    assert import_ms_by_package(stderr) == {"yaml": 2.0, "reconciler": 4.0}
