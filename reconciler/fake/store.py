"""The fake's one JSON document: its sections, and the file it is kept in.

Resources are kept in the wire format, so that a GET returns them verbatim:

    format_version  1
    now             the fake's clock, ISO-8601 ("2026-11-22T09:00:00Z"); it only moves when set
    customers       [Customer]; relationshipToPartner "none" = removed (kept, but hidden)
    subscriptions   {customerId: [Subscription]}
    entitlements    {customerId: [Entitlement]}; optional expiryDate ends one
    orders          {customerId: [Order]}
    azureEntitlements {customerId: [{id, friendlyName, status active|inactive, subscriptionId}]}:
                    the Azure subscriptions under an Azure plan (subscriptionId = the plan)
    azureCancellations {entitlementId (lower case): {reads_left, cancelled_at}}: cancellations
                    not yet settled; kept apart because the real GET shows none of it
    azureCancelReads how many later reads of a cancelled Azure entitlement turn it inactive
    gdap…           Microsoft Graph's GDAP relationships and their requests: see `fake.graph`
    faults          [{method, path (regex), status, count, retry_after, latency, code,
                      description, polls, applied}]; see `fake.faults`
    throttle        null | {limit, window_seconds}
    operations      {operationId: {pending_polls, result}}: writes answered with 202
    mutations       [{time, method, path, request_id, correlation_id, customer_id, target,
                      action, changes: {field: [old, new]}, ...facts such as billing}]

A file is read compact or pretty-printed, and written compact, atomically, its mode kept.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any
from typing import TextIO

from reconciler.fake.graph import empty_sections as graph_sections
from reconciler.fake.tenants import empty_sections as tenant_sections

FORMAT_VERSION = 1
DEFAULT_AZURE_CANCEL_READS = 1

# Sections that older state files lack: left out of the file while they hold their default,
# so that loading and saving such a file changes nothing in it.
_LATER_SECTIONS = (
    "azureEntitlements",
    "azureCancellations",
    "azureCancelReads",
    *graph_sections(),
    *tenant_sections(),
)
_WRITE_BUFFER = 1024 * 1024
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def empty_sections() -> dict[str, Any]:
    """Every section but the version and the clock, as a new state has them."""
    return {
        "customers": [],
        "subscriptions": {},
        "entitlements": {},
        "orders": {},
        "azureEntitlements": {},
        "azureCancellations": {},
        "azureCancelReads": DEFAULT_AZURE_CANCEL_READS,
        "faults": [],
        "throttle": None,
        "operations": {},
        "mutations": [],
        **graph_sections(),
        **tenant_sections(),
    }


def opened(data: Any) -> dict[str, Any]:
    """`data` as the fake keeps it: a document of this format, any section it lacks added."""
    if not isinstance(data, dict):
        raise ValueError("the fake's state must be a JSON object")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"fake state format_version must be {FORMAT_VERSION}")
    for key, default in empty_sections().items():
        data.setdefault(key, default)
    return data


def read(path: Path) -> Any:
    """The JSON in `path`, compact or pretty-printed."""
    # JSON makes no reference cycles: the cyclic collector would only walk the millions
    # of containers a large state makes, again and again (half the load at 100k customers).
    collecting = gc.isenabled()
    gc.disable()
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return json.load(handle, object_pairs_hook=_Sharing().member)
    finally:
        if collecting:
            gc.enable()


class _Sharing:
    """Builds each JSON object keeping one copy of what repeats across a large estate.

    Statuses, dates, offer ids and names recur in every customer: equal short strings are
    kept once (a string cannot change, so sharing it is invisible; ids are longer and do
    not repeat). Small objects of short strings recur as well (a resource's `attributes`,
    a `productType`, a refund option): equal ones are kept once too, as a `_Shared`
    mapping that refuses every change, so that no change to one can reach another. The
    fake replaces such objects whole, never edits one. At 100,000 customers: half the
    memory, and faster to build.
    """

    SHORT = 33  # longer strings are ids (36 characters) and names, which do not repeat
    SMALL = 2  # the most members a shared object has

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.objects: dict[tuple[tuple[str, Any], ...], _Shared] = {}

    def member(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        strings, short = self.strings, self.SHORT
        shared = [
            (key, strings.setdefault(v, v) if type(v) is str and len(v) < short else v)
            for key, v in pairs
        ]
        # Never an empty one (a section or a list's holder starts empty and is filled), nor
        # one with an id: that is a resource, which the service's rules change in place.
        if (
            0 < len(shared) <= self.SMALL
            and all(key != "id" for key, _ in shared)
            and all(type(v) is str and len(v) < short for _, v in shared)
        ):
            key = tuple(shared)
            found = self.objects.get(key)
            if found is None:
                found = self.objects[key] = _Shared(shared)
            return found
        return dict(shared)


class _Shared(dict[str, Any]):
    """An object kept once for every place it appears: changing it would change them all,
    so it refuses to be changed (replace it with a new one instead)."""

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a shared part of the fake's state is replaced whole, never edited")

    __setitem__ = __delitem__ = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)  # a copy is no longer shared: it is an ordinary object

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {key: copy.deepcopy(value, memo) for key, value in self.items()}

    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]


def write(data: dict[str, Any], path: Path) -> None:
    """Write compactly and atomically, keeping the file's mode (a new file gets 0600).

    The JSON goes to a temporary file beside `path`, is flushed to disk, and then
    replaces `path`: a crash or a kill mid-write leaves the old file, never part of one.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o600
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER) as out:
            with contextlib.suppress(OSError):  # where modes exist: mkstemp made it 0600
                os.chmod(temp, mode)
            _write_json(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def to_json(data: dict[str, Any]) -> str:
    """The state file's text: compact JSON, one line."""
    out = io.StringIO()
    _write_json(data, out)
    return out.getvalue()


def _write_json(data: dict[str, Any], out: TextIO) -> None:
    defaults = empty_sections()
    out.write("{")
    separator = ""
    for key, value in data.items():
        if key in _LATER_SECTIONS and value == defaults[key]:
            continue
        out.write(f"{separator}{_COMPACT.encode(key)}:")
        separator = ","
        if isinstance(value, dict) and value:
            _write_members(value, out)
        else:
            out.write(_COMPACT.encode(value))
    out.write("}\n")


def _write_members(section: dict[str, Any], out: TextIO) -> None:
    """A section keyed by customer, a customer at a time: the text of a large state never
    exists whole."""
    encode = _COMPACT.encode
    out.write("{")
    separator = ""
    for key, value in section.items():
        out.write(f"{separator}{encode(key)}:{encode(value)}")
        separator = ","
    out.write("}")


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
