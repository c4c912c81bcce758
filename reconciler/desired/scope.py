"""Scoped runs: `--only FILE_OR_TENANT_ID` and `--changed-since GIT_REF`.

A pull request changes a handful of customer files out of thousands; a plan of only
those reads only those customers (one GET each, no paging of the customer list).
A customer file deleted since the ref is a customer that left the desired state: it is
reported, never removed (offboarding is `relationship: none`, never a missing file).
A change to `partner.yaml` changes the rules for everyone, so it scopes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import yaml

from reconciler.desired.model import Desired
from reconciler.errors import PcrError
from reconciler.git import GitUnavailable
from reconciler.git import git


class ScopeError(PcrError):
    """A scope that cannot be used: the message says what to do."""


class Declarations(Protocol):
    """Where customers are declared: all that choosing a scope needs to know. Customer files
    are named by their name in `customers_dir` (they are all there). A full load answers
    from its customers (`DesiredDeclarations`); a scoped load parses only the files it must
    (`reconciler.desired.load.load_scoped`)."""

    @property
    def customers_dir(self) -> Path: ...

    def names(self) -> Sequence[str]:
        """Every customer file's name."""
        ...

    def links(self) -> Collection[str]:
        """The names of the customer files that are symbolic links."""
        ...

    def tenant_of(self, name: str) -> str | None:
        """The tenant a customer file declares; None when the file is not valid (the load
        reports why)."""
        ...

    def file_of(self, tenant_id: str) -> str | None:
        """The name of the customer file that declares a tenant (lower case), if any does."""
        ...


@dataclass(frozen=True)
class DesiredDeclarations:
    """The declarations of a desired state loaded whole."""

    desired: Desired
    customers_dir: Path

    def names(self) -> Sequence[str]:
        return list(self._by_name)

    def links(self) -> Collection[str]:
        return [name for name in self._by_name if (self.customers_dir / name).is_symlink()]

    def tenant_of(self, name: str) -> str | None:
        return self._by_name.get(name)

    def file_of(self, tenant_id: str) -> str | None:
        customer = self.desired.customers.get(tenant_id)
        return None if customer is None else Path(customer.path).name

    @functools.cached_property
    def _by_name(self) -> dict[str, str]:
        return {Path(c.path).name: c.tenant_id for c in self.desired.customers.values()}


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


def only(declared: Declarations, items: tuple[str, ...]) -> Scope:
    """`--only`: each item a customer file (path, name or stem) or a declared tenant id."""
    customers = []
    for item in items:
        name = customer_file(declared, item)
        if name is not None:
            customer_id = declared.tenant_of(name)
            if customer_id is not None:  # else the file's own problems are reported
                customers.append(customer_id)
            continue
        customer_id = tenant_id(item)
        if customer_id is None:
            raise ScopeError(
                f"--only {item}: neither a customer file of the desired state nor a tenant id"
            )
        if declared.file_of(customer_id) is None:
            raise ScopeError(f"--only {item}: tenant {customer_id} is not declared in any file")
        customers.append(customer_id)
    return Scope(tuple(dict.fromkeys(customers)), "--only " + " ".join(items))


def customer_id_of(who: str, declared: Declarations) -> str | None:
    """A declared customer's file (by path, name or stem), or any tenant id."""
    name = customer_file(declared, who)
    return declared.tenant_of(name) if name is not None else tenant_id(who)


def tenant_id(text: str) -> str | None:
    """`text` as a tenant id (lower case), if it has a GUID's shape."""
    text = text.strip().lower()
    return text if len(text) == 36 and text.count("-") == 4 else None


def customer_file(declared: Declarations, who: str) -> str | None:
    """The customer file `who` names: its name, its stem, or a path that leads to it
    (through links, too)."""
    names = declared.names()
    if who in names:
        return who
    by_stem = {name.rsplit(".", 1)[0]: name for name in names}
    if who in by_stem:
        return by_stem[who]
    if who in ("", ".", ".."):
        return None
    found = _reached(declared, {_resolve(Path(who))})
    return found[0] if found else None


def _reached(declared: Declarations, real_paths: set[Path]) -> list[str]:
    """The customer files whose real path is one of `real_paths`. Only links are resolved
    one by one: any other file's real path is its folder's, plus its name."""
    folder = _resolve(declared.customers_dir)
    names = set(declared.names())
    found = [path.name for path in real_paths if path.parent == folder and path.name in names]
    links = [name for name in declared.links() if name not in found]
    found += [name for name in links if _resolve(declared.customers_dir / name) in real_paths]
    return sorted(found)


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop, or unreadable: it leads nowhere
        return path


def changed_since(declared: Declarations, desired_dir: Path, ref: str) -> Scope | None:
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
    files = {_resolve(base / path) for path in changed}
    if any(path.name in ("partner.yaml", "partner.yml") for path in files):
        return None
    tenants = (declared.tenant_of(name) for name in _reached(declared, files))
    customers = tuple(sorted({t for t in tenants if t is not None}))
    left = tuple(_left(desired_dir, ref, path, declared) for path in deleted)
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


def _left(desired_dir: Path, ref: str, path: str, declared: Declarations) -> str:
    """What a deleted customer file declared at REF, as one line for the plan's reader."""
    if not path.endswith((".yaml", ".yml")):
        return ""
    try:
        text = _git(desired_dir, "show", f"{ref}:{path}")
        tenant = str((yaml.safe_load(text) or {}).get("tenant_id", "")).lower()
    except (ScopeError, yaml.YAMLError, AttributeError):
        tenant = ""
    if tenant and declared.file_of(tenant) is not None:
        return ""  # declared in another file now (moved): nothing left
    who = f"tenant {tenant}" if tenant else "a customer"
    return (
        f"{path} was deleted since {ref}: {who} is no longer declared, so pcr leaves it "
        "alone (it is never removed for that; declare `relationship: none` to offboard it)"
    )


def _git(cwd: Path, *args: str) -> str:
    try:
        answer = git(cwd, *args)
    except GitUnavailable as exc:
        raise ScopeError(f"--changed-since needs git, which could not run: {exc}") from None
    if not answer.ok:
        raise ScopeError(f"--changed-since: git {args[0]} failed: {answer.err or 'git failed'}")
    return answer.text
