"""`make bench`: pcr at scale against a throttled, slow fake Partner Center on loopback.

For each estate size it measures
- the CPU side (load + validate + plan from an in-memory live snapshot), peak RSS;
- `pcr plan` and `pcr apply` as real processes against `pcr fake serve`, which
  answers every request after a fixed latency and throttles beyond a rate with
  429 + Retry-After: API calls against the minimum and the naive 1 + 2N, wall
  time against the throttle floor (calls / rate) and against one request at a
  time, and the 429s received.
The rate and latency are scaled down from Partner Center's (500 requests a
minute, a few hundred ms) so that a run takes seconds; the ratios are what
carry over. Results go to BENCHMARKS.md and bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.estate import NOW

REPO = Path(__file__).resolve().parents[2]
PCR = str(Path(sys.executable).with_name("pcr"))


@dataclass(frozen=True)
class Setting:
    rate: float = 250.0  # requests per second the fake allows
    latency: float = 0.05  # seconds the fake takes to answer each request
    client_share: float = 0.96  # the client paces itself just under the fake's throttle
    concurrency: int = 32

    def env(self, concurrency: int | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "PCR_TOKEN": "bench-token",
            "PCR_GRAPH_TOKEN": "bench-graph-token",
            "PCR_RATE_LIMIT": str(self.rate * 60 * self.client_share),
            "PCR_CONCURRENCY": str(concurrency or self.concurrency),
        }


class FakeService:
    """`pcr fake serve` in its own process, so it does not share a GIL with pcr."""

    def __init__(self, state: Path) -> None:
        self.process = subprocess.Popen(
            [PCR, "fake", "serve", "--state", str(state), "--save-interval", "86400"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split(" on ", 1)[1].split(" ", 1)[0]

    def stop(self) -> tuple[int, int]:
        """Stop it; (requests served, of which answered 429)."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=300)
        words = out.split("served ", 1)[1].split()
        return int(words[0]), int(words[2].strip("("))


def _throttle(path: Path, setting: Setting) -> None:
    """Make the fake slow and throttled like the real service, scaled."""
    state = json.loads(path.read_text())
    state["throttle"] = {"limit": int(setting.rate), "window_seconds": 1.0}
    state["faults"] = [
        {
            "method": "*",
            "path": ".",
            "status": None,
            "count": None,
            "retry_after": None,
            "latency": setting.latency,
            "code": None,
            "description": None,
            "polls": 1,
        }
    ]
    path.write_text(json.dumps(state))


def _timed(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done


def run_cpu(work: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.cpu",
            str(work / "desired-state"),
            str(work / "snapshot.pickle"),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(out.stdout))


def run_service(
    args: list[str], state: Path, setting: Setting, concurrency: int | None = None
) -> dict[str, Any]:
    service = FakeService(state)
    try:
        wall, done = _timed([*args, "--endpoint", service.url], setting.env(concurrency))
    finally:
        served, throttled = service.stop()
    return {
        "wall_s": round(wall, 2),
        "calls": served,
        "throttled_429": throttled,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def bench_size(count: int, setting: Setting, work: Path, sequential_limit: int) -> dict[str, Any]:
    made = subprocess.run(
        [sys.executable, "-m", "tests.bench.estate", str(count), str(work)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    counts = json.loads(made.stdout)
    desired, state = work / "desired-state", work / "fake-state.json"
    _throttle(state, setting)
    result: dict[str, Any] = {
        "customers": count,
        "deep_read_customers": counts["deep_read_customers"],
        "plan_minimum_calls": -(-count // 500) + counts["deep_reads"],
        "naive_calls": 1 + 2 * count,
        "cpu": run_cpu(work),
    }
    plan_file = work / "plan.json"
    plan_args = [
        PCR,
        "plan",
        "--desired",
        str(desired),
        "--now",
        _now(),
        "--format",
        "json",
        "--out",
        str(plan_file),
    ]
    plan = run_service(plan_args, state, setting)
    saved = json.loads(plan_file.read_text())
    result["plan"] = _rates(plan, setting) | {"actions": saved["summary"]["actions"]}
    if count <= sequential_limit:
        sequential = run_service(plan_args, state, setting, concurrency=1)
        result["plan_sequential"] = {
            "wall_s": sequential["wall_s"],
            "api_s": _api_phase(sequential["stderr"]),
            "calls": sequential["calls"],
        }
    apply_args = [
        PCR,
        "apply",
        str(plan_file),
        "--desired",
        str(desired),
        "--now",
        _now(),
        "--state-dir",
        str(work / "pcr-state"),
        "--parallel",
        str(setting.concurrency),
    ]
    apply = run_service(apply_args, state, setting)
    (work / "apply.log").write_text(apply["stderr"])
    result["apply"] = _rates(apply, setting)
    return result


def _api_phase(stderr: str) -> float | None:
    """The seconds pcr reports it spent talking to Partner Center (reading, applying)."""
    found = re.findall(r"API calls in ([\d.]+) s", stderr)
    return round(sum(float(f) for f in found), 2) if found else None


def _rates(run: dict[str, Any], setting: Setting) -> dict[str, Any]:
    floor = run["calls"] / setting.rate
    api = _api_phase(run["stderr"])
    return {
        "api_s": api,
        "api_over_floor": round(api / floor, 3) if api and floor else None,
        "wall_s": run["wall_s"],
        "calls": run["calls"],
        "throttled_429": run["throttled_429"],
        "floor_s": round(floor, 2),
        "wall_over_floor": round(run["wall_s"] / floor, 3) if floor else None,
    }


def _now() -> str:
    return NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def _machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {model}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--sequential-limit",
        type=int,
        default=10_000,
        help="largest size also planned one request at a time",
    )
    parser.add_argument("--work", type=Path, default=REPO / ".bench")
    parser.add_argument("--out", type=Path, default=REPO)
    parser.add_argument("--keep", action="store_true", help="keep the generated estates")
    options = parser.parse_args()
    setting = Setting()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": _machine(),
        "command": "make bench",
        "setting": setting.__dict__,
        "sizes": [],
    }
    for count in (int(s) for s in options.sizes.split(",")):
        print(f"bench: {count} customers ...", file=sys.stderr, flush=True)
        report["sizes"].append(
            bench_size(count, setting, options.work / str(count), options.sequential_limit)
        )
        if not options.keep:
            shutil.rmtree(options.work / str(count), ignore_errors=True)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    from tests.bench.report import write_markdown

    write_markdown(report, options.out / "BENCHMARKS.md")
    print(f"bench: wrote {options.out / 'BENCHMARKS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
