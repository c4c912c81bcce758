"""The fake's Microsoft Graph: GDAP relationships, the requests made on them, and Graph's rules.

It keeps its part of the fake's one JSON document, in Graph's wire format so that a GET
returns it verbatim:

    gdapRelationships   [delegatedAdminRelationship], `@odata.etag` included
    gdapRequests        {relationshipId: [delegatedAdminRelationshipRequest]}
    gdapTerminations    {relationshipId: {requested_at, reads, request}}: terminations under
                        way; kept apart, as Graph shows none of it
    gdapTerminateReads  how many later reads of a terminated relationship show it terminated
    gdapPageSize        the most relationships a page holds, whatever `$top` asks

The rules (docs/partner-center.md, "GDAP"): only an `active` relationship is terminated,
only a `created` one is deleted, and a DELETE needs the ETag last read in `If-Match` (a
stale one: 412, as Graph documents; none: 400, the fake's own guess). Every change gets a
new ETag. A termination runs on the fake's clock — the
request `created` and the relationship `terminationRequested` at once, `pending` and
`terminating` after TERMINATING_AFTER, `succeeded` and `terminated` after TERMINATED_AFTER
(Graph documents no durations: a guess) — or, however still the clock stands, `terminated`
at the `gdapTerminateReads`-th later read of it, as an apply polls it with the clock
stopped (as the fake's Azure cancellations settle).
Graph's error codes for the refusals are not documented for this API: the codes here
are Graph's generic ones, and guesses.

Not thread-safe on its own: the WSGI app serialises access with its lock.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from reconciler.fake.wire import count_within
from reconciler.live.models import parse_time
from reconciler.timestamps import format_time

if TYPE_CHECKING:
    from reconciler.fake.mutations import Origin
    from reconciler.fake.state import FakeState

__all__ = [
    "DEFAULT_TERMINATE_READS",
    "GRAPH_PREFIX",
    "TERMINATED_AFTER",
    "TERMINATING_AFTER",
    "FakeGraph",
    "GraphApiError",
]

GRAPH_PREFIX = "/v1.0"
RELATIONSHIPS_PATH = "/tenantRelationships/delegatedAdminRelationships"
# Unconfirmed: Graph documents no duration for a termination; these are guesses.
TERMINATING_AFTER = timedelta(minutes=1)
TERMINATED_AFTER = timedelta(minutes=5)
DEFAULT_TERMINATE_READS = 1
MAX_TOP = 300  # the documented largest `$top` (docs/partner-center.md, "GDAP")
DEFAULT_DURATION = "P730D"  # the longest a relationship may run: two years
# The roles a relationship grants when a test names none: Directory Readers.
DEFAULT_ROLE = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"

# Graph's generic codes (docs/partner-center.md, "Errors, throttling, sign-in"); which the
# GDAP API sends is undocumented.
CODE_INVALID_REQUEST = "invalidRequest"
CODE_NOT_FOUND = "itemNotFound"
CODE_PRECONDITION_FAILED = "resourceModified"
CODE_NOT_ALLOWED = "notAllowed"
CODE_UNAUTHENTICATED = "InvalidAuthenticationToken"
CODE_THROTTLED = "TooManyRequests"

# A termination's stages, in order: the relationship's status and its request's at each.
_STAGES = (
    ("terminationRequested", "created"),
    ("terminating", "pending"),
    ("terminated", "succeeded"),
)
_SECTIONS: dict[str, Any] = {
    "gdapRelationships": [],
    "gdapRequests": {},
    "gdapTerminations": {},
    "gdapTerminateReads": DEFAULT_TERMINATE_READS,
    "gdapPageSize": MAX_TOP,
}
_FILTER = re.compile(r"\s*customer/tenantId\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
_ETAG_NAMESPACE = uuid.UUID("6f0b64c1-2d3c-4d7a-9a55-3e0c8a1f6a20")


class GraphApiError(Exception):
    """A refusal, in Graph's error body; the app adds the ids and date to `innerError`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "innerError": {}}}


def empty_sections() -> dict[str, Any]:
    """Graph's sections of the fake's state, as a state file without them has them."""
    return copy.deepcopy(_SECTIONS)


class FakeGraph:
    """The GDAP relationships of the fake's state, and what Graph lets be done to them."""

    def __init__(self, state: FakeState) -> None:
        self._state = state
        self.version = 0  # moves with every change, read or write: the app saves on it

    @property
    def _data(self) -> dict[str, Any]:
        return self._state.data

    @property
    def _relationships(self) -> list[dict[str, Any]]:
        return self._data["gdapRelationships"]  # type: ignore[no-any-return]

    # -- building a world ----------------------------------------------------------------

    def add_relationship(
        self,
        customer_id: str,
        *,
        status: str = "active",
        display_name: str | None = None,
        ends: datetime | str | None = None,
        auto_extend: str = "PT0S",
    ) -> dict[str, Any]:
        """A relationship with `customer_id`, as Graph lists it; `ends` defaults to two years
        from the fake's clock for one that was activated, and to none for a draft."""
        name = display_name or f"GDAP relationship {len(self._relationships) + 1}"
        if any(r.get("displayName", "").lower() == name.lower() for r in self._relationships):
            raise ValueError(f"a GDAP relationship is named {name!r} already (names are unique)")
        now = format_time(self._state.now)
        activated = status not in ("created", "approvalPending")
        end = _time_text(ends) if ends is not None else None
        if end is None and activated:
            end = format_time(self._state.now + timedelta(days=730))
        wire = {
            "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
            "@odata.etag": _next_etag(f"{customer_id}/{name}"),
            "id": _relationship_id(customer_id, name),
            "displayName": name,
            "duration": DEFAULT_DURATION,
            "customer": {"tenantId": customer_id, "displayName": self._customer_name(customer_id)},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": DEFAULT_ROLE}]},
            "status": status,
            "autoExtendDuration": auto_extend,
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "activatedDateTime": now if activated else None,
            "endDateTime": end,
        }
        self._relationships.append(wire)
        self.version += 1
        return wire

    def set_terminate_reads(self, reads: int) -> None:
        """The `reads`-th later read of a terminated relationship is the first to show it
        `terminated` (the clock may end it sooner); 0 makes the request itself end it."""
        if reads < 0:
            raise ValueError("reads must be 0 or more")
        self._data["gdapTerminateReads"] = reads

    def set_page_size(self, size: int) -> None:
        """The most relationships one page holds (Graph may send fewer than `$top` asks)."""
        if not 1 <= size <= MAX_TOP:
            raise ValueError(f"a page holds 1 to {MAX_TOP} relationships")
        self._data["gdapPageSize"] = size

    # -- reads ---------------------------------------------------------------------------

    def listing(
        self, filter_text: str | None, top_text: str | None, skiptoken: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the listing, and the `$skiptoken` of the next (None: the last page).

        In id order, so that a page goes on after the last id given even when that one was
        deleted meanwhile. A full page always links on, as Graph's may: the listing can end
        on a page of no items.
        """
        tenant = _tenant_filter(filter_text)
        size = min(_top(top_text), int(self._data["gdapPageSize"]))
        after = _decode_skiptoken(skiptoken) if skiptoken is not None else None
        self._settle_all()
        # Filtered first, then sorted: a tenant's few relationships, not everyone's.
        listed = [
            r
            for r in self._relationships
            if (tenant is None or _tenant_of(r) == tenant)
            and (after is None or str(r["id"]).lower() > after)
        ]
        listed.sort(key=lambda r: str(r["id"]).lower())
        page = [self._read(r) for r in listed[:size]]
        more = len(page) == size
        return page, _encode_skiptoken(str(page[-1]["id"]).lower()) if more else None

    def relationship(self, relationship_id: str) -> dict[str, Any]:
        return self._read(self._find(relationship_id))

    def request(self, relationship_id: str, request_id: str) -> dict[str, Any]:
        """A request on a relationship; a read of the relationship's termination too."""
        self._read(self._find(relationship_id))
        for item in self._requests(relationship_id):
            if str(item["id"]).lower() == request_id.lower():
                return copy.deepcopy(item)
        raise GraphApiError(404, CODE_NOT_FOUND, f"Request {request_id} not found.")

    # -- writes --------------------------------------------------------------------------

    def terminate(
        self, relationship_id: str, body: dict[str, Any] | None, origin: Origin
    ) -> dict[str, Any]:
        """Ask for an `active` relationship to end: the request, `created`."""
        relationship = self._find(relationship_id)
        self._settle(relationship)
        action = (body or {}).get("action")
        if action != "terminate":
            raise GraphApiError(
                400,
                CODE_INVALID_REQUEST,
                f"The fake takes only the terminate action, not {action!r}.",
            )
        status = relationship.get("status")
        if status != "active":
            raise GraphApiError(
                400,
                CODE_INVALID_REQUEST,
                f"Relationship {relationship['id']} is {status}; only an active one can be "
                "terminated.",
            )
        requests = self._data["gdapRequests"].setdefault(relationship["id"], [])
        now = format_time(self._state.now)
        request = {
            "@odata.type": "#microsoft.graph.delegatedAdminRelationshipRequest",
            "id": str(
                uuid.uuid5(_ETAG_NAMESPACE, f"{relationship['id']}/requests/{len(requests)}")
            ),
            "action": "terminate",
            "status": "created",
            "createdDateTime": now,
            "lastModifiedDateTime": now,
        }
        requests.append(request)
        self._data["gdapTerminations"][relationship["id"]] = {
            "requested_at": now,
            "reads": 0,
            "request": request["id"],
        }
        self._move(relationship, 0)
        terminated = ["active", "terminationRequested"]
        self._record(origin, relationship, "terminate", terminated, request=request["id"])
        self._settle(relationship)  # no reads to wait for: ended at once
        return copy.deepcopy(request)

    def delete(self, relationship_id: str, if_match: str | None, origin: Origin) -> None:
        """Delete a `created` relationship whose ETag `if_match` names."""
        relationship = self._find(relationship_id)
        if not if_match:
            raise GraphApiError(
                400,
                CODE_INVALID_REQUEST,
                "The If-Match header with the relationship's ETag is required.",
            )
        if if_match != relationship.get("@odata.etag"):
            raise GraphApiError(
                412, CODE_PRECONDITION_FAILED, "The relationship has changed since it was read."
            )
        status = relationship.get("status")
        if status != "created":
            raise GraphApiError(
                400,
                CODE_INVALID_REQUEST,
                f"Relationship {relationship['id']} is {status}; only a created one can be "
                "deleted.",
            )
        self._relationships.remove(relationship)
        self._data["gdapRequests"].pop(relationship["id"], None)
        self._data["gdapTerminations"].pop(relationship["id"], None)
        self.version += 1
        self._record(origin, relationship, "delete", ["created", "deleted"])

    # -- terminations under way ----------------------------------------------------------

    def _read(self, relationship: dict[str, Any]) -> dict[str, Any]:
        """The relationship as a read shows it: the read counts towards its termination."""
        pending = self._data["gdapTerminations"].get(relationship["id"])
        if pending is not None:
            pending["reads"] += 1
            self.version += 1
        self._settle(relationship)
        return copy.deepcopy(relationship)

    def _settle_all(self) -> None:
        if not self._data["gdapTerminations"]:
            return  # nothing under way (as almost always): no walk over every relationship
        for relationship in self._relationships:
            if relationship["id"] in self._data["gdapTerminations"]:
                self._settle(relationship)

    def _settle(self, relationship: dict[str, Any]) -> None:
        """Move a termination on to the stage the clock or the reads have reached."""
        pending = self._data["gdapTerminations"].get(relationship["id"])
        if pending is None:
            return
        stage = max(self._stage_by_clock(pending), self._stage_by_reads(pending))
        if _STAGES[stage][0] != relationship.get("status"):
            self._move(relationship, stage)
        if stage == len(_STAGES) - 1:
            del self._data["gdapTerminations"][relationship["id"]]

    def _stage_by_clock(self, pending: dict[str, Any]) -> int:
        requested = parse_time(pending["requested_at"])
        elapsed = self._state.now - requested if requested else timedelta(0)
        return 2 if elapsed >= TERMINATED_AFTER else 1 if elapsed >= TERMINATING_AFTER else 0

    def _stage_by_reads(self, pending: dict[str, Any]) -> int:
        done = int(pending["reads"]) >= int(self._data["gdapTerminateReads"])
        return len(_STAGES) - 1 if done else 0

    def _move(self, relationship: dict[str, Any], stage: int) -> None:
        status, request_status = _STAGES[stage]
        now = format_time(self._state.now)
        relationship["status"] = status
        relationship["lastModifiedDateTime"] = now
        relationship["@odata.etag"] = _next_etag(str(relationship.get("@odata.etag")))
        pending = self._data["gdapTerminations"].get(relationship["id"])
        for request in self._requests(relationship["id"]):
            if pending is not None and request["id"] == pending["request"]:
                request["status"] = request_status
                request["lastModifiedDateTime"] = now
        self.version += 1

    def _record(
        self,
        origin: Origin,
        relationship: dict[str, Any],
        verb: str,
        status: list[str],
        **facts: Any,
    ) -> None:
        """A change to a relationship in the mutation log: `verb`, and its status before and
        after (`terminate_gdap_relationship`, active to terminationRequested)."""
        tenant, target = _tenant_of(relationship), relationship["id"]
        action = f"{verb}_gdap_relationship"
        self._state.mutation_log.record(origin, tenant, target, action, {"status": status}, **facts)

    # -- lookups -------------------------------------------------------------------------

    def _find(self, relationship_id: str) -> dict[str, Any]:
        for relationship in self._relationships:
            if str(relationship["id"]).lower() == relationship_id.lower():
                return relationship
        raise GraphApiError(
            404, CODE_NOT_FOUND, f"Delegated admin relationship {relationship_id} not found."
        )

    def _requests(self, relationship_id: str) -> list[dict[str, Any]]:
        for key, items in self._data["gdapRequests"].items():
            if key.lower() == relationship_id.lower():
                return items  # type: ignore[no-any-return]
        return []

    def _customer_name(self, customer_id: str) -> str:
        position = self._state.position(customer_id)
        if position is None:
            return ""
        profile = self._data["customers"][position].get("companyProfile") or {}
        return str(profile.get("companyName") or "")


def _tenant_of(relationship: dict[str, Any]) -> str:
    return str((relationship.get("customer") or {}).get("tenantId") or "").lower()


def _tenant_filter(text: str | None) -> str | None:
    """The tenant a `$filter` asks for: the fake knows only `customer/tenantId eq '…'`."""
    if text is None:
        return None
    match = _FILTER.fullmatch(text)
    if match is None:
        raise GraphApiError(
            400,
            CODE_INVALID_REQUEST,
            "Invalid filter clause: the fake takes only customer/tenantId eq '<tenant id>'.",
        )
    return match.group(1).replace("''", "'").lower()


def _top(text: str | None) -> int:
    if (top := count_within(text, MAX_TOP, MAX_TOP)) is None:
        raise GraphApiError(400, CODE_INVALID_REQUEST, f"$top must be 1 to {MAX_TOP}.")
    return top


def _encode_skiptoken(after: str) -> str:
    """Opaque to the client, which follows `@odata.nextLink` and never builds one."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _decode_skiptoken(token: str) -> str:
    try:
        payload = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("after"), str):
        raise GraphApiError(400, CODE_INVALID_REQUEST, "Invalid $skiptoken.")
    return str(payload["after"])


def _next_etag(previous: str) -> str:
    """A new weak ETag, shaped as Graph's (`W/"<base64 of '"<guid>"'>"`), from the last one."""
    token = uuid.uuid5(_ETAG_NAMESPACE, previous)
    return 'W/"' + base64.b64encode(f"'\"{token}\"'".encode()).decode() + '"'


def _relationship_id(customer_id: str, name: str) -> str:
    """Two GUIDs joined by `-`, as Graph's ids are; stable for the same customer and name."""
    first = uuid.uuid5(_ETAG_NAMESPACE, f"{customer_id.lower()}/{name}")
    return f"{first}-{uuid.uuid5(first, name)}"


def _time_text(value: datetime | str) -> str:
    if isinstance(value, str):
        parsed = parse_time(value)
        if parsed is None:
            raise ValueError(f"not an ISO-8601 time: {value!r}")
        value = parsed
    return format_time(value)
