"""Load and validate `desired-state/`: every problem found, each with its file:line:col.

Validation runs in three passes so that one mistake does not hide the next:
YAML (syntax, duplicate keys, tags), then the JSON Schemas in `schemas/`,
then the rules that span fields or files (duplicate tenant ids, overrides
that contradict the relationship, ...). Only a clean directory yields a
`Desired`.
"""

from __future__ import annotations

import functools
import gc
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import jsonschema

from reconciler import desired as d
from reconciler.loader import LoadError, Mapping, Mark, Sequence, load_yaml
from reconciler.state import StateBackend, StateSettings

PARTNER_FILE = "partner.yaml"
CUSTOMERS_DIR = "customers"


@dataclass(frozen=True, order=True)
class Problem:
    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class DesiredStateError(Exception):
    """The directory itself cannot be used (missing, not a directory)."""


@dataclass(frozen=True)
class LoadResult:
    desired: d.Desired | None  # None when there are problems
    problems: list[Problem]
    files: int


# The JSON Schemas ship inside the package; the repository's top-level `schemas/`
# (what editors point at) is a link to this folder, so there is one copy of each.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
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


@cache
def _validator(name: str) -> jsonschema.protocols.Validator:
    raw = json.loads(schema_path(name).read_text(encoding="utf-8"))
    schema = _inline_refs(raw, raw.get("$defs", {}))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def load_desired(directory: Path) -> LoadResult:
    """Read every pcr file under `directory` and return the desired state or its problems."""
    if not directory.exists():
        raise DesiredStateError(f"{directory}: no such directory (pass the desired-state folder)")
    if not directory.is_dir():
        raise DesiredStateError(f"{directory}: not a directory (pass the desired-state folder)")
    problems: list[Problem] = []
    partner = _load_partner(directory, problems)
    customer_files = sorted(_customer_files(directory))
    # Loading builds many small objects and no reference cycles: the cyclic
    # collector only costs time here (about a third at 100k files).
    collecting = gc.isenabled()
    gc.disable()
    try:
        customers = _load_customers(
            customer_files, problems, partner.policy.require_domain_for_removal
        )
    finally:
        if collecting:
            gc.enable()
    problems.extend(_stray_files(directory))
    problems.extend(_cross_file_problems(customers))
    problems.sort()
    files = len(customer_files) + (partner.source is not None)
    if problems:
        return LoadResult(None, problems, files)
    by_id = {c.tenant_id: c for c in customers}
    return LoadResult(d.Desired(partner, by_id), [], files)


# Below this many files one process is quicker than starting workers.
PARALLEL_THRESHOLD = 2000


def _load_customer_chunk(
    files: list[Path], require_domain: bool = True
) -> tuple[list[d.DesiredCustomer], list[Problem]]:
    problems: list[Problem] = []
    customers = [c for f in files if (c := _load_customer(f, problems, require_domain)) is not None]
    return customers, problems


def _load_customers(
    files: list[Path], problems: list[Problem], require_domain: bool
) -> list[d.DesiredCustomer]:
    """Parse and check every customer file; large estates use every core."""
    workers = min(os.cpu_count() or 1, 8)
    if len(files) < PARALLEL_THRESHOLD or workers < 2:
        customers, found = _load_customer_chunk(files, require_domain)
        problems.extend(found)
        return customers
    size = -(-len(files) // (workers * 4))
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    customers = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        load = functools.partial(_load_customer_chunk, require_domain=require_domain)
        for chunk_customers, found in pool.map(load, chunks):
            customers += chunk_customers
            problems.extend(found)
    return customers


def _customer_files(directory: Path) -> Iterator[Path]:
    folder = directory / CUSTOMERS_DIR
    if folder.is_dir():
        yield from (p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _stray_files(directory: Path) -> Iterator[Problem]:
    """YAML at the top level other than partner.yaml is most likely a misplaced customer."""
    for path in sorted(directory.glob("*.y*ml")):
        if path.name not in (PARTNER_FILE, "partner.yml") and path.suffix in (".yaml", ".yml"):
            yield Problem(
                Mark(str(path), 1, 1),
                f"not read: customer files go under {CUSTOMERS_DIR}/, "
                f"partner settings in {PARTNER_FILE}",
            )


def _read_mapping(path: Path, problems: list[Problem]) -> Mapping | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(Mark(str(path), 1, 1), f"cannot read file: {exc}"))
        return None
    try:
        data = load_yaml(text, str(path))
    except LoadError as exc:
        problems.append(Problem(exc.mark, exc.message))
        return None
    if data is None:
        problems.append(Problem(Mark(str(path), 1, 1), "empty file: expected a mapping of keys"))
        return None
    if not isinstance(data, Mapping):
        kind = "a list" if isinstance(data, Sequence) else f"a {type(data).__name__} value"
        problems.append(Problem(Mark(str(path), 1, 1), f"expected a mapping of keys, got {kind}"))
        return None
    return data


def _schema_problems(name: str, data: Mapping) -> list[Problem]:
    errors = _validator(name).iter_errors(data)
    return [p for e in errors for p in _explain(e, data)]


def _load_partner(directory: Path, problems: list[Problem]) -> d.PartnerSettings:
    path = directory / PARTNER_FILE
    if not path.exists():
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
        ),
        source=str(path),
        state=_state_settings(data.get("state", {})),
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
    path: Path, problems: list[Problem], require_domain: bool = True
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
        mark=Mark(data.mark.path, 1, 1),
        name=data.get("name"),
        domain=data.get("domain"),
        protected=data.get("protected", False),
        subscriptions=overrides,
        nce_outside_window=d.NceOutsideWindow(offboarding.get("nce_outside_window", "wait")),
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
            yield Problem(customer.mark, f"{message}: also in {other.path}")
            yield Problem(other.mark, f"{message}: also in {customer.path}")
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
        message = f"{where}: {value!r} is not allowed; use one of: {allowed}"
    elif validator == "type":
        message = f"{where}: expected {_type_name(schema['type'])}, got {_describe(value)}"
    elif validator == "pattern":
        example = "3f2b7a4e-1c0d-4e8f-9a61-5b7c2d9e0f13" if schema.get("title") == "GUID" else ""
        hint = f" (like {example})" if example else ""
        message = f"{where}: {value!r} is not a valid {schema.get('title', 'value')}{hint}"
    elif validator in ("minimum", "minLength"):
        message = f"{where}: {value!r} is too small ({validator} {error.validator_value})"
    else:
        message = f"{where}: {error.message}"
    yield Problem(mark, message)


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
        return f"text {value!r}"
    return f"{type(value).__name__} {value!r}"
