"""CPU-side cost of one plan: load + validate the desired files, plan against a snapshot.

Run in its own process so that its peak RSS is that of pcr alone:
`python -m tests.bench.cpu DESIRED_DIR SNAPSHOT.pickle` prints one JSON line.
"""

from __future__ import annotations

import json
import pickle
import resource
import sys
import time
from pathlib import Path

from reconciler.desired.load import load_desired
from reconciler.plan.planner import make_plan
from tests.bench.estate import NOW


def _peak_rss_mb() -> int:
    """This process's own high-water mark (VmHWM).

    Not `ru_maxrss`: Linux carries the parent's peak over into a child started
    with vfork + exec, which would charge the benchmark driver's memory to pcr.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main(desired_dir: str, snapshot: str) -> None:
    started = time.perf_counter()
    result = load_desired(Path(desired_dir))
    loaded = time.perf_counter()
    if result.desired is None:
        raise SystemExit(f"generated estate does not validate: {result.problems[:3]}")
    with open(snapshot, "rb") as handle:
        live = pickle.load(handle)
    unpickled = time.perf_counter()
    made = make_plan(result.desired, live, NOW)
    planned = time.perf_counter()
    print(
        json.dumps(
            {
                "customers": len(result.desired.customers),
                "load_validate_s": round(loaded - started, 2),
                "plan_s": round(planned - unpickled, 2),
                "total_s": round((loaded - started) + (planned - unpickled), 2),
                "actions": len(made.actions),
                "peak_rss_mb": _peak_rss_mb(),
                # Large estates are parsed by worker processes: the largest of them.
                "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
                // 1024,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
