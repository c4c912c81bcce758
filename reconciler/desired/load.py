"""Load and validate `desired-state/`: every problem found, each with its file:line:col.

Exactly `customers/*.yaml` (and `*.yml`) and `partner.yaml` are read, as regular files;
anything else that looks like desired state (another case or extension, a
subfolder, a link to nowhere, a FIFO) is a problem, never skipped. Validation
runs in three passes so that one mistake does not hide the next: YAML
(syntax, duplicate keys, tags, limits: see `loader`), then the JSON Schemas
in `schemas/`, then the rules that span fields or files (duplicate tenant
ids, overrides that contradict the relationship, ...). Only a clean
directory yields a `Desired`.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import re
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

import jsonschema

from reconciler.desired import model as d
from reconciler.desired.id_index import IdIndex
from reconciler.desired.marked_yaml import FilePath
from reconciler.desired.marked_yaml import Mapping
from reconciler.desired.marked_yaml import Mark
from reconciler.desired.marked_yaml import Sequence
from reconciler.desired.marked_yaml import load_file
from reconciler.desired.marked_yaml import what_is_at
from reconciler.desired.model import StateBackend
from reconciler.desired.model import StateSettings
from reconciler.errors import PcrError

if TYPE_CHECKING:  # `pcr validate` never chooses a scope: git and the rest stay unloaded
    from reconciler.desired.scope import Declarations
    from reconciler.desired.scope import Scope

PARTNER_FILE = "partner.yaml"
CUSTOMER_SUFFIXES = (".yaml", ".yml")  # lower case: `X.YAML` is a problem that says so
MISSING_PARTNER = (
    "missing: pcr needs partner.yaml to know who the partner is (direct partners and "
    "indirect providers may remove relationships, indirect resellers may not); write one "
    "with 'partner:' and '  type: direct' (or indirect_provider, or indirect_reseller)"
)
CUSTOMERS_DIR = "customers"


@dataclass(frozen=True, order=True)
class Problem:
    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class DesiredStateError(PcrError):
    """The directory itself cannot be used (missing, not a directory, unreadable)."""


@dataclass(frozen=True)
class LoadResult:
    desired: d.Desired | None  # None when there are problems
    problems: list[Problem]
    files: int
    # Nothing wrong, but worth a loud word (no customer files at all).
    warnings: tuple[str, ...] = ()


# The JSON Schemas ship inside the package; the repository's top-level `schemas/`
# (what editors point at) is a link to this folder, so there is one copy of each.
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
SCHEMA_NAMES = ("customer", "partner")


def schema_path(name: str) -> Path:
    """The JSON Schema file for `name` (customer or partner) in this installation."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} is missing from this pcr installation")
    return path


def _inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """Replace local `#/$defs/...` references by their targets.

    Resolving a `$ref` is the costliest step of validating a small file; the
    schemas only use local, non-recursive references, so inlining them once
    keeps the meaning and makes validating 100k files markedly faster.
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return {k: _inline_refs(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, defs) for item in node]
    return node


def _whole_text_pattern(
    validator: jsonschema.protocols.Validator, pattern: str, instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """`pattern` as JSON Schema means it: an ECMA-262 regex, in which `$` ends the text.

    Python's `$` also matches before a final line break, which let "<guid>\n" (from
    a `|` block scalar) through; so a pattern anchored at both ends must match all of it.
    """
    if not validator.is_type(instance, "string"):
        return
    regex = _regex(pattern)
    anchored = pattern.startswith("^") and pattern.endswith("$")
    if (regex.fullmatch(instance) if anchored else regex.search(instance)) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    raw = json.loads(schema_path(name).read_text(encoding="utf-8"))
    schema = _inline_refs(raw, raw.get("$defs", {}))
    base = jsonschema.validators.validator_for(schema)
    extend = cast(Callable[..., type[jsonschema.protocols.Validator]], jsonschema.validators.extend)
    return extend(base, {"pattern": _whole_text_pattern})(schema)


def load_desired(
    directory: Path, on_customers: Callable[[list[d.DesiredCustomer]], None] | None = None
) -> LoadResult:
    """Read every pcr file under `directory` and return the desired state or its problems.

    `on_customers` is handed each batch of customers as their files prove valid on their
    own, before the whole is checked: a read of live state can start on them meanwhile.
    """
    top = _folder_entries(directory)
    problems: list[Problem] = []
    partner = _load_partner(directory, problems)
    customer_files = _customer_files(directory / CUSTOMERS_DIR, problems)
    # Loading builds many small objects and no reference cycles: the cyclic
    # collector only costs time here (about a third at 100k files).
    collecting = gc.isenabled()
    gc.disable()
    try:
        customers = _load_customers(
            customer_files, problems, partner.policy.require_domain_for_removal, on_customers
        )
    finally:
        if collecting:
            gc.enable()
    problems.extend(_stray_files(directory, top))
    problems.extend(_cross_file_problems(customers))
    problems.extend(_cleanup_problems(partner, customers))
    return _result(directory, partner, customer_files, customers, problems)


def _result(
    directory: Path,
    partner: d.PartnerSettings,
    customer_files: Collection[object],
    customers: list[d.DesiredCustomer],
    problems: list[Problem],
) -> LoadResult:
    problems.sort()
    files = len(customer_files) + (partner.source is not None)
    warnings = () if customer_files else (_no_customers(directory),)
    if problems:
        return LoadResult(None, problems, files, warnings)
    by_id = {c.tenant_id: c for c in customers}
    return LoadResult(d.Desired(partner, by_id), [], files, warnings)


def load_scoped(
    directory: Path, choose: Callable[[Declarations], Scope | None]
) -> tuple[LoadResult, Scope | None]:
    """A scoped run's desired state: `partner.yaml` and the customers `choose` picks, parsed
    and validated; the rest of the estate only checked for what the run needs to be safe,
    that no other file declares one of their tenants or subscriptions (`reconciler.desired.id_index`
    finds the files that might). `pcr validate` still checks every file.

    When `choose` picks everyone (None), the whole desired state is loaded. Raises
    DesiredStateError, and whatever `choose` raises (ScopeError).
    """
    top = _folder_entries(directory)
    problems: list[Problem] = []
    partner = _load_partner(directory, problems)
    folder = directory / CUSTOMERS_DIR
    entries = _customer_entries(folder, problems)
    declared = _ScopedDeclarations(folder, entries, partner.policy.require_domain_for_removal)
    chosen = choose(declared)
    if chosen is None:
        return load_desired(directory), None
    in_scope = declared.declaring(chosen.customers)
    ids = {c.tenant_id for c in in_scope} | {o.id for c in in_scope for o in c.subscriptions}
    declared.parse(declared.index.candidates(ids))
    problems += declared.problems
    problems.extend(_stray_files(directory, top))
    problems.extend(_cross_file_problems(declared.parsed()))
    problems.extend(_cleanup_problems(partner, in_scope))
    names = declared.names()
    return _result(directory, partner, names, in_scope, problems), chosen


class _ScopedDeclarations:
    """Declarations answered by parsing as few customer files as it can: those asked about,
    and those the index names for an id (`Declarations`, in `reconciler.desired.scope`)."""

    def __init__(
        self, customers_dir: Path, entries: list[os.DirEntry[str]], require_domain: bool
    ) -> None:
        self.customers_dir = customers_dir
        self._names = [entry.name for entry in entries]
        self._links = [entry.name for entry in entries if entry.is_symlink()]
        self._require_domain = require_domain
        self._customers: dict[str, d.DesiredCustomer | None] = {}
        self.problems: list[Problem] = []

    def names(self) -> list[str]:
        return self._names

    def links(self) -> list[str]:
        return self._links

    @functools.cached_property
    def index(self) -> IdIndex:
        return IdIndex.build(self.customers_dir, self._names)

    def customer(self, name: str) -> d.DesiredCustomer | None:
        """The customer in file `name`, parsed and validated once; None if it has problems."""
        if name not in self._customers:
            path = self.customers_dir / name
            self._customers[name] = _load_customer(path, self.problems, self._require_domain)
        return self._customers[name]

    def parse(self, names: Iterable[str]) -> None:
        for name in names:
            self.customer(name)

    def parsed(self) -> list[d.DesiredCustomer]:
        return [c for c in self._customers.values() if c is not None]

    def tenant_of(self, name: str) -> str | None:
        customer = self.customer(name)
        return None if customer is None else customer.tenant_id

    def file_of(self, tenant_id: str) -> str | None:
        return next(
            (n for n in self.index.candidates([tenant_id]) if self.tenant_of(n) == tenant_id),
            None,
        )

    def declaring(self, tenant_ids: Iterable[str]) -> list[d.DesiredCustomer]:
        """The customers that declare these tenants (a tenant declared nowhere is left out)."""
        names = (self.file_of(tenant_id) for tenant_id in dict.fromkeys(tenant_ids))
        return [c for n in names if n is not None and (c := self.customer(n)) is not None]


def _no_customers(directory: Path) -> str:
    return (
        f"no customer files in {directory / CUSTOMERS_DIR}: this desired state declares no "
        f"customers, so pcr manages none; add one {CUSTOMERS_DIR}/<name>.yaml per customer "
        "(or check that this is the right folder)"
    )


# Below this many files one process is quicker than starting workers.
PARALLEL_THRESHOLD = 2000
# Files a worker checks at a time: few enough that the first customers are known early
# (`on_customers`), enough that handing each batch between processes costs little.
CHUNK_FILES = 500


def _load_customer_chunk(
    files: list[str], require_domain: bool = True
) -> tuple[list[d.DesiredCustomer], list[Problem]]:
    problems: list[Problem] = []
    customers = [c for f in files if (c := _load_customer(f, problems, require_domain)) is not None]
    return customers, problems


def _load_customers(
    files: list[str],
    problems: list[Problem],
    require_domain: bool,
    on_customers: Callable[[list[d.DesiredCustomer]], None] | None = None,
) -> list[d.DesiredCustomer]:
    """Parse and check every customer file; large estates use every core."""
    workers = min(os.cpu_count() or 1, 8)
    if len(files) < PARALLEL_THRESHOLD or workers < 2:
        return _gather([_load_customer_chunk(files, require_domain)], problems, on_customers)
    # Only a large estate's: not imported up front (it costs `pcr validate` a fifth).
    from concurrent.futures import ProcessPoolExecutor

    size = min(-(-len(files) // (workers * 4)), CHUNK_FILES)
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        load = functools.partial(_load_customer_chunk, require_domain=require_domain)
        return _gather(pool.map(load, chunks), problems, on_customers)


def _gather(
    loaded: Iterable[tuple[list[d.DesiredCustomer], list[Problem]]],
    problems: list[Problem],
    on_customers: Callable[[list[d.DesiredCustomer]], None] | None,
) -> list[d.DesiredCustomer]:
    customers: list[d.DesiredCustomer] = []
    for chunk_customers, found in loaded:
        customers += chunk_customers
        problems.extend(found)
        if on_customers is not None and chunk_customers:
            on_customers(chunk_customers)
    return customers


# --- which files are desired state: exactly customers/*.yaml (or .yml) and partner.yaml ----------
# Anything that looks like desired state but is not read is an error, never skipped:
# a customer silently left out of the plan is a customer pcr forgets about.


def _folder_entries(directory: Path) -> list[os.DirEntry[str]]:
    if not directory.exists():
        raise DesiredStateError(f"{directory}: no such directory (pass the desired-state folder)")
    if not directory.is_dir():
        raise DesiredStateError(f"{directory}: not a directory (pass the desired-state folder)")
    try:
        return _listing(directory)
    except OSError as exc:
        raise DesiredStateError(f"{directory}: cannot list the folder: {_reason(exc)}") from None


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: e.name)


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied; let the user running pcr read it"
    return str(exc.strerror or exc)


def _customer_files(folder: Path, problems: list[Problem]) -> list[str]:
    """The customer files in `folder`; a problem for everything else that looks like one.
    As strings: a large estate's hundred thousand Paths cost a second to make."""
    return [entry.path for entry in _customer_entries(folder, problems)]


def _customer_entries(folder: Path, problems: list[Problem]) -> list[os.DirEntry[str]]:
    """The customer files in `folder`, as listed; a problem for everything else that looks
    like one."""
    if not os.path.lexists(folder):
        return []
    mark = Mark(str(folder), 1, 1)
    if not _is_folder(folder):
        found = what_is_at(folder) or "a file"
        where = f"{CUSTOMERS_DIR}/<name>.yaml"
        problems.append(Problem(mark, f"{found}, not a folder: customer files go in {where}"))
        return []
    try:
        entries = _listing(folder)
    except OSError as exc:
        problems.append(Problem(mark, f"cannot list the folder: {_reason(exc)}"))
        return []
    files: list[os.DirEntry[str]] = []
    for entry in entries:
        if entry.name.endswith(CUSTOMER_SUFFIXES):
            files.append(entry)  # read_source says what it is if not a file
        else:
            problems.extend(_not_a_customer_file(entry))
    problems.extend(_twice_by_name(files))
    return files


def _twice_by_name(files: list[os.DirEntry[str]]) -> Iterator[Problem]:
    """`contoso.yaml` beside `contoso.yml`: one customer's file twice, or two customers
    whose files no one can tell apart by name."""
    by_stem: dict[str, str] = {}
    for entry in files:
        stem = entry.name.rsplit(".", 1)[0]
        if (first := by_stem.setdefault(stem, entry.name)) != entry.name:
            yield Problem(
                Mark(entry.path, 1, 1),
                f"{first} and {entry.name} are both here: keep one file per customer "
                "(.yaml and .yml are read alike)",
            )


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _looks_like_yaml(name: str) -> bool:
    return name.lower().endswith((".yaml", ".yml"))


def _customer_name(name: str) -> str:
    """The name pcr would read for a YAML-looking `name`: its stem with `.yaml`."""
    return name.rsplit(".", 1)[0] + ".yaml"


def _not_a_customer_file(entry: os.DirEntry[str]) -> Iterator[Problem]:
    mark = Mark(entry.path, 1, 1)
    if _looks_like_yaml(entry.name):
        yield Problem(
            mark,
            f"not read: pcr reads {CUSTOMERS_DIR}/*.yaml and *.yml (lower case); "
            f"rename it to {_customer_name(entry.name)}",
        )
    elif entry.is_dir(follow_symlinks=False):
        yield from _in_subfolder(Path(entry.path))
    elif entry.is_symlink() and _is_folder(Path(entry.path)):
        yield Problem(
            mark,
            f"a link to a folder: pcr reads {CUSTOMERS_DIR}/*.yaml and *.yml only, not subfolders; "
            f"move its customer files into {CUSTOMERS_DIR}/ or remove the link",
        )


def _in_subfolder(folder: Path) -> Iterator[Problem]:
    """YAML below customers/ is not read: say so rather than leave its customers out."""
    unreadable: list[OSError] = []
    for root, dirs, names in os.walk(folder, onerror=unreadable.append):
        dirs.sort()
        for name in sorted(n for n in [*dirs, *names] if _looks_like_yaml(n)):
            yield Problem(
                Mark(os.path.join(root, name), 1, 1),
                f"not read: pcr reads {CUSTOMERS_DIR}/*.yaml and *.yml only, not subfolders; "
                f"move it to {CUSTOMERS_DIR}/{_customer_name(name)}",
            )
    for error in unreadable:
        yield Problem(
            Mark(str(error.filename), 1, 1),
            f"cannot list the folder ({error.strerror}), so any customer files in it go "
            f"unread: let the user running pcr read it, or move them to {CUSTOMERS_DIR}/",
        )


def _stray_files(directory: Path, entries: list[os.DirEntry[str]]) -> Iterator[Problem]:
    """Desired state at the top level under a name pcr does not read: most likely a slip."""
    for entry in entries:
        name, mark = entry.name, Mark(entry.path, 1, 1)
        if name in (PARTNER_FILE, CUSTOMERS_DIR):
            continue
        if name.lower() in (PARTNER_FILE, "partner.yml"):
            yield Problem(
                mark,
                f"not read: pcr reads partner settings from {PARTNER_FILE} (exactly this "
                f"name); rename it to {PARTNER_FILE}",
            )
        elif name.lower() == CUSTOMERS_DIR:
            yield Problem(
                mark,
                f"not read: customer files go in {CUSTOMERS_DIR}/ (lower case); rename it",
            )
        elif _looks_like_yaml(name):
            yield Problem(
                mark,
                f"not read: customer files go under {CUSTOMERS_DIR}/, "
                f"partner settings in {PARTNER_FILE}",
            )


def _read_mapping(path: FilePath, problems: list[Problem]) -> Mapping | None:
    """The file's top-level mapping, even if it has problems (they go to `problems`)."""
    document = load_file(path)
    problems.extend(Problem(e.mark, e.message) for e in document.errors)
    data = document.value
    if data is None:
        if not document.errors:
            problems.append(
                Problem(Mark(str(path), 1, 1), "empty file: expected a mapping of keys")
            )
        return None
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, Sequence) else f"a {type(data).__name__} value"
        problems.append(Problem(Mark(str(path), 1, 1), f"expected a mapping of keys, got {kind}"))
        return None
    return data


def _schema_problems(name: str, data: Mapping) -> list[Problem]:
    errors = _validator(name).iter_errors(data)
    # One value can fail two keywords the same way (a GUID's pattern and its length).
    return list(dict.fromkeys(p for e in errors for p in _explain(e, data)))


def _load_partner(directory: Path, problems: list[Problem]) -> d.PartnerSettings:
    path = directory / PARTNER_FILE
    if not os.path.lexists(path):  # a dangling link is there, and reported when read
        # Who the partner is decides what it may remove: never assumed.
        problems.append(Problem(Mark(str(path), 1, 1), MISSING_PARTNER))
        return d.PartnerSettings()
    data = _read_mapping(path, problems)
    if data is None or (found := _schema_problems("partner", data)):
        problems.extend(found if data is not None else [])
        return d.PartnerSettings(source=str(path))
    partner, policy = data.get("partner", {}), data.get("policy", {})
    return d.PartnerSettings(
        type=d.PartnerType(partner.get("type", d.PartnerType.DIRECT)),
        policy=d.Policy(
            max_removals_per_run=policy.get("max_removals_per_run", d.Policy.max_removals_per_run),
            unmanaged_customers=d.UnmanagedCustomers(
                policy.get("unmanaged_customers", d.UnmanagedCustomers.REPORT)
            ),
            require_domain_for_removal=policy.get("require_domain_for_removal", True),
            tenant_cleanup=_tenant_cleanup(policy, d.Cleanup.KEEP),
        ),
        source=str(path),
        state=_state_settings(data.get("state", {})),
        domains=tuple(dict.fromkeys(domain.lower() for domain in partner.get("domains", ()))),
    )


def _state_settings(state: dict[str, Any]) -> StateSettings:
    """`state:`, already checked by the schema (azure_blob needs a container)."""
    return StateSettings(
        backend=StateBackend(state.get("backend", StateBackend.LOCAL)),
        account_url=state.get("account_url"),
        container=state.get("container"),
        prefix=state.get("prefix", ""),
    )


def _load_customer(
    path: FilePath, problems: list[Problem], require_domain: bool = True
) -> d.DesiredCustomer | None:
    data = _read_mapping(path, problems)
    if data is None:
        return None
    if found := _schema_problems("customer", data):
        problems.extend(found)
        return None
    customer = _build_customer(data)
    problems.extend(_customer_problems(customer, data, require_domain))
    return customer


def _build_customer(data: Mapping) -> d.DesiredCustomer:
    items: Sequence = data.get("subscriptions") or Sequence()
    marks = getattr(items, "item_marks", [])
    overrides = tuple(
        d.SubscriptionOverride(
            id=item["id"].lower(),
            status=d.DesiredStatus(item["status"]) if "status" in item else None,
            auto_renew=item.get("auto_renew"),
            mark=mark,
        )
        for item, mark in zip(items, marks, strict=True)
    )
    offboarding = data.get("offboarding") or {}
    return d.DesiredCustomer(
        tenant_id=data["tenant_id"].lower(),
        relationship=d.Relationship(data["relationship"]),
        mark=data.value_marks["tenant_id"],
        name=data.get("name"),
        domain=data.get("domain"),
        protected=data.get("protected", False),
        subscriptions=overrides,
        nce_outside_window=d.NceOutsideWindow(offboarding.get("nce_outside_window", "wait")),
        gdap=d.GdapOffboarding(offboarding.get("gdap", "terminate")),
        tenant_cleanup=_tenant_cleanup(offboarding, None),
    )


def _tenant_cleanup(holder: Any, default: d.Cleanup | None) -> d.TenantCleanup:
    """`tenant_cleanup:` under `holder` (a customer's offboarding, or the policy), each part
    not written taken as `default`."""
    cleanup = holder.get("tenant_cleanup")
    if not cleanup:
        return d.TenantCleanup(default, default, default)
    marks = getattr(holder, "value_marks", {})
    chosen = {
        part: d.Cleanup(cleanup[part]) if part in cleanup else default for part in d.CLEANUP_PARTS
    }
    return d.TenantCleanup(**chosen, mark=marks.get("tenant_cleanup"))


def _cleanup_problems(
    partner: d.PartnerSettings, customers: Iterable[d.DesiredCustomer]
) -> Iterator[Problem]:
    """Guests and contacts are the partner's by their domain: removing them needs
    `partner.domains`, or pcr could not tell the partner's from anyone else's."""
    if partner.domains:
        return
    policy = partner.policy.tenant_cleanup
    for customer in customers:
        cleanup = customer.tenant_cleanup.over(policy) if customer.offboarding else None
        if cleanup is not None and cleanup.needs_domains:
            yield Problem(
                cleanup.mark or customer.mark,
                "tenant_cleanup removes the partner's guest users or contacts, which pcr knows "
                "by their domain: declare the partner's own domains in partner.yaml "
                "(under partner:, domains: [contoso-partner.com]), or set guest_users and "
                "contacts to keep",
            )


def _customer_problems(
    customer: d.DesiredCustomer, data: Mapping, require_domain: bool
) -> Iterator[Problem]:
    if require_domain and customer.offboarding and not customer.domain:
        # Two keys for the one step that cannot be undone: a tenant id with a typo in it
        # must not offboard someone else's customer.
        yield Problem(
            data.value_marks["relationship"],
            "offboarding needs 'domain:' as a second key (the customer's domain in Partner "
            "Center, e.g. contoso.onmicrosoft.com), so that a wrong tenant_id cannot remove "
            "someone else; or set policy.require_domain_for_removal: false in partner.yaml",
        )
    if customer.protected and customer.offboarding:
        yield Problem(
            data.value_marks["relationship"],
            "a protected customer cannot be offboarded: set 'protected: false' to allow "
            "offboarding, or 'relationship: reseller' to keep the customer",
        )
    for override in customer.subscriptions:
        yield from _override_problems(customer, override)


def _override_problems(
    customer: d.DesiredCustomer, override: d.SubscriptionOverride
) -> Iterator[Problem]:
    if override.status is None and override.auto_renew is None:
        yield Problem(
            override.mark,
            f"subscription {override.id} declares nothing: add 'status' or 'auto_renew', "
            "or remove the entry",
        )
    if customer.offboarding and override.status is d.DesiredStatus.ACTIVE:
        yield Problem(
            override.mark,
            f"subscription {override.id} is 'status: active' but the customer is offboarded "
            "('relationship: none'): remove the status, or keep 'relationship: reseller'",
        )
    if customer.offboarding and override.auto_renew:
        yield Problem(
            override.mark,
            f"subscription {override.id} has 'auto_renew: true' but the customer is offboarded "
            "('relationship: none'): remove it, or keep 'relationship: reseller'",
        )
    if override.status is d.DesiredStatus.CANCELLED and override.auto_renew:
        yield Problem(
            override.mark,
            f"subscription {override.id} cannot be cancelled and renew: drop 'auto_renew: true'",
        )


def _cross_file_problems(customers: Iterable[d.DesiredCustomer]) -> Iterator[Problem]:
    first_customer: dict[str, d.DesiredCustomer] = {}
    first_subscription: dict[str, Mark] = {}
    for customer in sorted(customers, key=lambda c: c.path):
        if (other := first_customer.setdefault(customer.tenant_id, customer)) is not customer:
            message = f"tenant_id {customer.tenant_id} is declared twice"
            advice = "keep one file per customer"
            yield Problem(customer.mark, f"{message}, also at {other.mark}: {advice}")
            yield Problem(other.mark, f"{message}, also at {customer.mark}: {advice}")
        for override in customer.subscriptions:
            seen = first_subscription.setdefault(override.id, override.mark)
            if seen is not override.mark:
                yield Problem(
                    override.mark,
                    f"subscription {override.id} is declared twice (first at {seen}): "
                    "keep one entry",
                )


# --- turning jsonschema errors into one located, actionable line each ------------------


def _locate(data: Any, path: Iterable[Any], *, key: bool = False) -> Mark:
    """The mark of the value at `path` (or of its key), falling back to the nearest parent."""
    mark: Mark = data.mark
    node = data
    steps = list(path)
    for index, step in enumerate(steps):
        last = index == len(steps) - 1
        if isinstance(node, Mapping) and step in node:
            mark = node.key_marks[step] if key and last else node.value_marks[step]
        elif isinstance(node, Sequence) and isinstance(step, int) and step < len(node):
            mark = node.item_marks[step]
        else:
            break
        node = node[step]
    return mark


def _where(path: Iterable[Any]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "the file"


def _explain(error: jsonschema.ValidationError, data: Mapping) -> Iterator[Problem]:
    path = list(error.absolute_path)
    where, value = _where(path), cast(Any, error.instance)
    # Our schemas never use boolean subschemas, so the failing one is always a mapping.
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    validator = error.validator
    if validator == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        for extra in sorted(set(value) - set(schema.get("properties", {}))):
            yield Problem(
                _locate(data, [*path, extra], key=True),
                f"unknown key '{extra}' {_scope(path)}; allowed keys: {allowed}",
            )
        return
    mark = _locate(data, path)
    if validator == "required":
        missing = error.message.split("'")[1]
        message = f"missing required key '{missing}' {_scope(path)}"
    elif validator == "enum":
        allowed = ", ".join(str(v) for v in schema["enum"])
        message = f"{where}: {_quote(value)} is not allowed; use one of: {allowed}"
    elif validator == "type":
        message = f"{where}: expected {_type_name(schema['type'])}, got {_describe(value)}"
    elif validator == "pattern" or (validator in ("maxLength", "not") and "pattern" in schema):
        # maxLength and `not` only guard the pattern (for editors whose `$` is Python's):
        # the same message, so that one bad value is one problem.
        title = schema.get("title", "value")
        message = f"{where}: {_quote(value)} is not a valid {title}{_hint(schema, value)}"
    elif validator in ("minimum", "minLength"):
        message = f"{where}: {_quote(value)} is too small ({validator} {error.validator_value})"
    else:
        message = f"{where}: {error.message}"
    yield Problem(mark, message)


def _hint(schema: dict[str, Any], value: str) -> str:
    """What is most likely wrong with a text that fails its pattern."""
    if value.endswith(("\n", "\r")):
        return (
            " (it ends with a line break, as a '|' or '>' block scalar does: "
            "write the value on the same line as its key)"
        )
    if value != value.strip():
        return " (it has spaces at an end: remove them)"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return " (it holds a tab, line break or other control character: remove it)"
    if schema.get("title") == "GUID":
        return " (like 3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13)"
    if len(value) > schema.get("maxLength", len(value)):
        return f" (it has {len(value)} characters, at most {schema['maxLength']} are allowed)"
    return ""


def _quote(value: Any) -> str:
    """A value for a message: its repr, cut short so that a huge value stays readable."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _scope(path: list[Any]) -> str:
    return f"in {_where(path)}" if path else "at the top level"


def _type_name(kind: str) -> str:
    return {"object": "a mapping", "array": "a list", "boolean": "true or false"}.get(
        kind, f"a {kind}"
    )


def _describe(value: Any) -> str:
    if isinstance(value, Mapping | dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"text {_quote(value)}"
    return f"{type(value).__name__} {_quote(value)}"
