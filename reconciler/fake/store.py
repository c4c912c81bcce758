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
import gc
import io
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, TextIO

from reconciler.fake.graph import empty_sections as graph_sections

FORMAT_VERSION = 1
DEFAULT_AZURE_CANCEL_READS = 1

# Sections that older state files lack: left out of the file while they hold their default,
# so that loading and saving such a file changes nothing in it.
_LATER_SECTIONS = (
    "azureEntitlements",
    "azureCancellations",
    "azureCancelReads",
    *graph_sections(),
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
            return json.load(handle)
    finally:
        if collecting:
            gc.enable()


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
