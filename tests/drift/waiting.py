"""The example estate once everything that can be done now is done: only removals that
wait for their terms are left (Proseware until 2026-12-01, Tailspin until 2027-03-01)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLE

NOW = "2026-11-22T09:00:00Z"
PROSEWARE_DUE = "2026-12-01T09:00:00Z"  # its NCE term ends 2026-11-30
TAILSPIN_DUE = "2027-03-01T09:00:00Z"  # its NCE term ends 2027-02-28
PROSEWARE = "93fbc55a-41ac-4fc1-b41e-1e976ccce06a"
PROSEWARE_NCE = "a7b9d1e3-6f8b-4dae-9fc0-4b5c6d7e8f90"
PROSEWARE_E1 = "b8c0e2f4-7a9c-4ebf-8ad1-5c6d7e8f9a01"
TAILSPIN = "6f55635c-a2f9-40b3-98c9-9879d04da870"
TAILSPIN_NCE = "f6a8c0d2-5e7a-4c9d-8ebf-3a4b5c6d7e8f"

# What `pcr apply` on 2026-11-22 leaves in Partner Center for these two customers.
APPLIED: dict[str, dict[str, Any]] = {
    TAILSPIN_NCE: {"autoRenewEnabled": False},
    PROSEWARE_NCE: {"autoRenewEnabled": False, "status": "suspended"},  # nce_outside_window
    PROSEWARE_E1: {"status": "suspended"},
}


def waiting_estate(root: Path) -> tuple[Path, Path]:
    """(desired-state folder, fake state file): Tailspin and Proseware, applied, waiting."""
    desired = root / "waiting"
    (desired / "customers").mkdir(parents=True)
    (desired / "partner.yaml").write_text(
        "partner:\n  type: direct\npolicy:\n  unmanaged_customers: ignore\n"
    )
    for name in ("tailspin-toys.yaml", "proseware.yaml"):
        shutil.copy(EXAMPLE / "customers" / name, desired / "customers")
    state = root / "waiting-state.json"
    data = json.loads((EXAMPLE / "fake-state.json").read_text())
    for subscriptions in data["subscriptions"].values():
        for sub in subscriptions:
            sub.update(APPLIED.get(sub["id"], {}))
    state.write_text(json.dumps(data, indent=2))
    return desired, state


def set_fake_clock(state: Path, when: str) -> None:
    """Move the fake Partner Center's own clock: terms that are over end on the next read."""
    data = json.loads(state.read_text())
    data["now"] = when
    state.write_text(json.dumps(data, indent=2))
