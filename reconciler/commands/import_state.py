"""`pcr import`: write a customer file for every reseller customer, as Partner Center has it.

The files are built by `reconciler.scaffold.imported`; this reads Partner Center, writes
them without replacing what exists, and reports each file.

Writing never follows a link below `--out`. `--out` itself is the operator's own
path and is followed (a symlinked checkout is a normal thing to point at); it is
opened once, and every name below it is looked up from that folder without
following symbolic links. A symlinked `customers` folder is refused, and so is,
with `--force`, a link, FIFO, directory or device where a customer file would be
replaced (without `--force` it is left alone and reported). Every file is written
whole to a temporary file beside it (created with O_EXCL, never through a link)
and then moved into place, so a failure leaves no empty or partial file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from contextlib import suppress
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import click
import yaml

from reconciler import interrupts
from reconciler.commands import OK
from reconciler.commands import say
from reconciler.commands.backend import Backend
from reconciler.desired.load import CUSTOMERS_DIR
from reconciler.desired.load import PARTNER_FILE
from reconciler.desired.model import PartnerType
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.live.models import Customer
from reconciler.live.models import CustomerDetail
from reconciler.live.read import read_subscriptions
from reconciler.progress import Meter
from reconciler.scaffold.imported import CustomerFile
from reconciler.scaffold.imported import customer_files
from reconciler.scaffold.imported import describe
from reconciler.scaffold.imported import importable
from reconciler.scaffold.imported import printable
from reconciler.scaffold.repository import SCHEMAS_DIR
from reconciler.scaffold.repository import partner_settings
from reconciler.scaffold.repository import partner_type_to_set
from reconciler.scaffold.repository import schema_files


@dataclass(frozen=True)
class ImportOptions:
    backend: Backend
    out: Path
    force: bool = False
    partner_type: PartnerType | None = None  # None: partner.yaml says to set it


@dataclass
class ImportResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why", one per file not written


class Refused(PcrError):
    """A path `pcr import` will not write through or replace; the message names it."""


# --- writing without following links --------------------------------------------------------

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Reading an existing customer file: a FIFO must not block the import.
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
# Errors of os.link on a file system without hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK}


def _kind(found: os.stat_result | None) -> str:
    """What is at a path, for a message: "a symbolic link", "a FIFO", ..."""
    if found is None:
        return "missing"
    mode = found.st_mode
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return name
    return "a file"


def _is_file(found: os.stat_result | None) -> bool:
    return found is not None and stat.S_ISREG(found.st_mode)


@dataclass(frozen=True)
class _Folder:
    """A folder opened once; every name in it is looked up without following links."""

    path: Path
    fd: int

    def entry(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def read(self, name: str) -> bytes | None:
        """The bytes of a regular file (also one a link names: reading is harmless), or None."""
        try:
            fd = os.open(name, _READ, dir_fd=self.fd)
        except OSError:
            return None
        return _read_regular(fd)

    def put(self, name: str, data: bytes, *, replace: bool) -> bool:
        """Write `name` whole, or not at all; False when it exists and `replace` is not set.

        The bytes go to a new temporary file beside it (O_EXCL, O_NOFOLLOW), which is
        then linked to the name (fails if it exists) or, to replace a regular file,
        renamed over it (a rename replaces a link itself, never what it points at).
        """
        temp = f".{name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, _NEW_FILE, 0o666, dir_fd=self.fd)
        moved = False
        try:
            with os.fdopen(fd, "wb") as handle:
                old = self.entry(name) if replace else None
                if old is not None and stat.S_ISREG(old.st_mode):
                    os.fchmod(fd, stat.S_IMODE(old.st_mode))  # a replaced file keeps its mode
                handle.write(data)
                handle.flush()
                os.fsync(fd)
            if replace:
                if not _is_file(found := self.entry(name)) and found is not None:
                    raise _refusal(self.path / name, found)  # it changed since it was checked
                os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
                moved = True
                return True
            try:
                os.link(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                if self.entry(name) is not None:  # no atomic "create unless it exists" here
                    return False
                os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
                moved = True
            return True
        finally:
            if not moved:
                with suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=self.fd)

    def sync(self) -> None:
        with suppress(OSError):  # best effort: some file systems cannot sync a folder
            os.fsync(self.fd)


def _refusal(path: Path, found: os.stat_result) -> Refused:
    return Refused(
        f"refusing to replace {path}: it is {_kind(found)}, not a file "
        "(pcr import never writes through or replaces one; remove it, or run without --force)"
    )


@contextmanager
def _opened(path: Path, fd: int) -> Iterator[_Folder]:
    try:
        yield _Folder(path, fd)
    finally:
        os.close(fd)


def _subfolder(parent: _Folder, name: str) -> contextlib.AbstractContextManager[_Folder]:
    """`parent/name`, made if missing; a link, a file or a FIFO there is refused."""
    path = parent.path / name
    with suppress(FileExistsError):
        os.mkdir(name, 0o777, dir_fd=parent.fd)
    try:
        fd = os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=parent.fd)
    except OSError as exc:
        found = parent.entry(name)
        if found is None or stat.S_ISDIR(found.st_mode):
            raise
        link = stat.S_ISLNK(found.st_mode)
        hint = (
            "pcr import never writes through a link; make it a folder"
            if link
            else "make it a folder"
        )
        raise Refused(
            f"refusing to write under {path}: it is {_kind(found)}, not a folder ({hint})"
        ) from exc
    return _opened(path, fd)


# --- what to write -------------------------------------------------------------------------


def declared_tenants(folder: _Folder) -> dict[str, str]:
    """Tenant ids already declared in the customers folder, with their file names.

    Best effort, and read as `pcr validate` reads the folder (a link to a file is
    read; a FIFO, a device or a folder is not, and never blocks).
    """
    found: dict[str, str] = {}
    for name in sorted(os.listdir(folder.fd)):
        if Path(name).suffix not in (".yaml", ".yml"):
            continue
        raw = folder.read(name)
        try:
            data = yaml.safe_load(raw.decode("utf-8")) if raw is not None else None
        except (UnicodeDecodeError, yaml.YAMLError):
            continue  # `pcr validate` reports it; import only avoids declaring a tenant twice
        if isinstance(data, dict) and isinstance(data.get("tenant_id"), str):
            found.setdefault(data["tenant_id"].lower(), name)
    return found


def write_files(
    out: Path,
    files: Iterable[CustomerFile],
    *,
    force: bool,
    partner_type: PartnerType | None = None,
) -> ImportResult:
    """Write the customer files and partner.yaml (for `partner_type`); see the module's
    rules."""
    # Encoded before anything touches the disk: text that cannot be written leaves no file.
    encoded = [(item, item.text.encode("utf-8")) for item in files]
    result = ImportResult()
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        root = stack.enter_context(_opened(out, os.open(out, _DIRECTORY)))  # followed: see above
        folder = stack.enter_context(_subfolder(root, CUSTOMERS_DIR))
        todo = _customer_writes(folder, encoded, force=force, result=result)
        for item, data in todo:
            path = folder.path / item.name
            if folder.put(item.name, data, replace=force):
                result.written.append(path)
            else:  # it appeared meanwhile
                result.skipped.append(f"{path}: exists (--force overwrites it)")
        folder.sync()
        _write_partner(root, partner_settings(partner_type), result)
        root.sync()
    return result


def _customer_writes(
    folder: _Folder,
    encoded: list[tuple[CustomerFile, bytes]],
    *,
    force: bool,
    result: ImportResult,
) -> list[tuple[CustomerFile, bytes]]:
    """The files to write; every refusal comes before anything is written."""
    existing = declared_tenants(folder)
    todo = []
    for item, data in encoded:
        path = folder.path / item.name
        elsewhere = existing.get(item.tenant_id)
        if elsewhere is not None and elsewhere != item.name:
            where = printable(elsewhere)
            result.skipped.append(f"{path}: tenant {item.tenant_id} is already in {where}")
            continue
        twin = f"{item.name.removesuffix('.yaml')}.yml"
        if folder.entry(twin) is not None:  # one name, two files: validation refuses both
            result.skipped.append(f"{path}: {printable(twin)} has that name (left alone)")
            continue
        found = folder.entry(item.name)
        if found is not None and not _is_file(found):
            if force:
                raise _refusal(path, found)
            result.skipped.append(f"{path}: {_kind(found)}, not a file (left alone)")
        elif found is not None and not force:
            result.skipped.append(f"{path}: exists (--force overwrites it)")
        else:
            todo.append((item, data))
    return todo


def _write_partner(root: _Folder, settings: str, result: ImportResult) -> None:
    partner = root.path / PARTNER_FILE
    found = root.entry(PARTNER_FILE)
    if found is not None and not _is_file(found):
        result.skipped.append(f"{partner}: {_kind(found)}, not a file (left alone)")
    elif found is None and root.put(PARTNER_FILE, settings.encode(), replace=False):
        result.written.append(partner)
    else:  # the partner's own: never replaced
        result.skipped.append(f"{partner}: exists (kept, also with --force)")


def _read_regular(fd: int) -> bytes | None:
    """All of an open file if it is a regular one, else None; closes `fd` either way."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


# --- the command ----------------------------------------------------------------------------


def run(options: ImportOptions) -> int:
    with options.backend.failures():
        customers, details, notes = interrupts.interruptible(lambda: _read(options.backend))
    # An interrupt waits for the files and their report: each file is then whole or
    # absent, no temporary file is left, and what was written is said.
    with interrupts.held():
        with prefixed(f"cannot write to {options.out}", OSError):
            files = customer_files(customers, details)
            result = write_files(
                options.out, files, force=options.force, partner_type=options.partner_type
            )
        _report(options.out, result, notes, options.partner_type)
    return OK


def _read(backend: Backend) -> tuple[list[Customer], dict[str, CustomerDetail], list[str]]:
    """The reseller customers and their subscriptions, and why any others are left out."""
    with backend.open(read_only=True) as client:  # import only reads Partner Center
        customers, notes = importable(client.iter_customers())
        with Meter("reading subscriptions", len(customers), "customers") as meter:
            details = read_subscriptions(client, [c.id.lower() for c in customers], progress=meter)
    # A customer removed between the list and its read is not written as if it stayed.
    notes += [
        f"{describe(c)}: removed from the partner's list while pcr read it"
        for c in customers
        if c.id.lower() not in details
    ]
    return [c for c in customers if c.id.lower() in details], details, notes


def _report(
    out: Path, result: ImportResult, notes: list[str], partner_type: PartnerType | None
) -> None:
    for path in result.written:
        click.echo(f"wrote {path}")
    for skipped in result.skipped:
        click.echo(f"skipped {skipped}")
    for note in notes:
        click.echo(f"not imported: {note}")
    say(
        f"{len(result.written)} written, {len(result.skipped)} skipped, "
        f"{len(notes)} not imported; check them with `pcr validate {out}`"
    )
    say(_where_schemas_are(out))
    partner = out / PARTNER_FILE
    if partner_type is None and partner in result.written:
        say(f"{partner_type_to_set(partner)} (or import again with --partner-type)")


def _where_schemas_are(out: Path) -> str:
    """pcr import writes under --out only; the files' modelines name the schemas at
    ../schemas beside it (the layout `pcr init` writes)."""
    schemas = out.resolve().parent / SCHEMAS_DIR
    if all((schemas / name.removeprefix(f"{SCHEMAS_DIR}/")).is_file() for name in schema_files()):
        return f"the files' modelines point at the JSON Schemas in {schemas}, for editors"
    return (
        f"the files' modelines point at the JSON Schemas in {schemas}, which are not there: "
        f"`pcr init {out.resolve().parent}` writes them (and keeps every file that exists)"
    )
