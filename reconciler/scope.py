"""Scoped runs: `--only FILE_OR_TENANT_ID` and `--changed-since GIT_REF`.

A pull request changes a handful of customer files out of thousands; a plan of only
those reads only those customers (one GET each, no paging of the customer list).
A customer file deleted since the ref is a customer that left the desired state: it is
reported, never removed (offboarding is `relationship: none`, never a missing file).
A change to `partner.yaml` changes the rules for everyone, so it scopes nothing.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from reconciler.desired import Desired

GIT_SECONDS = 60.0  # a local `git diff` is quick; a hung one must not hang pcr


class ScopeError(Exception):
    """A scope that cannot be used: the message says what to do."""


@dataclass(frozen=True)
class Scope:
    """The customers a run covers (lower-case tenant ids), and why."""

    customers: tuple[str, ...]
    source: str  # how it was chosen, for the plan's reader: "--only x.yaml"
    # Customer files deleted since the ref: what a person should know, never an action.
    left: tuple[str, ...] = ()

    def restrict(self, desired: Desired) -> Desired:
        wanted = set(self.customers)
        kept = {cid: c for cid, c in desired.customers.items() if cid in wanted}
        return replace(desired, customers=kept)


def union(scopes: list[Scope]) -> Scope:
    """Several scopes as one: every customer any of them names."""
    customers = tuple(dict.fromkeys(c for s in scopes for c in s.customers))
    left = tuple(dict.fromkeys(item for s in scopes for item in s.left))
    return Scope(customers, " ".join(s.source for s in scopes), left)


def only(desired: Desired, items: tuple[str, ...]) -> Scope:
    """`--only`: each item a declared customer's file (path, name or stem) or a tenant id."""
    customers = []
    for item in items:
        customer_id = customer_id_of(item, desired)
        if customer_id is None:
            raise ScopeError(
                f"--only {item}: neither a customer file of the desired state nor a tenant id"
            )
        if customer_id not in desired.customers:
            raise ScopeError(f"--only {item}: tenant {customer_id} is not declared in any file")
        customers.append(customer_id)
    return Scope(tuple(dict.fromkeys(customers)), "--only " + " ".join(items))


def customer_id_of(who: str, desired: Desired) -> str | None:
    """A declared customer's file (by path, name or stem), or any tenant id."""
    for customer in desired.customers.values():
        path = Path(customer.path)
        if who in (customer.path, path.name, path.stem) or Path(who).resolve() == path.resolve():
            return customer.tenant_id
    text = who.strip().lower()
    return text if len(text) == 36 and text.count("-") == 4 else None


def changed_since(desired: Desired, desired_dir: Path, ref: str) -> Scope | None:
    """`--changed-since REF`: the customer files added, changed, renamed or deleted since
    REF (against the working tree). None when `partner.yaml` changed: every customer then."""
    root = _git(desired_dir, "rev-parse", "--show-toplevel").strip()
    if ref.startswith("-"):
        raise ScopeError(f"--changed-since {ref!r}: a git ref cannot start with '-'")
    try:
        _git(desired_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ScopeError:
        raise ScopeError(
            f"--changed-since {ref}: no such commit here (in CI, check out with enough "
            "history: actions/checkout with fetch-depth: 0)"
        ) from None
    # Against the working tree, and below the desired state only: renames found (-M).
    listing = _git(desired_dir, "diff", "--name-status", "-z", "-M", ref, "--", ".")
    changed, deleted = _changes(listing)
    # Files not added to git yet are new customers too (a local run before `git add`).
    untracked = _git(desired_dir, "ls-files", "--others", "--exclude-standard", "--full-name")
    changed += untracked.splitlines()
    base = Path(root)
    files = {(base / path).resolve() for path in changed}
    if any(path.name in ("partner.yaml", "partner.yml") for path in files):
        return None
    by_file = {Path(c.path).resolve(): cid for cid, c in desired.customers.items()}
    customers = tuple(sorted({by_file[f] for f in files if f in by_file}))
    left = tuple(_left(desired_dir, ref, base, path, desired) for path in deleted)
    return Scope(customers, f"--changed-since {ref}", tuple(item for item in left if item))


def _changes(listing: str) -> tuple[list[str], list[str]]:
    """`git diff --name-status -z`: paths added, modified or renamed to; paths deleted."""
    fields = listing.split("\0")
    changed: list[str] = []
    deleted: list[str] = []
    index = 0
    while index < len(fields) and fields[index]:
        status = fields[index]
        if status.startswith(("R", "C")):  # renamed or copied: old path, then new
            changed.append(fields[index + 2])
            index += 3
            continue
        (deleted if status.startswith("D") else changed).append(fields[index + 1])
        index += 2
    return changed, deleted


def _left(desired_dir: Path, ref: str, root: Path, path: str, desired: Desired) -> str:
    """What a deleted customer file declared at REF, as one line for the plan's reader."""
    if not path.endswith((".yaml", ".yml")):
        return ""
    try:
        text = _git(desired_dir, "show", f"{ref}:{path}")
        tenant = str((yaml.safe_load(text) or {}).get("tenant_id", "")).lower()
    except (ScopeError, yaml.YAMLError, AttributeError):
        tenant = ""
    if tenant and tenant in desired.customers:
        return ""  # declared in another file now (moved): nothing left
    who = f"tenant {tenant}" if tenant else "a customer"
    return (
        f"{path} was deleted since {ref}: {who} is no longer declared, so pcr leaves it "
        "alone (it is never removed for that; declare `relationship: none` to offboard it)"
    )


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ScopeError(f"--changed-since needs git, which could not run: {exc}") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise ScopeError(f"--changed-since: git {args[0]} failed: {why}")
    return done.stdout
