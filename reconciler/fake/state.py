"""The fake Partner Center's state, and the service rules it enforces on it.

Everything lives in one JSON document; resources are kept in the wire format
so a GET returns them verbatim:

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
                      description, polls}]; see `FakeState.add_fault`
    throttle        null | {limit, window_seconds}
    operations      {operationId: {pending_polls, result}}: writes answered with 202
    mutations       [{time, method, path, request_id, correlation_id, customer_id, target,
                      action, changes: {field: [old, new]}, ...facts such as billing}]

The HTTP layer (`fake`) is a thin shell over the methods here (and Graph's, on
`FakeState.gdap`), which are usable directly from tests.

`FakeState.load` reads the file compact or pretty-printed; `save` writes it compact,
atomically, its mode kept. A large file (a benchmark's 100,000 customers) is read a chunk at
a time, and its sections keyed by customer stay JSON text a customer at a time until first
read (`LazySection`): a plan reads the details of a few of them.

Rules follow the Partner Center reference sheet; where the real service's
error code is not documented, the choice is marked as a guess.

Not thread-safe on its own: the WSGI app serialises access with a lock.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import os
import re
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from reconciler.fake.graph import FakeGraph
from reconciler.fake.graph import empty_sections as graph_sections
from reconciler.live.models import SubscriptionKind, classify, parse_time
from reconciler.timestamps import format_time

FORMAT_VERSION = 1
CANCELLATION_WINDOW_DAYS = 7
PERPETUAL_WINDOW_DAYS = 30  # perpetual software: 30 days from purchase (reference sheet §7)
SAAS_WINDOW_HOURS = 72  # marketplace SaaS: full refund within 72 h (reference sheet §16)
# The real Azure entitlement cancel takes about 10 minutes to show `inactive` (§14).
AZURE_CANCEL_SETTLES_AFTER = timedelta(minutes=10)
DEFAULT_AZURE_CANCEL_READS = 1
# Statuses in which a subscription no longer stands in the way of anything.
FINISHED_STATUSES = ("expired", "disabled", "deleted")

# Documented codes (reference sheet §5, §7, §8).
CODE_WINDOW_PASSED = 900117  # 400: the 7-day cancellation window has passed
CODE_DELETED = 2011  # 400: a deleted subscription can't be updated
CODE_SUSPENDED = 800091  # 400: a suspended subscription can't be updated
CODE_NOT_SOFTWARE = 800063  # 400: not cancellable through the order; use a subscription PATCH
CODE_NO_RELATIONSHIP = 3000  # the relationship does not exist
CODE_PENDING_OPERATION = 900278  # 409: another operation is pending on the resource
# Documented codes for Azure plans, savings plans and SaaS (reference sheet §6, §14, §16).
CODE_MISSING_BODY = 800002  # 400: the request id or body is missing
CODE_BAD_CANCEL_REASON = 900307  # 400: not a valid cancellationReason
CODE_AZURE_ENTITLEMENT_NOT_FOUND = 800111  # 404
CODE_CANNOT_REACTIVATE = 900337  # 400: the Azure entitlement can't be reactivated
CODE_USAGE_ASSETS_ACTIVE = 900115  # 403: the Azure plan still has active usage assets
CODE_SAVINGS_PLAN_FINAL = 900321  # 400: savings plans are managed in the Azure portal
CODE_SAAS_WINDOW_PASSED = 900213  # 400: the hour-based SaaS cancellation window has passed
CODE_SAAS_CANCEL_ONLY = 800077  # 403: seat-based SaaS is cancelled with a subscription PATCH
# Guesses: the real service's code for these cases is not documented.
CODE_STATUS_NOT_UPDATABLE = 800096  # 400: "can't update status" (candidate named in the sheet)
CODE_INVALID_REQUEST = 800061  # 400: malformed or unsupported request body
CODE_NOT_FOUND = 600008  # 404: unknown customer, subscription or order
# No code is documented for a refused relationship removal; 3001 sits next to
# 3000 ("relationship does not exist") in the relationship range. A guess.
CODE_RELATIONSHIP_BLOCKED = 3001
# No code is documented for cancelling or suspending a base with live add-ons (whether the
# service refuses it at all is unconfirmed). 900219/900221 mean "migration blocked by
# add-ons" and 800029 "add-on not related to parent"; 900220 sits between the first two.
# A guess.
CODE_ADDONS_LIVE = 900220

MAX_DESCRIPTION = 1024  # the service caps error descriptions at this length

_MONTHS_PER_TERM = {"P1M": 1, "P1Y": 12, "P3Y": 36}
# State sections that older state files lack (see `to_json`).
_LATER_SECTIONS = (
    "azureEntitlements",
    "azureCancellations",
    "azureCancelReads",
    *graph_sections(),
)
_SOFTWARE_KINDS = (SubscriptionKind.SOFTWARE, SubscriptionKind.PERPETUAL_SOFTWARE)
# Kinds whose terms renew or expire with the clock.
_TERM_KINDS = (SubscriptionKind.NCE, SubscriptionKind.SOFTWARE, SubscriptionKind.SAAS)
# What a full-body PATCH drops when the body leaves it out (reference sheet §5, §17).
_INSTRUCTIONS = ("scheduledNextTermInstructions", "nextChargeInstructions")


class FakeApiError(Exception):
    """A refusal, in the classic Partner Center error body."""

    def __init__(self, status: int, code: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description[:MAX_DESCRIPTION]

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "data": [],
            "source": "PartnerFD",
        }


@dataclass(frozen=True)
class Origin:
    """Where a mutation came from, for the mutation log."""

    method: str = "PYTHON"
    path: str = ""
    request_id: str | None = None
    correlation_id: str | None = None


DIRECT = Origin()


class FakeState:
    """The fake's whole world, as one JSON-serialisable dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"fake state format_version must be {FORMAT_VERSION}")
        for key, default in _empty_sections().items():
            data.setdefault(key, default)
        self.data = data
        parse_now(data["now"])  # fail early on a bad clock
        # Caches that keep a 100k-customer fake fast; both are rebuilt when what
        # they depend on changes (customers are only ever appended).
        self._index: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lifecycle_key: str | None = None
        # The latest clock the lifecycle has caught terms up to: a customer whose
        # subscriptions a large file still holds as text catches up to it when first read.
        self._lifecycle_now: datetime | None = None
        subscriptions = data["subscriptions"]
        if isinstance(subscriptions, LazySection):
            subscriptions.on_decode = self._catch_up_decoded
        self.gdap = FakeGraph(self)  # Microsoft Graph's side of the fake: GDAP

    # -- persistence ---------------------------------------------------------------------

    @classmethod
    def empty(cls, now: datetime | str) -> FakeState:
        clock = now if isinstance(now, str) else format_time(now)
        return cls({"format_version": FORMAT_VERSION, "now": clock, **_empty_sections()})

    @classmethod
    def load(cls, path: Path) -> FakeState:
        """The state in `path`, compact or pretty-printed. A large file is read a chunk at a
        time, and each customer's subscriptions, entitlements, orders and Azure entitlements
        stay JSON text until something reads them (see `LazySection`)."""
        with path.open(encoding="utf-8", newline="") as handle:
            if os.fstat(handle.fileno()).st_size < LAZY_FROM_BYTES:
                return cls(json.load(handle))
            return cls(_read_lazily(handle))

    def save(self, path: Path) -> None:
        """Write compactly and atomically, keeping the file's mode (a new file gets 0600).

        The JSON goes to a temporary file beside `path`, is flushed to disk, and then
        replaces `path`: a crash or a kill mid-write leaves the old file, never part of one.
        """
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o600
        self._settle_before_save()
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="", buffering=_WRITE_BUFFER) as out:
                with contextlib.suppress(OSError):  # where modes exist: mkstemp made it 0600
                    os.chmod(temp, mode)
                self._write_json(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _sync_folder(path.parent)

    def to_json(self) -> str:
        """The state file's text: compact JSON, one line."""
        out = io.StringIO()
        self._write_json(out)
        return out.getvalue()

    def _write_json(self, out: TextIO) -> None:
        # Sections added after the first state files are left out while unused, so that
        # loading and saving such a file changes nothing in it. A section keyed by customer
        # is written a customer at a time: the text of a large state never exists whole.
        encode = _COMPACT.encode
        empty = _empty_sections()
        out.write("{")
        separator = ""
        for key, value in self.data.items():
            if key in _LATER_SECTIONS and _is_default(value, empty[key]):
                continue
            out.write(f"{separator}{encode(key)}:")
            separator = ","
            if isinstance(value, LazySection):
                value.write_json(out)
            elif isinstance(value, dict) and value:
                out.write("{")
                out.write(",".join(f"{encode(k)}:{encode(v)}" for k, v in value.items()))
                out.write("}")
            else:
                out.write(encode(value))
        out.write("}\n")

    # -- clock ---------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return parse_now(self.data["now"])

    def set_now(self, when: datetime | str) -> None:
        """Move the clock (either way); subscription terms catch up on the next read.

        Setting the clock always makes the next read catch terms up, even when the clock
        lands on the second it already showed: the clock is kept to the second, so a
        term's end moved and then the clock set within one second would otherwise look
        like nothing happened, and the term would never end.
        """
        self.data["now"] = format_time(parse_now(when) if isinstance(when, str) else when)
        self.edited()

    def edited(self) -> None:
        """Say that the state was changed in place, outside the service's rules (a test
        setting a term's end, a status, a customer): what the fake keeps to answer quickly
        is worked out afresh on the next request."""
        self._lifecycle_key = None
        self._index = {}

    def advance_clock(self, by: timedelta) -> None:
        self.set_now(self.now + by)

    # -- building a world ----------------------------------------------------------------

    def add_customer(
        self, tenant_id: str, name: str, domain: str, relationship: str = "reseller"
    ) -> dict[str, Any]:
        customer = {
            "id": tenant_id,
            "commerceId": str(uuid.uuid5(uuid.NAMESPACE_URL, tenant_id)),
            "companyProfile": {
                "tenantId": tenant_id,
                "domain": domain,
                "companyName": name,
                "attributes": {"objectType": "CustomerCompanyProfile"},
            },
            "relationshipToPartner": relationship,
            "allowDelegatedAccess": True,
            "attributes": {"objectType": "Customer"},
        }
        self.data["customers"].append(customer)
        return customer

    def add_subscription(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        self._lifecycle_key = None
        self.data["subscriptions"].setdefault(customer_id, []).append(wire)
        return wire

    def add_entitlement(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        self.data["entitlements"].setdefault(customer_id, []).append(wire)
        return wire

    def add_order(self, customer_id: str, wire: dict[str, Any]) -> dict[str, Any]:
        self.data["orders"].setdefault(customer_id, []).append(wire)
        return wire

    def add_azure_entitlement(
        self, customer_id: str, plan_subscription_id: str, wire: dict[str, Any]
    ) -> dict[str, Any]:
        """An Azure subscription under the Azure plan `plan_subscription_id`."""
        wire["subscriptionId"] = plan_subscription_id
        self.data["azureEntitlements"].setdefault(customer_id, []).append(wire)
        return wire

    def add_gdap_relationship(
        self,
        customer_id: str,
        *,
        status: str = "active",
        display_name: str | None = None,
        ends: datetime | str | None = None,
        auto_extend: str = "PT0S",
    ) -> dict[str, Any]:
        """A GDAP relationship with `customer_id` in Microsoft Graph (see `FakeGraph`)."""
        return self.gdap.add_relationship(
            customer_id,
            status=status,
            display_name=display_name,
            ends=ends,
            auto_extend=auto_extend,
        )

    def set_azure_cancel_reads(self, reads: int) -> None:
        """The `reads`-th later read of a cancelled Azure entitlement is the first to show it
        inactive; 0 makes the cancel itself answer inactive. (The clock settles it too.)"""
        if reads < 0:
            raise ValueError("reads must be 0 or more")
        self.data["azureCancelReads"] = reads

    # -- fault injection -----------------------------------------------------------------

    def add_fault(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        count: int | None = 1,
        retry_after: float | None = None,
        latency: float = 0.0,
        code: int | str | None = None,
        description: str | None = None,
        polls: int = 1,
        applied: bool = False,
    ) -> dict[str, Any]:
        """Make matching requests fail (or go slow, or answer 202) `count` times (None: always).

        `applied`: the request is carried out first, and then answered with the error (the
        service took a change, then failed to say so).

        `path` is a regular expression searched in the request path
        (e.g. `/subscriptions/`); `method` is an HTTP method or `*`. On a Graph path
        (`/v1.0/…`) the error is in Graph's body, `code` its `error.code`. Status
        202 on a write applies it and answers 202 + Location, to be polled
        `polls` times before it reports done. `status=None` only adds latency.
        """
        re.compile(path)
        rule = {
            "method": method.upper(),
            "path": path,
            "status": status,
            "count": count,
            "retry_after": retry_after,
            "latency": latency,
            "code": code,
            "description": description,
            "polls": polls,
            "applied": applied,
        }
        self.data["faults"].append(rule)
        return rule

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        """The first rule matching this request, with one use of it spent."""
        for rule in self.data["faults"]:
            if rule["method"] not in ("*", method.upper()) or not re.search(rule["path"], path):
                continue
            if rule["count"] is not None:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.data["faults"].remove(rule)
            return dict(rule)
        return None

    def set_throttle(self, limit: int | None, window_seconds: float = 60.0) -> None:
        """Answer 429 + Retry-After once more than `limit` requests arrive in a window."""
        self.data["throttle"] = (
            None if limit is None else {"limit": limit, "window_seconds": window_seconds}
        )

    # -- 202 operations ------------------------------------------------------------------

    def start_operation(self, result: dict[str, Any], polls: int) -> str:
        operation_id = uuid.uuid4().hex
        self.data["operations"][operation_id] = {"pending_polls": max(0, polls), "result": result}
        return operation_id

    def poll_operation(self, operation_id: str) -> dict[str, Any] | None:
        """The operation's result once done, None while it still runs."""
        operation = self.data["operations"].get(operation_id)
        if operation is None:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Operation {operation_id} not found.")
        if operation["pending_polls"] > 0:
            operation["pending_polls"] -= 1
            return None
        return copy.deepcopy(operation["result"])  # type: ignore[no-any-return]

    # -- the mutation log ----------------------------------------------------------------

    @property
    def mutations(self) -> list[dict[str, Any]]:
        return self.data["mutations"]  # type: ignore[no-any-return]

    def _log(
        self,
        origin: Origin,
        customer_id: str,
        target: str,
        action: str,
        changes: dict[str, list[Any]],
        **facts: Any,
    ) -> None:
        self.data["mutations"].append(
            {
                "time": self.data["now"],
                "method": origin.method,
                "path": origin.path,
                "request_id": origin.request_id,
                "correlation_id": origin.correlation_id,
                "customer_id": customer_id,
                "target": target,
                "action": action,
                "changes": changes,
                **facts,
            }
        )

    # -- reads ---------------------------------------------------------------------------

    def customers(self) -> list[dict[str, Any]]:
        """Customers still in the partner's list, in a stable order."""
        return [c for c in self.data["customers"] if in_partner_list(c)]

    def position(self, customer_id: str) -> int | None:
        """Where a customer stands in the full list (removed ones included), by id."""
        found = self._indexed().get(customer_id.lower())
        return found[0] if found else None

    def _indexed(self) -> dict[str, tuple[int, dict[str, Any]]]:
        customers = self.data["customers"]
        if len(self._index) != len(customers):
            self._index = {c["id"].lower(): (i, c) for i, c in enumerate(customers)}
        return self._index

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A customer in the list; a removed one is 404, as it is gone from the partner's view."""
        found = self._indexed().get(customer_id.lower())
        if found is None:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Customer {customer_id} not found.")
        customer = found[1]
        if not in_partner_list(customer):
            raise FakeApiError(
                404, CODE_NO_RELATIONSHIP, f"No relationship with customer {customer_id}."
            )
        return customer

    def relationship_request(self) -> dict[str, Any]:
        """The reseller relationship invitation: one link, naming only the partner."""
        partner = self.data.get("partner_id") or "3b33e682-00c3-41ee-9dd2-a548adf56438"
        return {
            "url": "https://admin.microsoft.com/Adminportal/Home?invType=ResellerRelationship"
            f"&partnerId={partner}&msppId=0&DAP=false#/BillingAccounts/partner-invitation",
            "attributes": {"objectType": "RelationshipRequest"},
        }

    def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        key = self.customer(customer_id)["id"]
        return self.data["subscriptions"].get(key, [])  # type: ignore[no-any-return]

    def subscription(self, customer_id: str, subscription_id: str) -> dict[str, Any]:
        for subscription in self.subscriptions(customer_id):
            if subscription["id"].lower() == subscription_id.lower():
                return subscription
        raise FakeApiError(404, CODE_NOT_FOUND, f"Subscription {subscription_id} not found.")

    def entitlements(
        self, customer_id: str, entitlement_type: str | None = None, *, show_expiry: bool = False
    ) -> list[dict[str, Any]]:
        """Entitlements, with `expiryDate` only when asked for, as the service does. One
        past its expiry is still listed (blocking nothing: `_entitlement_live`)."""
        key = self.customer(customer_id)["id"]
        items = []
        for item in self.data["entitlements"].get(key, []):
            if (
                entitlement_type
                and item.get("entitlementType", "").lower() != entitlement_type.lower()
            ):
                continue
            shown = copy.deepcopy(item)
            if not show_expiry:
                shown.pop("expiryDate", None)
            items.append(shown)
        return items

    def order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        key = self.customer(customer_id)["id"]
        for order in self.data["orders"].get(key, []):
            if order["id"].lower() == order_id.lower():
                return order  # type: ignore[no-any-return]
        raise FakeApiError(404, CODE_NOT_FOUND, f"Order {order_id} not found.")

    def is_billing(self, customer_id: str, subscription_id: str) -> bool:
        """Whether the partner is being charged for this subscription right now."""
        return _billing(self.subscription(customer_id, subscription_id))

    def relationship_blockers(self, customer_id: str) -> list[str]:
        """What stops the relationship from being removed, one phrase per kind of blocker."""
        active, suspended_nce, unsettled = [], [], []
        for sub in self.subscriptions(customer_id):
            status = _status(sub)
            if status == "active":
                active.append(sub["id"])
            elif status == "suspended" and classify(sub) is SubscriptionKind.NCE:
                suspended_nce.append(sub["id"])
            elif status not in ("suspended", *FINISHED_STATUSES):
                # Unconfirmed: the service's answer for a subscription in any other state
                # (pending, or one pcr has never seen) is assumed to be a refusal.
                unsettled.append(f"{sub['id']} ({status})")
        reservations = [
            artifact["resourceId"]
            for item in self.entitlements(customer_id, "reservedinstance")
            if self._entitlement_live(item)  # one past its expiry blocks nothing
            for artifact in item.get("entitledArtifacts") or []
            if artifact.get("resourceId")
        ]
        azure = [item["id"] for item in self._live_azure_entitlements(customer_id)]
        blockers = []
        if unsettled:
            blockers.append(f"subscriptions not yet settled: {', '.join(unsettled)}")
        if active:
            blockers.append(f"active subscriptions: {', '.join(active)}")
        if suspended_nce:
            blockers.append(
                "suspended new-commerce subscriptions (still billed; cancel them): "
                + ", ".join(suspended_nce)
            )
        if reservations:
            blockers.append(
                "active Azure reserved instances (cancel through Azure support), "
                f"reservation order ids: {', '.join(reservations)}"
            )
        if azure:
            blockers.append(
                "active Azure subscriptions under an Azure plan (cancel them, then suspend "
                f"the plan): {', '.join(azure)}"
            )
        return blockers

    # -- the lifecycle, applied lazily ---------------------------------------------------

    def apply_lifecycle(self) -> bool:
        """Catch subscription terms up with the clock; True if anything changed.

        At the end of a term (the day after the inclusive `commitmentEndDate`)
        an active NCE, software or SaaS subscription renews if auto-renew is on and
        expires if it is off; a suspended one becomes `disabled`. (The
        lifecycle page says `expired` in one place and `disabled` in another
        for a suspended one; `disabled` is taken here.)
        """
        # Terms only move with the clock, new subscriptions or edits from outside the
        # service's rules (each resets the key): skip the walk over every subscription
        # when none of them happened.
        key = self.data["now"]
        if key == self._lifecycle_key:
            return False
        self._lifecycle_key = key
        changed = False
        now = self.now
        if self._lifecycle_now is None or now > self._lifecycle_now:
            self._lifecycle_now = now
        section = self.data["subscriptions"]
        # Customers still held as text catch up when first read (`_catch_up_decoded`):
        # catching up to each clock in turn comes to the same as catching up to the latest.
        lists = section.decoded() if isinstance(section, LazySection) else section.values()
        for subscriptions in lists:
            for sub in subscriptions:
                if classify(sub) in _TERM_KINDS:
                    changed |= _catch_up_term(sub, now)
        return changed

    def _catch_up_decoded(self, subscriptions: Any) -> None:
        """A customer's subscriptions just decoded from a large file: their terms catch up
        with the clocks the lifecycle has seen, as they would have had they been decoded."""
        if self._lifecycle_now is None or not isinstance(subscriptions, list):
            return
        for sub in subscriptions:
            if isinstance(sub, dict) and classify(sub) in _TERM_KINDS:
                _catch_up_term(sub, self._lifecycle_now)

    def _settle_before_save(self) -> None:
        """Customers a large file still holds as text are saved as they were loaded, and
        catch up when next loaded, to the saved clock. Only when the clock went back below
        the latest the lifecycle saw would that be too early: then they catch up now."""
        section = self.data["subscriptions"]
        if not isinstance(section, LazySection) or self._lifecycle_now is None:
            return
        if self._lifecycle_now > self.now:
            section.decode_all()

    # -- writes --------------------------------------------------------------------------

    def patch_subscription(
        self, customer_id: str, subscription_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """A full-body subscription PATCH: suspend, reactivate, cancel (`deleted`), auto-renew."""
        customer_id = self.customer(customer_id)["id"]
        sub = self.subscription(customer_id, subscription_id)
        kind = classify(sub)
        fields = _lower_keys(body)
        current = _status(sub)
        wanted = str(fields.get("status", current)).lower()
        # The quirk of the real service: a body without autoRenewEnabled turns auto-renew off.
        auto_renew = bool(fields.get("autorenewenabled", False))
        _check_updatable(current, wanted)
        if kind is SubscriptionKind.SAVINGS_PLAN:
            _check_savings_plan(sub, wanted, auto_renew)
        if wanted != current:
            self._check_status_change(customer_id, sub, kind, wanted)
        unchanged_auto_renew = auto_renew == bool(sub.get("autoRenewEnabled"))
        if current == "suspended" and wanted == "suspended" and not unchanged_auto_renew:
            raise FakeApiError(
                400, CODE_SUSPENDED, "Subscription is suspended and cannot be updated."
            )
        if wanted == "deleted" or (wanted == "suspended" and kind is SubscriptionKind.NCE):
            auto_renew = False  # cancelling, or suspending NCE, drops auto-renew

        before = {key: sub.get(key) for key in ("status", "autoRenewEnabled", *_INSTRUCTIONS)}
        sub["status"] = wanted
        sub["autoRenewEnabled"] = auto_renew
        _write_instructions(sub, fields)
        if wanted != current:
            _apply_status(sub, wanted)
            if wanted == "deleted" and kind in _SOFTWARE_KINDS:
                self._cancel_software_line(customer_id, sub)
        changes = {key: [old, sub.get(key)] for key, old in before.items() if old != sub.get(key)}
        if changes:
            self._log(
                origin,
                customer_id,
                sub["id"],
                _subscription_action(current, wanted, changes),
                changes,
                kind=kind.value,
                billing=_billing(sub),
            )
        if wanted == "suspended" and current != "suspended" and kind is SubscriptionKind.LEGACY:
            self._suspend_addons(customer_id, sub, origin)
        return copy.deepcopy(sub)

    def patch_order(
        self, customer_id: str, order_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Cancel software order lines: inside the window only; the linked subscriptions end too."""
        customer_id = self.customer(customer_id)["id"]
        order = self.order(customer_id, order_id)
        fields = _lower_keys(body)
        if str(fields.get("status", "")).lower() != "cancelled":
            raise FakeApiError(
                400, CODE_INVALID_REQUEST, "An order update must set status to cancelled."
            )
        requested = [_lower_keys(line) for line in fields.get("lineitems") or []]
        if not requested:
            raise FakeApiError(400, CODE_INVALID_REQUEST, "No line items to cancel.")
        targets = [self._cancellable_line(customer_id, order, line) for line in requested]
        lines = [line["lineItemNumber"] for line, _ in targets if line.get("quantity")]
        if not lines:  # already cancelled: nothing changes, nothing to log
            return copy.deepcopy(order)
        before = order.get("status")
        for line, sub in targets:
            line["quantity"] = 0
            if sub is not None and _status(sub) != "deleted":
                sub["status"], sub["autoRenewEnabled"] = "deleted", False
            self._drop_software_entitlements(customer_id, order["id"], line)
        _settle_order_status(order)
        self._log(
            origin,
            customer_id,
            order["id"],
            "cancel_order",
            {"status": [before, order["status"]]},
            lines=lines,
            billing=False,
        )
        return copy.deepcopy(order)

    def patch_customer(
        self, customer_id: str, body: dict[str, Any], origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Remove the reseller relationship, unless something still blocks it."""
        customer = self.customer(customer_id)
        customer_id = customer["id"]
        fields = _lower_keys(body)
        if str(fields.get("relationshiptopartner", "")).lower() != "none":
            raise FakeApiError(
                400, CODE_INVALID_REQUEST, "Only relationshipToPartner: none can be set here."
            )
        blockers = self.relationship_blockers(customer_id)
        if blockers:
            raise FakeApiError(
                400,
                CODE_RELATIONSHIP_BLOCKED,
                "The reseller relationship cannot be removed: " + "; ".join(blockers) + ".",
            )
        before = customer["relationshipToPartner"]
        customer["relationshipToPartner"] = "none"
        customer["allowDelegatedAccess"] = False  # removal takes delegated admin with it
        self._log(
            origin,
            customer_id,
            customer_id,
            "remove_relationship",
            {"relationshipToPartner": [before, "none"]},
        )
        # The service answers with a mostly-null Customer (reference sheet §8).
        return {
            "id": None,
            "commerceId": None,
            "companyProfile": None,
            "billingProfile": None,
            "relationshipToPartner": "none",
            "allowDelegatedAccess": None,
            "userCredentials": None,
            "customDomains": None,
            "attributes": {"objectType": "Customer"},
        }

    def cancel_reserved_instance(self, customer_id: str, reservation_order_id: str) -> None:
        """What an Azure support request does: the reservation ends. There is no API for it."""
        customer_id = self.customer(customer_id)["id"]
        items = self.data["entitlements"].get(customer_id, [])
        kept = [
            item
            for item in items
            if reservation_order_id
            not in [a.get("resourceId") for a in item.get("entitledArtifacts") or []]
        ]
        if len(kept) == len(items):
            raise FakeApiError(
                404, CODE_NOT_FOUND, f"Reservation order {reservation_order_id} not found."
            )
        self.data["entitlements"][customer_id] = kept
        self._log(
            Origin("SUPPORT"),
            customer_id,
            reservation_order_id,
            "cancel_reserved_instance",
            {"entitlement": ["live", "cancelled"]},
        )

    # -- Azure entitlements: the Azure subscriptions under an Azure plan (§14) ------------

    def azure_entitlements(self, customer_id: str, plan_id: str) -> list[dict[str, Any]]:
        """The plan's Azure subscriptions; the list counts as a read of each one."""
        customer_id, plan = self._azure_plan(customer_id, plan_id)
        items = self._plan_entitlements(customer_id, plan["id"])
        for item in items:
            self._count_read(item)
        return copy.deepcopy(items)

    def azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str
    ) -> dict[str, Any]:
        item = self._find_azure_entitlement(customer_id, plan_id, entitlement_id)
        self._count_read(item)
        return copy.deepcopy(item)

    def cancel_azure_entitlement(
        self,
        customer_id: str,
        plan_id: str,
        entitlement_id: str,
        body: dict[str, Any] | None,
        origin: Origin = DIRECT,
    ) -> dict[str, Any]:
        """Start cancelling: the answer still says `active`; later reads (or 10 minutes on
        the clock) turn it `inactive`, as the real one takes about 10 minutes."""
        customer_id = self.customer(customer_id)["id"]
        item = self._find_azure_entitlement(customer_id, plan_id, entitlement_id)
        _check_cancellation_reason(body)
        key = item["id"].lower()
        cancellations = self.data["azureCancellations"]
        if _status(item) != "active" or key in cancellations:
            return copy.deepcopy(item)  # Unconfirmed: a repeated cancel taken as a no-op.
        reads = int(self.data["azureCancelReads"])
        cancellations[key] = {"reads_left": reads, "cancelled_at": self.data["now"]}
        self._log(
            origin,
            customer_id,
            item["id"],
            "cancel_azure_entitlement",
            {"status": ["active", "cancelling"]},
            plan=item.get("subscriptionId"),
            billing=False,
        )
        if reads == 0:
            self._settle(item)
        return copy.deepcopy(item)

    def reactivate_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str, origin: Origin = DIRECT
    ) -> dict[str, Any]:
        """Active again, a pending cancellation withdrawn; only under an active plan."""
        customer_id, plan = self._azure_plan(customer_id, plan_id)
        item = self._find_azure_entitlement(customer_id, plan_id, entitlement_id)
        if _status(plan) != "active":
            raise FakeApiError(
                400,
                CODE_CANNOT_REACTIVATE,
                f"Azure plan {plan['id']} is {_status(plan)}; its Azure subscriptions "
                "can't be reactivated.",
            )
        pending = self.data["azureCancellations"].pop(item["id"].lower(), None)
        before = "cancelling" if pending is not None else _status(item)
        if before == "active":
            return copy.deepcopy(item)
        item["status"] = "active"
        self._log(
            origin,
            customer_id,
            item["id"],
            "reactivate_azure_entitlement",
            {"status": [before, "active"]},
            plan=item.get("subscriptionId"),
            billing=True,
        )
        return copy.deepcopy(item)

    def _azure_plan(self, customer_id: str, plan_id: str) -> tuple[str, dict[str, Any]]:
        """The customer's canonical id and its Azure plan `plan_id` (404 for anything else)."""
        customer_id = self.customer(customer_id)["id"]
        plan = self.subscription(customer_id, plan_id)
        if classify(plan) is not SubscriptionKind.AZURE:
            raise FakeApiError(404, CODE_NOT_FOUND, f"Subscription {plan_id} is not an Azure plan.")
        return customer_id, plan

    def _plan_entitlements(self, customer_id: str, plan_id: str) -> list[dict[str, Any]]:
        items = [
            item
            for item in self.data["azureEntitlements"].get(customer_id, [])
            if str(item.get("subscriptionId") or "").lower() == plan_id.lower()
        ]
        self._settle_by_clock(items)
        return items

    def _find_azure_entitlement(
        self, customer_id: str, plan_id: str, entitlement_id: str
    ) -> dict[str, Any]:
        customer_id, plan = self._azure_plan(customer_id, plan_id)
        for item in self._plan_entitlements(customer_id, plan["id"]):
            if item["id"].lower() == entitlement_id.lower():
                return item
        raise FakeApiError(
            404, CODE_AZURE_ENTITLEMENT_NOT_FOUND, f"Azure entitlement {entitlement_id} not found."
        )

    def _live_azure_entitlements(
        self, customer_id: str, plan_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Active Azure subscriptions (an unsettled cancellation still is one), of one plan
        or of all the customer's plans."""
        if plan_id is None:
            items = list(self.data["azureEntitlements"].get(customer_id, []))
            self._settle_by_clock(items)
        else:
            items = self._plan_entitlements(customer_id, plan_id)
        return [item for item in items if _status(item) == "active"]

    def _count_read(self, item: dict[str, Any]) -> None:
        pending = self.data["azureCancellations"].get(item["id"].lower())
        if pending is None:
            return
        pending["reads_left"] -= 1
        if pending["reads_left"] <= 0:
            self._settle(item)

    def _settle_by_clock(self, items: list[dict[str, Any]]) -> None:
        """However few reads there were, the real cancellation is done after 10 minutes."""
        cancellations = self.data["azureCancellations"]
        for item in items:
            pending = cancellations.get(item["id"].lower())
            if pending is None:
                continue
            if self.now >= parse_now(pending["cancelled_at"]) + AZURE_CANCEL_SETTLES_AFTER:
                self._settle(item)

    def _settle(self, item: dict[str, Any]) -> None:
        """The cancellation is done: billing stopped, the Azure subscription disabled."""
        self.data["azureCancellations"].pop(item["id"].lower(), None)
        item["status"] = "inactive"

    # -- rule helpers --------------------------------------------------------------------

    def _check_status_change(
        self, customer_id: str, sub: dict[str, Any], kind: SubscriptionKind, wanted: str
    ) -> None:
        """The rules for moving a subscription to `wanted`, by what kind of thing it is."""
        if wanted == "deleted":
            self._check_cancellable(customer_id, sub, kind)
        elif wanted == "suspended":
            self._check_suspendable(customer_id, sub, kind)
        if wanted in ("deleted", "suspended") and kind is not SubscriptionKind.LEGACY:
            # Legacy add-ons follow their base (see `_suspend_addons`); anything else
            # would leave add-ons outliving their base, which Microsoft warns against.
            live = [a["id"] for a in self._addons(customer_id, sub) if _status(a) == "active"]
            if live:
                raise FakeApiError(
                    400,
                    CODE_ADDONS_LIVE,
                    f"Subscription {sub['id']} has active add-ons: {', '.join(live)}. "
                    "Cancel or suspend the add-ons first.",
                )

    def _check_cancellable(
        self, customer_id: str, sub: dict[str, Any], kind: SubscriptionKind
    ) -> None:
        if kind is SubscriptionKind.LEGACY:
            raise FakeApiError(
                400,
                CODE_STATUS_NOT_UPDATABLE,
                "Legacy subscriptions can't be cancelled; suspend them instead.",
            )
        if sub.get("isTrial") is True:
            return  # Unconfirmed: a trial is taken to be cancellable at any time.
        code, window, until = self._cancel_deadline(customer_id, sub, kind)
        if until is not None and self.now > until:
            raise FakeApiError(
                400, code, f"The {window} cancellation window passed on {format_time(until)}."
            )

    def _cancel_deadline(
        self, customer_id: str, sub: dict[str, Any], kind: SubscriptionKind
    ) -> tuple[int, str, datetime | None]:
        """The refusal code once the window has passed, the window's name, and its end."""
        if kind is SubscriptionKind.SAAS:
            return CODE_SAAS_WINDOW_PASSED, f"{SAAS_WINDOW_HOURS}-hour", _saas_deadline(sub)
        window = f"{_window_days(sub)}-day"
        if kind is SubscriptionKind.PERPETUAL_SOFTWARE:
            order = self._sub_order(customer_id, sub)
            return CODE_WINDOW_PASSED, window, _software_deadline(sub, sub, order)
        return CODE_WINDOW_PASSED, window, parse_time(sub.get("cancellationAllowedUntilDate"))

    def _check_suspendable(
        self, customer_id: str, sub: dict[str, Any], kind: SubscriptionKind
    ) -> None:
        if sub.get("isTrial") is True:
            raise FakeApiError(
                400,
                CODE_STATUS_NOT_UPDATABLE,
                "A trial's status can't be changed; cancel it or turn auto-renew off.",
            )
        if kind is SubscriptionKind.SAAS:
            # Seat-based marketplace SaaS is cancelled, never suspended (docs/partner-center.md:
            # error 800077 is the service's word for it).
            raise FakeApiError(
                403,
                CODE_SAAS_CANCEL_ONLY,
                "Marketplace SaaS subscriptions can't be suspended; cancel them instead.",
            )
        if kind is SubscriptionKind.AZURE:
            live = [i["id"] for i in self._live_azure_entitlements(customer_id, sub["id"])]
            if live:
                raise FakeApiError(
                    403,
                    CODE_USAGE_ASSETS_ACTIVE,
                    "The Azure plan can't be suspended while it has active usage assets; "
                    f"cancel these Azure subscriptions first: {', '.join(live)}.",
                )

    def _addons(self, customer_id: str, base: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            sub
            for sub in self.data["subscriptions"].get(customer_id, [])
            if str(sub.get("parentSubscriptionId") or "").lower() == base["id"].lower()
        ]

    def _suspend_addons(self, customer_id: str, base: dict[str, Any], origin: Origin) -> None:
        """Suspending a legacy base suspends its active add-ons too (reference sheet §15)."""
        for addon in self._addons(customer_id, base):
            if _status(addon) != "active":
                continue
            kind = classify(addon)
            before = {key: addon.get(key) for key in ("status", "autoRenewEnabled")}
            addon["status"] = "suspended"
            if kind is SubscriptionKind.NCE:
                addon["autoRenewEnabled"] = False
            _apply_status(addon, "suspended")
            changes = {k: [old, addon.get(k)] for k, old in before.items() if old != addon.get(k)}
            self._log(
                origin,
                customer_id,
                addon["id"],
                "suspend",
                changes,
                kind=kind.value,
                billing=_billing(addon),
                parent=base["id"],
            )

    def _sub_order(self, customer_id: str, sub: dict[str, Any]) -> dict[str, Any] | None:
        order_id = str(sub.get("orderId") or "").lower()
        for order in self.data["orders"].get(customer_id, []):
            if order_id and order["id"].lower() == order_id:
                return order  # type: ignore[no-any-return]
        return None

    def _cancellable_line(
        self, customer_id: str, order: dict[str, Any], requested: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The order line a cancel request names, with its subscription, if it may be cancelled."""
        number = requested.get("lineitemnumber")
        line = next(
            (item for item in order.get("lineItems") or [] if item.get("lineItemNumber") == number),
            None,
        )
        if line is None:
            raise FakeApiError(400, CODE_INVALID_REQUEST, f"Order has no line item {number}.")
        if str(requested.get("offerid", "")).lower() != str(line.get("offerId", "")).lower():
            raise FakeApiError(400, CODE_INVALID_REQUEST, f"Line item {number}: offer id mismatch.")
        sub = self._line_subscription(customer_id, line)
        if sub is not None and classify(sub) not in _SOFTWARE_KINDS:
            raise FakeApiError(
                400,
                CODE_NOT_SOFTWARE,
                f"Line item {number} is not a software purchase; cancel its subscription instead.",
            )
        if not line.get("quantity", 0):
            return line, sub  # already cancelled: no window to check
        deadline = _software_deadline(sub, order, sub)
        if self.now > deadline:
            raise FakeApiError(
                400,
                CODE_WINDOW_PASSED,
                f"The {_window_days(sub)}-day cancellation window for line item {number} "
                f"passed on {format_time(deadline)}.",
            )
        return line, sub

    def _line_subscription(self, customer_id: str, line: dict[str, Any]) -> dict[str, Any] | None:
        sid = line.get("subscriptionId")
        for sub in self.data["subscriptions"].get(customer_id, []):
            if sid and sub["id"].lower() == str(sid).lower():
                return sub  # type: ignore[no-any-return]
        return None

    def _cancel_software_line(self, customer_id: str, sub: dict[str, Any]) -> None:
        """A software subscription cancelled directly: its order line is cancelled with it."""
        for order in self.data["orders"].get(customer_id, []):
            for line in order.get("lineItems") or []:
                if str(line.get("subscriptionId", "")).lower() == sub["id"].lower():
                    line["quantity"] = 0
                    self._drop_software_entitlements(customer_id, order["id"], line)
                    _settle_order_status(order)

    def _drop_software_entitlements(
        self, customer_id: str, order_id: str, line: dict[str, Any]
    ) -> None:
        """A cancelled software purchase grants nothing any more."""

        def granted_by_line(item: dict[str, Any]) -> bool:
            reference = item.get("referenceOrder") or {}
            return bool(
                item.get("entitlementType", "").lower() == "software"
                and reference.get("id") == order_id
                and str(reference.get("lineItemId")) == str(line.get("lineItemNumber"))
            )

        items = self.data["entitlements"].get(customer_id, [])
        self.data["entitlements"][customer_id] = [i for i in items if not granted_by_line(i)]

    def _entitlement_live(self, item: dict[str, Any]) -> bool:
        expiry = parse_time(item.get("expiryDate"))
        return expiry is None or expiry > self.now


# -- pure helpers on wire dicts ----------------------------------------------------------


def _empty_sections() -> dict[str, Any]:
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


def parse_now(value: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    return parsed


def encode_token(payload: dict[str, Any]) -> str:
    """An opaque continuation token (the client must not look inside)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "Invalid continuation token.") from None
    if not isinstance(payload, dict):
        raise FakeApiError(400, CODE_INVALID_REQUEST, "Invalid continuation token.")
    return payload


def in_partner_list(customer: dict[str, Any]) -> bool:
    """A customer whose relationship was removed is gone from the partner's view."""
    return str(customer.get("relationshipToPartner") or "none").lower() != "none"


def _status(sub: dict[str, Any]) -> str:
    return str(sub.get("status") or "none").lower()


def _lower_keys(body: Any) -> dict[str, Any]:
    """Field names compare case-insensitively: the docs' own examples send PascalCase."""
    if not isinstance(body, dict):
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The request body must be a JSON object.")
    return {str(key).lower(): value for key, value in body.items()}


def _check_cancellation_reason(body: dict[str, Any] | None) -> None:
    fields = _lower_keys(body) if body is not None else {}
    reason = fields.get("cancellationreason")
    if not reason:
        raise FakeApiError(
            400, CODE_MISSING_BODY, "The request body with a cancellationReason is required."
        )
    # "compromise" is the only documented reason; whether others exist is unconfirmed.
    if str(reason).lower() != "compromise":
        raise FakeApiError(400, CODE_BAD_CANCEL_REASON, f"Invalid cancellationReason {reason!r}.")


def _billing(sub: dict[str, Any]) -> bool:
    """Active subscriptions bill; a suspended NCE one still bills the partner, a legacy one not."""
    status = _status(sub)
    if status == "active":
        return True
    return status == "suspended" and classify(sub) is SubscriptionKind.NCE


def _apply_status(sub: dict[str, Any], wanted: str) -> None:
    if wanted == "suspended":
        sub["suspensionReasons"] = ["ResellerInitiated"]
        sub.pop("scheduledNextTermInstructions", None)  # suspension drops scheduled changes
    else:
        sub.pop("suspensionReasons", None)


def _subscription_action(current: str, wanted: str, changes: dict[str, list[Any]]) -> str:
    if wanted != current:
        return {"suspended": "suspend", "active": "reactivate", "deleted": "cancel"}[wanted]
    # Only instructions dropped by the full-body quirk: not an auto-renew update.
    return "update_auto_renew" if "autoRenewEnabled" in changes else "update"


def _check_updatable(current: str, wanted: str) -> None:
    if current == "deleted":
        raise FakeApiError(400, CODE_DELETED, "Subscription is deleted and cannot be updated.")
    if current in ("expired", "disabled"):
        raise FakeApiError(
            400, CODE_STATUS_NOT_UPDATABLE, f"Subscription is {current}; it can't be updated."
        )
    if wanted not in ("active", "suspended", "deleted"):
        raise FakeApiError(400, CODE_INVALID_REQUEST, f"Unsupported status {wanted!r}.")


def _check_savings_plan(sub: dict[str, Any], wanted: str, auto_renew: bool) -> None:
    """Savings plan purchases are final: neither status nor auto-renew change here."""
    if wanted != _status(sub) or auto_renew != bool(sub.get("autoRenewEnabled")):
        raise FakeApiError(
            400,
            CODE_SAVINGS_PLAN_FINAL,
            "Savings plan purchases are final; manage it in the Azure portal.",
        )


def _write_instructions(sub: dict[str, Any], fields: dict[str, Any]) -> None:
    """The full-body quirk: instructions the body leaves out are dropped, the rest written."""
    for name in _INSTRUCTIONS:
        value = fields.get(name.lower())
        if value is None:
            sub.pop(name, None)
        else:
            sub[name] = copy.deepcopy(value)


def _software_deadline(sub: dict[str, Any] | None, *dated: dict[str, Any] | None) -> datetime:
    """The subscription's own window if it has one, else the window's days from the purchase
    (the `creationDate` of the first of `dated` that has one), end of day."""
    until = parse_time((sub or {}).get("cancellationAllowedUntilDate"))
    if until is not None:
        return until
    created = next(
        (when for item in dated if (when := parse_time((item or {}).get("creationDate")))),
        None,
    )
    if created is None:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The purchase has no creation date.")
    return window_end(created, _window_days(sub))


def _window_days(sub: dict[str, Any] | None) -> int:
    perpetual = sub is not None and classify(sub) is SubscriptionKind.PERPETUAL_SOFTWARE
    return PERPETUAL_WINDOW_DAYS if perpetual else CANCELLATION_WINDOW_DAYS


def _saas_deadline(sub: dict[str, Any]) -> datetime:
    """The subscription's own window if it has one, else 72 hours from the term's start."""
    until = parse_time(sub.get("cancellationAllowedUntilDate"))
    if until is not None:
        return until
    start = parse_time(sub.get("effectiveStartDate")) or parse_time(sub.get("creationDate"))
    if start is None:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The subscription has no start date.")
    return start + timedelta(hours=SAAS_WINDOW_HOURS)


def window_end(start: datetime, days: int = CANCELLATION_WINDOW_DAYS) -> datetime:
    """Purchase or renewal + `days`, at 23:59:00 UTC: how the service states the window."""
    day = (start.astimezone(UTC) + timedelta(days=days)).date()
    return datetime.combine(day, time(23, 59), tzinfo=UTC)


def _settle_order_status(order: dict[str, Any]) -> None:
    lines = order.get("lineItems") or []
    order["status"] = (
        "cancelled" if all(not line.get("quantity") for line in lines) else "completed"
    )


def _catch_up_term(sub: dict[str, Any], now: datetime) -> bool:
    changed = False
    while True:
        end = parse_time(sub.get("commitmentEndDate"))
        months = _MONTHS_PER_TERM.get(str(sub.get("termDuration") or "").upper())
        if end is None:
            return changed
        term_end = _midnight(end) + timedelta(days=1)  # commitmentEndDate is inclusive
        if now < term_end:
            return changed
        status = _status(sub)
        if status == "active" and sub.get("autoRenewEnabled") and months:
            _renew(sub, term_end, months)
        elif status == "active":
            sub["status"] = "expired"
        elif status == "suspended":
            sub["status"] = "disabled"
        else:
            return changed
        changed = True


def _renew(sub: dict[str, Any], start: datetime, months: int) -> None:
    sub["effectiveStartDate"] = format_time(start)
    sub["commitmentEndDate"] = format_time(add_months(start, months) - timedelta(days=1))
    if classify(sub) is SubscriptionKind.SAAS:  # SaaS: one 72-hour full-refund window
        until = start + timedelta(hours=SAAS_WINDOW_HOURS)
        sub["cancellationAllowedUntilDate"] = format_time(until)
        sub["refundOptions"] = [{"type": "Full", "expiresAt": format_time(until)}]
        return
    sub["cancellationAllowedUntilDate"] = format_time(window_end(start))
    sub["refundOptions"] = [{"type": "Full", "expiresAt": format_time(start + timedelta(days=1))}]


def _midnight(value: datetime) -> datetime:
    return datetime.combine(value.astimezone(UTC).date(), time(0), tzinfo=UTC)


def add_months(start: datetime, months: int) -> datetime:
    """Calendar months, the day clamped to the target month's length (Jan 31 + 1 month = Feb 28)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last_day = (next_month - timedelta(days=1)).day
    return start.replace(year=year, month=month, day=min(start.day, last_day))


# -- the state file ----------------------------------------------------------------------

# From this size on, a state file is read a chunk at a time and its sections keyed by
# customer are decoded a customer at a time, when first read: a plan against 100,000
# customers reads the details of a few hundred of them.
LAZY_FROM_BYTES = 16 * 1024 * 1024
_LAZY_SECTIONS = frozenset({"subscriptions", "entitlements", "orders", "azureEntitlements"})
_READ_CHUNK = 4 * 1024 * 1024  # characters
_WRITE_BUFFER = 1024 * 1024
_COMPACT = json.JSONEncoder(separators=(",", ":"))
# json's own scanner: one value decoded from a position in a string, and where it ends.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _is_default(value: Any, default: Any) -> bool:
    if isinstance(value, LazySection):
        return len(value) == 0 and default == {}
    return bool(value == default)


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


class _Text:
    """One customer's entry in a `LazySection`, still as its JSON text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class LazySection(MutableMapping[str, Any]):
    """A section of a large state file keyed by customer id, whose entries stay JSON text
    until first read: then decoded, once, and kept decoded (`on_decode` sees each, as the
    state catches terms up with the clock on it). Saved, an entry still held as text is
    written as it is when the file it came from was compact, re-encoded compactly if not.
    """

    def __init__(self, items: dict[str, Any], *, compact: bool) -> None:
        self._items = items
        self._compact = compact
        self.on_decode: Callable[[Any], None] | None = None

    def __getitem__(self, key: str) -> Any:
        value = self._items[key]
        if type(value) is _Text:
            value = json.loads(value.text)
            self._items[key] = value
            if self.on_decode is not None:
                self.on_decode(value)
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __repr__(self) -> str:
        held = sum(type(value) is _Text for value in self._items.values())
        return f"<LazySection of {len(self)} ({held} not yet decoded)>"

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(dict(self.items()), memo)

    def decoded(self) -> Iterator[Any]:
        """The entries decoded so far (none is decoded by this)."""
        return (value for value in self._items.values() if type(value) is not _Text)

    def decode_all(self) -> None:
        for key in self._items:
            self[key]

    def write_json(self, out: TextIO) -> None:
        encode = _COMPACT.encode
        out.write("{")
        separator = ""
        for key, value in self._items.items():
            if type(value) is not _Text:
                text = encode(value)
            elif self._compact:
                text = value.text
            else:  # from a pretty-printed file: held compactly from now on
                text = encode(json.loads(value.text))
                self._items[key] = _Text(text)
            out.write(f"{separator}{encode(key)}:{text}")
            separator = ","
        out.write("}")
        self._compact = True


def _read_lazily(handle: TextIO) -> dict[str, Any]:
    """The state document in `handle`, its sections keyed by customer as `LazySection`s."""
    reader = _Reader(handle)
    data: dict[str, Any] = {}
    lazy: list[dict[str, Any]] = []
    reader.take("{")
    if reader.peek() == "}":
        reader.take("}")
    else:
        while True:
            key = reader.key()
            if key in _LAZY_SECTIONS and reader.peek() == "{":
                entries = reader.texts()
                lazy.append(entries)
                data[key] = entries
            else:
                data[key] = reader.value()
            if reader.after_member() == "}":
                break
    # Whitespace between the members is what tells a pretty-printed file from a compact one.
    compact = not reader.spaced
    if reader.peek() != "":
        raise reader.error("Extra data")
    for key, value in data.items():
        if any(value is entries for entries in lazy):
            data[key] = LazySection(value, compact=compact)
    return data


class _Reader:
    """A JSON document read from a text stream a chunk at a time: values are decoded by
    `json`'s own scanner, each from a buffer that holds at least all of it."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._buffer = ""
        self._pos = 0
        self._dropped = 0  # characters read and dropped before the buffer's start
        self._eof = False
        self.spaced = False  # any whitespace between members so far?

    def _more(self, wanted: int) -> bool:
        """Read on (at least `wanted` characters, if there are); False at the end."""
        if self._eof:
            return False
        chunk = self._handle.read(max(wanted, _READ_CHUNK))
        if not chunk:
            self._eof = True
            return False
        self._dropped += self._pos
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def error(self, message: str) -> ValueError:
        return ValueError(
            f"{message}: not the fake's JSON at character {self._dropped + self._pos}"
        )

    def peek(self) -> str:
        """The next character that is not whitespace; '' at the end."""
        while True:
            match = _WHITESPACE.match(self._buffer, self._pos)
            end = match.end() if match else self._pos
            if end > self._pos:
                self.spaced = True
                self._pos = end
            if end < len(self._buffer):
                return self._buffer[end]
            if not self._more(_READ_CHUNK):
                return ""

    def take(self, char: str) -> None:
        if self.peek() != char:
            raise self.error(f"Expecting {char!r}")
        self._pos += 1

    def after_member(self) -> str:
        """After an object's member: ',' (taken; another follows) or '}' (taken: the end)."""
        char = self.peek()
        if char not in (",", "}"):
            raise self.error("Expecting ',' delimiter")
        self._pos += 1
        return char

    def key(self) -> str:
        if self.peek() != '"':
            raise self.error("Expecting property name enclosed in double quotes")
        key = self.value()
        self.take(":")
        return str(key)

    def value(self) -> Any:
        return self._scan()[0]

    def texts(self) -> dict[str, _Text]:
        """An object whose values are kept as their JSON text."""
        self.take("{")
        entries: dict[str, _Text] = {}
        if self.peek() == "}":
            self._pos += 1
            return entries
        while True:
            key = self.key()
            length = self._scan()[1]
            entries[key] = _Text(self._buffer[self._pos - length : self._pos])
            if self.after_member() == "}":
                return entries

    def _scan(self) -> tuple[Any, int]:
        """The next value, decoded, and its length in characters; the buffer holds it whole
        afterwards, ending at the position."""
        self.peek()
        wanted = _READ_CHUNK
        while True:
            start = self._pos
            try:
                value, end = _SCAN(self._buffer, start)
            except (StopIteration, json.JSONDecodeError) as exc:
                # Most likely the buffer ends inside the value: read on, twice as much each
                # time, so that a large value costs at most twice its decoding.
                if self._more(wanted):
                    wanted *= 2
                    continue
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "Expecting value"
                raise self.error(reason) from None
            if end == len(self._buffer) and self._more(wanted):
                wanted *= 2  # a number may go on past the buffer's end
                continue
            self._pos = end
            return value, end - start
