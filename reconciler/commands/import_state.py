"""`pcr import`: write a customer file for every reseller customer, as Partner Center has it.

The files are built by `reconciler.importing`; this reads Partner Center, writes
them without replacing what exists, and reports each file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click
import yaml

from reconciler.commands import ERROR, OK
from reconciler.commands.backend import Backend
from reconciler.importing import PARTNER_YAML, CustomerFile, customer_files, importable
from reconciler.read import read_subscriptions
from reconciler.scaffold import write_file, write_schema_files
from reconciler.validate import CUSTOMERS_DIR, PARTNER_FILE


@dataclass(frozen=True)
class ImportOptions:
    backend: Backend
    out: Path
    force: bool = False


@dataclass
class ImportResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why", one per file not written


# --- writing ----------------------------------------------------------------------------------


def declared_tenants(customers_dir: Path) -> dict[str, str]:
    """Tenant ids already declared under `customers_dir`, with their file names (best effort)."""
    found: dict[str, str] = {}
    if not customers_dir.is_dir():
        return found
    for path in sorted(customers_dir.glob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # `pcr validate` reports it; import only avoids declaring a tenant twice
        if isinstance(data, dict) and isinstance(data.get("tenant_id"), str):
            found.setdefault(data["tenant_id"].lower(), path.name)
    return found


def write_files(out: Path, files: Iterable[CustomerFile], *, force: bool) -> ImportResult:
    result = ImportResult()
    folder = out / CUSTOMERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    existing = declared_tenants(folder)
    for item in files:
        path = folder / item.name
        elsewhere = existing.get(item.tenant_id)
        if elsewhere is not None and elsewhere != item.name:
            result.skipped.append(f"{path}: tenant {item.tenant_id} is already in {elsewhere}")
            continue
        if write_file(path, item.text, replace=force):
            result.written.append(path)
        else:
            result.skipped.append(f"{path}: exists (--force overwrites it)")
    partner = out / PARTNER_FILE
    if write_file(partner, PARTNER_YAML, replace=False):  # the partner's own: never replaced
        result.written.append(partner)
    else:
        result.skipped.append(f"{partner}: exists (kept, also with --force)")
    # The files' modelines point at ../schemas beside the desired-state folder.
    schemas = write_schema_files(out.resolve().parent)
    result.written += schemas.written
    result.skipped += schemas.kept
    return result


def run(options: ImportOptions) -> int:
    try:
        with options.backend.open() as client:
            customers, notes = importable(client.iter_customers())
            details = read_subscriptions(client, [c.id.lower() for c in customers])
        # A customer removed between the list and its read is not written as if it stayed.
        notes += [
            f"{c.id} ({c.name}): removed from the partner's list while pcr read it"
            for c in customers
            if c.id.lower() not in details
        ]
        customers = [c for c in customers if c.id.lower() in details]
    except options.backend.errors as exc:
        click.echo(f"pcr: {options.backend.failure_message(exc)}", err=True)
        return ERROR
    try:
        result = write_files(options.out, customer_files(customers, details), force=options.force)
    except OSError as exc:
        click.echo(f"pcr: cannot write to {options.out}: {exc}", err=True)
        return ERROR
    _report(options.out, result, notes)
    return OK


def _report(out: Path, result: ImportResult, notes: list[str]) -> None:
    for path in result.written:
        click.echo(f"wrote {path}")
    for skipped in result.skipped:
        click.echo(f"skipped {skipped}")
    for note in notes:
        click.echo(f"not imported: {note}")
    click.echo(
        f"pcr: {len(result.written)} written, {len(result.skipped)} skipped, "
        f"{len(notes)} not imported; check them with `pcr validate {out}`",
        err=True,
    )
