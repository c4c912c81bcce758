"""BENCHMARKS.md from a bench report: one table per concern, each target stated and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CPU_TARGET_S = 30.0
RSS_TARGET_MB = 1536
GROWTH_TARGET = 11.0
FLOOR_TARGET = 1.15
SEQUENTIAL_TARGET = 10.0


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _calls(size: dict[str, Any]) -> list[str]:
    plan, apply = size["plan"], size["apply"]
    bound = size["plan_minimum_calls"] + 5  # the small constant: a few pages' slack
    return [
        _row(
            f"{size['customers']:,}",
            size["deep_read_customers"],
            plan["calls"],
            size["plan_minimum_calls"],
            f"{size['naive_calls']:,}",
            _met(plan["calls"] <= bound),
            apply["calls"],
            size["plan"]["actions"],
        )
    ]


def _wall(size: dict[str, Any], sequential_per_call: float | None) -> list[str]:
    rows = []
    for name in ("plan", "apply"):
        run = size[name]
        sequential = run["calls"] * sequential_per_call if sequential_per_call else None
        speedup = sequential / run["api_s"] if sequential and run["api_s"] else None
        rows.append(
            _row(
                f"{size['customers']:,}",
                name,
                run["calls"],
                run["floor_s"],
                run["api_s"],
                run["api_over_floor"],
                _met(run["api_over_floor"] <= FLOOR_TARGET if run["api_over_floor"] else None),
                run["wall_s"],
                f"{sequential:.1f}" if sequential else "n/a",
                f"{speedup:.1f}×" if speedup else "n/a",
                _met(speedup >= SEQUENTIAL_TARGET if speedup else None),
                run["throttled_429"],
            )
        )
    return rows


def _cpu(sizes: list[dict[str, Any]]) -> list[str]:
    rows = []
    for size in sizes:
        cpu = size["cpu"]
        rss = max(cpu["peak_rss_mb"], cpu["worker_peak_rss_mb"])
        rows.append(
            _row(
                f"{size['customers']:,}",
                cpu["load_validate_s"],
                cpu["plan_s"],
                cpu["total_s"],
                _met(cpu["total_s"] < CPU_TARGET_S),
                f"{cpu['peak_rss_mb']} / {cpu['worker_peak_rss_mb']}",
                _met(rss < RSS_TARGET_MB),
            )
        )
    return rows


def _growth(sizes: list[dict[str, Any]]) -> list[str]:
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    factor = large["customers"] / small["customers"]
    time_growth = large["cpu"]["total_s"] / max(small["cpu"]["total_s"], 1e-9)
    rss_growth = large["cpu"]["peak_rss_mb"] / max(small["cpu"]["peak_rss_mb"], 1)
    return [
        "",
        f"From {small['customers']:,} to {large['customers']:,} customers ({factor:.0f}×): "
        f"CPU time grew {time_growth:.1f}× ({_met(time_growth <= GROWTH_TARGET)}), "
        f"peak RSS {rss_growth:.1f}× ({_met(rss_growth <= GROWTH_TARGET)}).",
    ]


def _sequential_per_call(sizes: list[dict[str, Any]]) -> float | None:
    for size in sizes:
        run = size.get("plan_sequential")
        if run and run.get("api_s"):
            return float(run["api_s"]) / run["calls"]
    return None


def write_markdown(report: dict[str, Any], path: Path) -> None:
    sizes, setting = report["sizes"], report["setting"]
    per_call = _sequential_per_call(sizes)
    lines = [
        "# Benchmarks",
        "",
        f"Measured {report['date']} on {report['machine']} with `{report['command']}` "
        "(figures also in `bench.json`). Regenerate with `make bench`.",
        "",
        "pcr ran as real processes against `pcr fake serve` on loopback. The fake answers "
        f"every request after {setting['latency'] * 1000:.0f} ms and throttles beyond "
        f"{setting['rate']:.0f} requests a second with 429 + Retry-After: Partner Center's "
        "500 requests a minute, scaled so that a run takes seconds. pcr was told the rate "
        f"(`PCR_RATE_LIMIT`, {setting['client_share']:.0%} of it) and ran "
        f"{setting['concurrency']} requests at a time (`PCR_CONCURRENCY`).",
        "",
        "## API calls",
        "",
        "Target: plan ≤ pages (500 customers a page) + 2 × customers needing deep reads "
        "(offboarding: subscriptions and entitlements; overrides: subscriptions) + a small "
        "constant.",
        "",
        _row(
            "customers",
            "deep-read customers",
            "plan calls",
            "minimum",
            "naive 1 + 2N",
            "target",
            "apply calls",
            "plan actions",
        ),
        _row(*["---"] * 8),
    ]
    for size in sizes:
        lines += _calls(size)
    lines += [
        "",
        "Apply re-reads what the plan read (to refuse a stale plan), then per action reads "
        "the target and writes it (a subscription PATCH must carry the full resource).",
        "",
        "## Wall time against the throttle floor",
        "",
        "Floor = calls ÷ allowed rate. *API time* is the part of the run spent on Partner "
        "Center, as pcr reports it; *process* adds start-up and the CPU side (next table). "
        "Sequential = the same calls one at a time at the same latency, "
        + (
            f"{per_call * 1000:.0f} ms a call as measured by a one-at-a-time plan."
            if per_call
            else "not measured."
        ),
        "",
        _row(
            "customers",
            "run",
            "calls",
            "floor s",
            "API s",
            "API ÷ floor",
            "≤ 1.15",
            "process s",
            "sequential s",
            "speed-up",
            "≥ 10×",
            "429s",
        ),
        _row(*["---"] * 12),
    ]
    for size in sizes:
        lines += _wall(size, per_call)
    lines += [
        "",
        "## CPU side and memory",
        "",
        "Load + validate every desired file, then plan, against an in-memory live snapshot "
        "(no network). RSS: the pcr process / its largest validation worker.",
        "",
        _row(
            "customers",
            "load + validate s",
            "plan s",
            "total s",
            "< 30 s",
            "peak RSS MB",
            "< 1.5 GB",
        ),
        _row(*["---"] * 7),
        *_cpu(sizes),
        *_growth(sizes),
        "",
    ]
    lines += ["## Why a target is missed", "", *_explanations(report), ""]
    lines += ["## What profiling changed", "", *CHANGES, ""]
    path.write_text("\n".join(lines))


# Found with cProfile on the CPU side and by timing each phase against the fake.
CHANGES = [
    "- Validation: local `$ref`s inlined into the schema once, and plain string scalars "
    "taken straight from the YAML node: 10k files 3.2 s → 2.1 s. No cyclic garbage "
    "collection while loading (nothing there makes cycles): 100k files 21 s → 15 s. Large "
    "estates are parsed on every core.",
    "- Reading: deep reads start as soon as the page naming the customer arrives, instead "
    "of after the whole list, and the pages get a share of the rate of their own so they "
    "never queue behind deep reads: the 10k read went from 4.4 s to 1.8 s (with the fake "
    "fixes below).",
    "- Apply: the read that a full-body subscription PATCH needs anyway is also the "
    "re-check before the change, one read and one write a step instead of two reads and a "
    "write: 10k apply 3,625 → 2,561 calls.",
    "- Pacing: the client spreads its budget evenly over each second instead of letting a "
    "minute's worth go in one burst, which drew 429s.",
    "- The fake itself (so that it measures pcr, not itself): customer lookups by index "
    "instead of a scan, the subscription lifecycle walk only when its clock moves (it ran "
    "on every request: 9 ms a request at 10k), and its state saved once at the end (a "
    "periodic save of the 750 MB state at 100k held its lock for tens of seconds).",
]


# Partner Center as documented and as seen: 500 requests a minute, a few hundred ms a call.
REAL_RATE = 500 / 60
REAL_LATENCY = 0.3


def _speedup(size: dict[str, Any], report: dict[str, Any]) -> float:
    per_call = _sequential_per_call(report["sizes"]) or 0.0
    plan = size["plan"]
    return plan["calls"] * per_call / plan["api_s"] if plan["api_s"] else 0.0


def _explanations(report: dict[str, Any]) -> list[str]:
    """Plain words for each missed target, with the numbers that explain it."""
    setting, notes = report["setting"], []
    for size in report["sizes"]:
        plan = size["plan"]
        if plan["api_over_floor"] and plan["api_over_floor"] > FLOOR_TARGET:
            pages = -(-size["customers"] // 500)
            chain = pages * setting["latency"]
            real_chain = pages * REAL_LATENCY
            real_floor = plan["calls"] / REAL_RATE
            notes.append(
                f"- **plan, {size['customers']:,} customers, {plan['api_over_floor']}× the "
                f"floor.** The customer list comes in {pages} pages that can only be read one "
                "after another (each page's continuation token is in the one before), and the "
                "deep reads of a page's customers start as it arrives. At this scaled setting "
                f"that chain alone takes at least {pages} × {setting['latency'] * 1000:.0f} ms "
                f"= {chain:.1f} s, plus the fake's own time to build and send 500 customers, "
                f"against a floor of {plan['floor_s']} s: the chain, not the rate, is the "
                f"bound. At Partner Center's own pace ({REAL_RATE * 60:.0f} requests a minute, "
                f"~{REAL_LATENCY * 1000:.0f} ms a call) the same chain is ~{real_chain:.0f} s "
                f"against a floor of ~{real_floor:.0f} s, so there the floor decides."
                + (
                    " The speed-up over one request at a time falls short of 10× for the "
                    "same reason."
                    if _speedup(size, report) < SEQUENTIAL_TARGET
                    else ""
                )
            )
        apply = size["apply"]
        if apply["api_over_floor"] and apply["api_over_floor"] > FLOOR_TARGET:
            notes.append(
                f"- **apply, {size['customers']:,} customers, {apply['api_over_floor']}× the "
                f"floor.** {apply['throttled_429']} requests drew a 429 and waited out "
                "Retry-After (whole seconds); each customer's steps run strictly in order, so "
                "the last customers' chains of steps finish after the rest: the tail of a "
                "short run weighs more than in a long one."
            )
    growth = _growth(report["sizes"])
    if growth and "not met" in growth[-1]:
        notes.append(
            "- **CPU growth.** Loading and validating the files is linear per file; what grows "
            "faster is the Python heap (more objects to allocate and hash into large dicts). "
            "Both sizes stay well inside the 30 s and 1.5 GB targets."
        )
    return notes or ["Every target is met."]
