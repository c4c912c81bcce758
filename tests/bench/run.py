"""`make bench`: pcr at scale, as real processes, against a throttled, slow fake on loopback.

For each estate size (`PCR_BENCH_SIZES`, default 20,000 and 100,000 customers) it measures
- `pcr plan --fake` (the fake in process, no network): CPU seconds, peak RSS, and that the
  read-only command left the state file as it was;
- a full `pcr plan` against `pcr fake serve`: calls against the minimum, whole-process wall
  time against the throttle floor (calls / rate) with the API phase beside it, 429s;
- the pull-request case: the desired state is a git repository whose last commit changes
  one customer file; `pcr plan --changed-since HEAD~1` and `pcr plan --only FILE`, their
  calls and wall time beside the full plan's;
- `pcr apply` of the full plan: calls against the minimum (pages + deep reads + one write
  per action + one read by id per subscription change), wall time against the floor of its
  own calls;
and once, at a small size (`PCR_BENCH_SEQUENTIAL_SIZE`, default 1,000), the same plan and
apply one request at a time, for real, to measure the speed-up against its ceiling
(rate times latency: what running requests side by side can buy under a throttle).

Partner Center and Microsoft Graph are each their own fake with their own throttle, as the
real services have their own budgets. The throttle and the latency are scaled from Partner
Center's (500 requests a minute, ~300 ms a call: 2.5 requests in flight at full rate) to
50 requests a second and 50 ms (the same 2.5 in flight), so that time runs six times
faster; `PCR_BENCH_RATE` and `PCR_BENCH_LATENCY` change them. The CPU side is not scaled,
so it weighs six times more against the floor here than against Partner Center's.
Results go to BENCHMARKS.md and bench.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench.estate import NOW
from tests.bench.estate import Estate
from tests.bench.estate import commit_all
from tests.bench.estate import git_reset
from tests.bench.estate import write_fake_state
from tests.bench.startup import run_startup

REPO = Path(__file__).resolve().parents[2]
# The pcr that users run: the installed command (`make bench` installs the working tree
# first). PCR_BENCH_PCR=source runs the source tree instead (`python -m reconciler`).
PCR = (
    [sys.executable, "-m", "reconciler"]
    if os.environ.get("PCR_BENCH_PCR") == "source"
    else [str(Path(sys.executable).with_name("pcr"))]
)
TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Setting:
    rate: float = 50.0  # requests a second each fake allows (sliding window of 1 s)
    latency: float = 0.05  # seconds each fake takes to answer a request
    client_share: float = 0.96  # pcr is told the rate less this margin (PCR_RATE_LIMIT)

    @classmethod
    def from_env(cls) -> Setting:
        return cls(
            rate=float(os.environ.get("PCR_BENCH_RATE", cls.rate)),
            latency=float(os.environ.get("PCR_BENCH_LATENCY", cls.latency)),
            client_share=float(os.environ.get("PCR_BENCH_CLIENT_SHARE", cls.client_share)),
        )

    def env(self, *, sequential: bool = False, paced: bool = True) -> dict[str, str]:
        """pcr's environment: told the rate (`paced`), else as a user runs it."""
        env = {
            **os.environ,
            "PCR_TOKEN": "bench-token",
            "PCR_GRAPH_TOKEN": "bench-graph-token",
            "PCR_RATE_LIMIT": str(self.rate * 60 * self.client_share),
            "NO_COLOR": "1",
        }
        if not paced:
            del env["PCR_RATE_LIMIT"]
        env.pop("PCR_CONCURRENCY", None)  # pcr's own default, unless one at a time
        if sequential:
            env["PCR_CONCURRENCY"] = "1"
        return env


class FakeService:
    """`pcr fake serve` in its own process, so it does not share a GIL with pcr."""

    def __init__(self, state: Path) -> None:
        self.process = subprocess.Popen(
            [*PCR, "fake", "serve", "--state", str(state), "--save-interval", "86400"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.search(r"https?://[^\s]+", line)
        if found is None:
            self.process.kill()
            raise SystemExit(f"bench: pcr fake serve did not start: {line!r}")
        self.url = found.group(0).rstrip("/")

    def stop(self) -> tuple[int, int]:
        """Stop it; (requests served, of which answered 429)."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=600)
        found = re.search(r"served (\d+) requests \((\d+) answered 429\)", out)
        if found is None:
            raise SystemExit(f"bench: pcr fake serve did not report its requests: {out[-500:]}")
        return int(found.group(1)), int(found.group(2))


def _throttle(path: Path, setting: Setting, limit: int | None = None, window: float = 1.0) -> None:
    """Make a fake slow and throttled like the real service, scaled: `setting.rate` a
    second over a window of a second, unless told `limit` in `window` seconds."""
    state = json.loads(path.read_text())
    state["throttle"] = {"limit": limit or int(setting.rate), "window_seconds": window}
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


@dataclass
class Process:
    """One pcr process: whole-process wall time, CPU seconds, peak RSS, its output; and
    the machine's load (1-minute average) around it, since other work skews wall time."""

    wall_s: float
    cpu_s: float | None
    peak_rss_mb: int | None
    stdout: str
    stderr: str
    load: tuple[float, float]
    timed_out: bool = False


def _run(
    args: list[str],
    env: dict[str, str],
    stdout: Path | None = None,
    timeout: float = 7200,
    expect: tuple[int, ...] = (0, 2),
) -> Process:
    """Run pcr under /usr/bin/time (a small process of its own, so that the peak RSS it
    reports is pcr's, not inherited from this driver) and time it. A run past `timeout`
    is killed, and reported with the CPU and memory it had used by then."""
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing:
        wrapped = [TIME, "-o", timing.name, "-f", "%U %S %M", *args] if _has_time() else args
        out = stdout.open("w") if stdout is not None else subprocess.PIPE
        started = time.perf_counter()
        process = subprocess.Popen(
            wrapped,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            start_new_session=True,  # its own process group: a timeout kills all of it
        )
        try:
            output, errors = process.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            so_far = _usage_of_tree(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            output, errors = process.communicate()
            timed_out = True
        finally:
            if stdout is not None:
                out.close()  # type: ignore[union-attr]
        wall = time.perf_counter() - started
        figures = timing.read().split()[-3:] if _has_time() and not timed_out else []
    load = (round(load_before, 2), round(os.getloadavg()[0], 2))
    if timed_out:
        cpu, rss = so_far
        return Process(round(wall, 2), cpu, rss, output or "", errors or "", load, True)
    if process.returncode not in expect:
        what = " ".join(args[len(PCR) : len(PCR) + 1])
        raise SystemExit(f"bench: pcr {what} failed ({process.returncode}): {errors[-3000:]}")
    cpu = round(float(figures[0]) + float(figures[1]), 2) if len(figures) == 3 else None
    rss = int(figures[2]) // 1024 if len(figures) == 3 else None
    return Process(round(wall, 2), cpu, rss, output or "", errors, load)


def _usage_of_tree(root: int) -> tuple[float | None, int | None]:
    """CPU seconds and the largest peak RSS (MB) of `root`'s descendants, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, rss, pending, seen = 0.0, 0, [root], set()
    while pending:
        pid = pending.pop()
        if pid in seen:
            continue
        seen.add(pid)
        proc = Path(f"/proc/{pid}")
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    rss = max(rss, int(line.split()[1]) // 1024)
            for task in (proc / "task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return (round(cpu, 2) if seen else None), (rss or None)


def _has_time() -> bool:
    return Path(TIME).is_file()


def _api_phase(stderr: str) -> float | None:
    """The seconds pcr reports it spent on the APIs (reading, applying)."""
    found = re.findall(r"API calls? in ([\d.]+) s", stderr)
    return round(sum(float(f) for f in found), 2) if found else None


@dataclass(frozen=True)
class Services:
    """Where a run's Partner Center and Graph fakes keep their state."""

    partner_center: Path
    graph: Path


def run_served(args: list[str], services: Services, setting: Setting, **kw: Any) -> dict[str, Any]:
    """A pcr command against fresh fakes; calls, 429s and times, with the floor they imply."""
    pc = FakeService(services.partner_center)
    try:
        graph = FakeService(services.graph)
    except BaseException:
        pc.stop()
        raise
    try:
        ran = _run(
            [*args, "--endpoint", pc.url, "--graph-endpoint", graph.url],
            setting.env(sequential=kw.pop("sequential", False)),
            **kw,
        )
    finally:
        pc_calls, pc_429 = pc.stop()
        graph_calls, graph_429 = graph.stop()
    calls = pc_calls + graph_calls
    # Each service has its own budget: the busier one sets the floor.
    floor = max(pc_calls, graph_calls) / setting.rate
    api = _api_phase(ran.stderr)
    return {
        "calls": calls,
        "partner_center_calls": pc_calls,
        "graph_calls": graph_calls,
        "throttled_429": pc_429 + graph_429,
        "throttled_share": round((pc_429 + graph_429) / calls, 4) if calls else 0.0,
        "floor_s": round(floor, 2),
        "wall_s": ran.wall_s,
        "wall_over_floor": round(ran.wall_s / floor, 3) if floor else None,
        "api_s": api,
        "api_over_floor": round(api / floor, 3) if api and floor else None,
        "cpu_s": ran.cpu_s,
        "peak_rss_mb": ran.peak_rss_mb,
        "load": ran.load,
        "stderr_tail": ran.stderr.strip().splitlines()[-3:],
    }


# Runs that change nothing are repeated and the median (by wall time) kept: other work on
# the machine skews a single run. Applies change the fakes' state and run once.
REPEAT = int(os.environ.get("PCR_BENCH_REPEAT", "3"))


def median(run: Callable[[], dict[str, Any]], times: int = REPEAT) -> dict[str, Any]:
    """`run` `times` times: the run of median wall time, and every wall time."""
    runs = [run()]
    if runs[0].get("timed_out"):
        return runs[0] | {"walls_s": [runs[0]["wall_s"]]}
    runs += [run() for _ in range(times - 1)]
    runs.sort(key=lambda r: float(r["wall_s"]))
    return runs[len(runs) // 2] | {"walls_s": [r["wall_s"] for r in runs]}


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


def _fingerprint(path: Path) -> tuple[str, int, int]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    status = path.stat()
    return digest.hexdigest(), status.st_mode, status.st_mtime_ns


def run_plan_fake(work: Path, setting: Setting, timeout: float) -> dict[str, Any]:
    """`pcr plan --fake STATE`: the fake in process, unthrottled; a read-only command."""
    state = work / "fake-state.json"
    before = _fingerprint(state)
    desired = str(work / "desired-state")
    ran = _run(
        [*PCR, "plan", "--desired", desired, "--fake", str(state), "--now", _now()],
        setting.env(paced=False),  # the fake in process needs no pacing: pcr's own default
        stdout=work / "plan-fake.txt",
        timeout=timeout,
    )
    return {
        "wall_s": ran.wall_s,
        "cpu_s": ran.cpu_s,
        "peak_rss_mb": ran.peak_rss_mb,
        "state_unchanged": state.exists() and _fingerprint(state) == before,
        "timed_out": ran.timed_out,
        "timeout_s": timeout,
        "load": ran.load,
    }


def _plan_args(work: Path, out: Path, *scope: str) -> list[str]:
    desired = str(work / "desired-state")
    return [
        *PCR,
        "plan",
        "--desired",
        desired,
        "--now",
        _now(),
        "--format",
        "json",
        "--out",
        str(out),
        *scope,
    ]


# The calendar reads one call per declared customer: measured where a full run is short.
CALENDAR_SIZES = {int(n) for n in os.environ.get("PCR_BENCH_CALENDAR_SIZES", "20000").split(",")}


def run_calendar(work: Path, setting: Setting, services: Services) -> dict[str, Any]:
    """`pcr calendar` of every declared customer, as JSON, against fresh fakes."""
    out = work / "calendar.json"
    args = [*PCR, "calendar", "--desired", str(work / "desired-state"), "--now", _now()]
    # One call per declared customer makes this run minutes long: once, not the median of
    # REPEAT, and the machine's load beside it says whether it shared the cores.
    ran = run_served([*args, "--format", "json"], services, setting, stdout=out)
    document = json.loads(out.read_text())
    return ran | {
        "events": len(document["events"]),
        "urgent": sum(e["urgent"] for e in document["events"]),
    }


def _apply_args(work: Path, plan: Path, name: str, parallel: int | None = None) -> list[str]:
    args = [*PCR, "apply", str(plan), "--desired", str(work / "desired-state"), "--now", _now()]
    args += ["--state-dir", str(work / f"pcr-state-{name}")]
    return args + (["--parallel", str(parallel)] if parallel else [])


# The steps that write a subscription: each reads it by id first, as the body of its PATCH.
SUBSCRIPTION_CHANGES = frozenset(
    {
        "suspend_subscription",
        "reactivate_subscription",
        "cancel_subscription",
        "disable_auto_renew",
        "enable_auto_renew",
    }
)


def _summary(plan: Path) -> dict[str, Any]:
    saved = json.loads(plan.read_text())
    summary = saved["summary"]
    actions = saved["actions"]
    subscription = [a for a in actions if a["type"] in SUBSCRIPTION_CHANGES]
    return {
        "actions": summary["actions"],
        "irreversible": summary["irreversible"],
        "subscription_changes": len(subscription),
        # Irreversible steps that write no subscription: each is re-checked on a read of its
        # own right before it (a subscription change's read is counted with it).
        "rechecked": sum(
            1 for a in actions if a["irreversible"] and a["type"] not in SUBSCRIPTION_CHANGES
        ),
        "scope": saved.get("scope"),
    }


def _make_estate(count: int, work: Path) -> dict[str, Any]:
    made = subprocess.run(
        [sys.executable, "-m", "tests.bench.estate", str(count), str(work)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(made.stdout))


def _services(work: Path, setting: Setting) -> Services:
    """The throttled fakes' states: the estate's for Partner Center, none for Graph (no
    GDAP relationships in this estate: each offboarding customer's listing is empty)."""
    pc = work / "served-state.json"
    shutil.copyfile(work / "fake-state.json", pc)
    _throttle(pc, setting)
    graph = work / "graph-state.json"
    write_fake_state(Estate(), graph)
    _throttle(graph, setting)
    return Services(pc, graph)


def run_planted_duplicate(
    work: Path, setting: Setting, services: Services, pull: dict[str, Any]
) -> dict[str, Any]:
    """The pull request's tenant declared again in a file the pull request does not touch
    (committed before it): both scoped plans must refuse, though they parse only the
    changed file. The repository is put back as it was afterwards."""
    desired = work / "desired-state"
    changed = desired / pull["file"]
    planted = desired / "customers" / "zz-planted-duplicate.yaml"
    planted.write_text(f"tenant_id: {pull['tenant']}\nrelationship: reseller\n")
    commit_all(desired, "a second file for the pull request's tenant")
    changed.write_text(changed.read_text() + "# reviewed\n")
    commit_all(desired, "the pull request again")
    try:
        _log("the same tenant declared in an untouched file")
        refused = {}
        for name, scope in (
            ("changed_since", ("--changed-since", "HEAD~1")),
            ("only", ("--only", str(changed))),
        ):
            ran = run_served(
                _plan_args(work, work / "plan-planted.json", *scope),
                services,
                setting,
                expect=(1,),
            )
            said = "\n".join(ran["stderr_tail"])
            refused[name] = f"tenant_id {pull['tenant']} is declared twice" in said
    finally:
        git_reset(desired, "HEAD~2")
    return refused


# Partner Center's documented budget, which pcr keeps to by default.
DOCUMENTED_PER_MINUTE = 500


def run_paging(work: Path, setting: Setting, pull: dict[str, Any]) -> dict[str, Any]:
    """A full plan of a desired state that declares only the pull request's customer, at
    Partner Center's own rate (500 a minute, pcr's default): every page of the customer
    list, then that customer's reads. The pages are the whole run, one after another."""
    desired = work / "paging-desired"
    (desired / "customers").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / "desired-state" / "partner.yaml", desired / "partner.yaml")
    shutil.copyfile(work / "desired-state" / pull["file"], desired / pull["file"])
    documented = Setting(DOCUMENTED_PER_MINUTE / 60, setting.latency, 1.0)
    services = Services(work / "paging-state.json", work / "paging-graph.json")
    shutil.copyfile(work / "fake-state.json", services.partner_center)
    write_fake_state(Estate(), services.graph)
    for path in (services.partner_center, services.graph):
        _throttle(path, documented, limit=DOCUMENTED_PER_MINUTE, window=60.0)
    out = work / "plan-paging.json"
    args = [*PCR, "plan", "--desired", str(desired), "--now", _now(), "--format", "json"]
    return median(lambda: run_served([*args, "--out", str(out)], services, documented)) | (
        _summary(out)
    )


def _fresh(services: Services, name: str) -> Services:
    """Copies of the states for a run that changes them (an apply)."""
    copies = []
    for path in (services.partner_center, services.graph):
        copy = path.with_name(f"{path.stem}-{name}.json")
        shutil.copyfile(path, copy)
        copies.append(copy)
    return Services(*copies)


def _log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def bench_size(
    count: int, setting: Setting, work: Path, with_apply: bool, fake_timeout: float
) -> dict[str, Any]:
    _log(f"{count:,} customers: generating the estate")
    counts = _make_estate(count, work)
    minimum = counts["pages"] + counts["deep_reads"] + counts["graph_reads"]
    result: dict[str, Any] = {"customers": count, "estate": counts, "plan_minimum_calls": minimum}
    _log(f"{count:,}: CPU side, then plan --fake")
    result["cpu"] = run_cpu(work)
    services = _services(work, setting)  # from the state before plan --fake can touch it
    result["plan_fake"] = median(lambda: run_plan_fake(work, setting, fake_timeout))

    _log(f"{count:,}: full plan")
    full = work / "plan.json"
    result["plan"] = median(lambda: run_served(_plan_args(work, full), services, setting))
    result["plan"] |= _summary(full)
    pull = counts["pull_request"]
    _log(f"{count:,}: pull-request plans (--changed-since, --only)")
    changed = work / "plan-changed.json"
    result["plan_changed_since"] = median(
        lambda: run_served(
            _plan_args(work, changed, "--changed-since", "HEAD~1"), services, setting
        )
    ) | _summary(changed)
    only = work / "plan-only.json"
    only_file = str(work / "desired-state" / pull["file"])
    result["plan_only"] = median(
        lambda: run_served(_plan_args(work, only, "--only", only_file), services, setting)
    ) | _summary(only)
    result["planted_duplicate"] = run_planted_duplicate(work, setting, services, pull)
    if count in CALENDAR_SIZES:
        _log(f"{count:,}: pcr calendar")
        result["calendar"] = run_calendar(work, setting, services)
        # The plan's reads, the other declared customers' subscriptions and reservations,
        # and GDAP listed once for the partner.
        result["calendar_minimum_calls"] = (
            counts["pages"] + counts["deep_reads"] + counts["calendar_reads"] + 1
        )
    _log(f"{count:,}: paging at Partner Center's own rate")
    result["paging"] = run_paging(work, setting, pull)
    if with_apply:
        _log(f"{count:,}: apply of the full plan")
        result["apply"] = run_served(
            _apply_args(work, full, "apply"), _fresh(services, "apply"), setting
        )
    return result


def bench_sequential(count: int, setting: Setting, work: Path) -> dict[str, Any]:
    """The same plan and apply side by side (pcr's defaults) and one request at a time."""
    _log(f"{count:,} customers, one request at a time and side by side")
    counts = _make_estate(count, work)
    services = _services(work, setting)
    result: dict[str, Any] = {"customers": count, "estate": counts}
    plan = work / "plan.json"
    for name, sequential in (("side_by_side", False), ("sequential", True)):
        result[f"plan_{name}"] = median(
            lambda sequential=sequential: run_served(
                _plan_args(work, plan), services, setting, sequential=sequential
            )
        )
        result[f"apply_{name}"] = run_served(
            _apply_args(work, plan, name, parallel=1 if sequential else None),
            _fresh(services, name),
            setting,
            sequential=sequential,
        )
    return result


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


def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=os.environ.get("PCR_BENCH_SIZES", "20000,100000"),
        help="estate sizes (env PCR_BENCH_SIZES)",
    )
    parser.add_argument(
        "--apply-sizes",
        default=os.environ.get("PCR_BENCH_APPLY_SIZES"),
        help="sizes also applied (env PCR_BENCH_APPLY_SIZES; default: every size)",
    )
    parser.add_argument(
        "--sequential-size",
        type=int,
        default=int(os.environ.get("PCR_BENCH_SEQUENTIAL_SIZE", "1000")),
        help="size planned and applied one request at a time too (0: none)",
    )
    parser.add_argument(
        "--fake-timeout",
        type=float,
        default=float(os.environ.get("PCR_BENCH_FAKE_TIMEOUT", "300")),
        help="seconds `pcr plan --fake` may run before it is stopped and reported so",
    )
    parser.add_argument("--work", type=Path, default=REPO / ".bench")
    parser.add_argument("--out", type=Path, default=REPO)
    parser.add_argument("--keep", action="store_true", help="keep the generated estates")
    options = parser.parse_args()
    setting = Setting.from_env()
    sizes = _sizes(options.sizes)
    applied = set(_sizes(options.apply_sizes)) if options.apply_sizes is not None else set(sizes)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": _machine(),
        "command": "make bench",
        "environment": {
            k: v for k, v in os.environ.items() if k.startswith("PCR_BENCH_") and k != "PCR_BENCH"
        },
        "setting": asdict(setting),
        "repeat": REPEAT,
        "sizes": [],
        "sequential": None,
    }
    _log("start-up: import time of pcr --help and pcr validate")
    report["startup"] = run_startup()
    for count in sizes:
        work = options.work / str(count)
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        report["sizes"].append(
            bench_size(count, setting, work, count in applied, options.fake_timeout)
        )
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    if options.sequential_size:
        work = options.work / f"sequential-{options.sequential_size}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        report["sequential"] = bench_sequential(options.sequential_size, setting, work)
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["bench_minutes"] = round((time.perf_counter() - started) / 60, 1)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    from tests.bench.report import write_markdown

    write_markdown(report, options.out / "BENCHMARKS.md")
    _log(f"wrote {options.out / 'BENCHMARKS.md'} in {report['bench_minutes']} min")


if __name__ == "__main__":
    main()
