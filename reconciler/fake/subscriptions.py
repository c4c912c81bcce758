"""The subscription PATCH: suspend, reactivate, cancel (`deleted`) and auto-renew, with the
rules for each kind of subscription (docs/partner-center.md: "Cancelling and changing",
"Trials", "Add-ons").

The PATCH takes the full resource: what the body leaves out is taken as switched off
(auto-renew, the next term's instructions), as the real service does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.fake import terms
from reconciler.fake.azure import AzureEntitlements
from reconciler.fake.errors import CODE_ADDONS_LIVE
from reconciler.fake.errors import CODE_DELETED
from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import CODE_SAAS_CANCEL_ONLY
from reconciler.fake.errors import CODE_SAAS_WINDOW_PASSED
from reconciler.fake.errors import CODE_SAVINGS_PLAN_FINAL
from reconciler.fake.errors import CODE_STATUS_NOT_UPDATABLE
from reconciler.fake.errors import CODE_SUSPENDED
from reconciler.fake.errors import CODE_USAGE_ASSETS_ACTIVE
from reconciler.fake.errors import CODE_WINDOW_PASSED
from reconciler.fake.errors import FakeApiError
from reconciler.fake.mutations import Origin
from reconciler.fake.parts import ServicePart
from reconciler.fake.software import SOFTWARE_KINDS
from reconciler.fake.software import SoftwareOrders
from reconciler.fake.wire import fields
from reconciler.fake.wire import status_of
from reconciler.live.models import SubscriptionKind
from reconciler.live.models import classify
from reconciler.live.models import parse_time
from reconciler.timestamps import format_time

# What a full-body PATCH drops when the body leaves it out (docs/partner-center.md,
# "Cancelling and changing").
_INSTRUCTIONS = ("scheduledNextTermInstructions", "nextChargeInstructions")
_LOGGED = ("status", "autoRenewEnabled", *_INSTRUCTIONS)


def billing(sub: dict[str, Any]) -> bool:
    """Active subscriptions bill; a suspended NCE one still bills the partner, a legacy one not."""
    status = status_of(sub)
    if status == "active":
        return True
    return status == "suspended" and classify(sub) is SubscriptionKind.NCE


@dataclass(eq=False, repr=False)
class SubscriptionUpdates(ServicePart):
    """What a subscription PATCH may change, and what changing it does."""

    _azure: AzureEntitlements
    _software: SoftwareOrders

    def patch(
        self, customer_id: str, subscription_id: str, body: dict[str, Any], origin: Origin
    ) -> dict[str, Any]:
        """A full-body subscription PATCH; the subscription as it is afterwards."""
        customer_id = self._estate.customer(customer_id)["id"]
        sub = self._estate.subscription(customer_id, subscription_id)
        kind = classify(sub)
        asked = fields(body)
        current = status_of(sub)
        wanted = str(asked.get("status", current)).lower()
        # The quirk of the real service: a body without autoRenewEnabled turns auto-renew off.
        auto_renew = bool(asked.get("autorenewenabled", False))
        auto_renew = self._allowed(customer_id, sub, kind, wanted, auto_renew)
        before = {key: sub.get(key) for key in _LOGGED}
        sub["status"], sub["autoRenewEnabled"] = wanted, auto_renew
        _write_instructions(sub, asked)
        if wanted != current:
            _apply_status(sub, wanted)
            if wanted == "deleted" and kind in SOFTWARE_KINDS:
                self._software.cancel_line_of(customer_id, sub)
        if changes := _changes(before, sub):
            self._log.record(
                origin,
                customer_id,
                sub["id"],
                _action(current, wanted, changes),
                changes,
                kind=kind.value,
                billing=billing(sub),
            )
        if wanted == "suspended" and current != "suspended" and kind is SubscriptionKind.LEGACY:
            self._suspend_addons(customer_id, sub, origin)
        return copy.deepcopy(sub)

    def _allowed(
        self,
        customer_id: str,
        sub: dict[str, Any],
        kind: SubscriptionKind,
        wanted: str,
        auto_renew: bool,
    ) -> bool:
        """Refuse what the rules forbid; the auto-renew the subscription is left with."""
        current = status_of(sub)
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
            return False  # cancelling, or suspending NCE, drops auto-renew
        return auto_renew

    # -- the rules for a status change ---------------------------------------------------

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
            live = [a["id"] for a in self._addons(customer_id, sub) if status_of(a) == "active"]
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
        if until is not None and self._clock.now > until:
            raise FakeApiError(
                400, code, f"The {window} cancellation window passed on {format_time(until)}."
            )

    def _cancel_deadline(
        self, customer_id: str, sub: dict[str, Any], kind: SubscriptionKind
    ) -> tuple[int, str, datetime | None]:
        """The refusal code once the window has passed, the window's name, and its end."""
        if kind is SubscriptionKind.SAAS:
            hours = terms.SAAS_WINDOW_HOURS
            return CODE_SAAS_WINDOW_PASSED, f"{hours}-hour", terms.saas_deadline(sub)
        window = f"{terms.window_days(sub)}-day"
        if kind is SubscriptionKind.PERPETUAL_SOFTWARE:
            order = self._software.order_of(customer_id, sub)
            return CODE_WINDOW_PASSED, window, terms.software_deadline(sub, sub, order)
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
            live = [i["id"] for i in self._azure.live(customer_id, sub["id"])]
            if live:
                raise FakeApiError(
                    403,
                    CODE_USAGE_ASSETS_ACTIVE,
                    "The Azure plan can't be suspended while it has active usage assets; "
                    f"cancel these Azure subscriptions first: {', '.join(live)}.",
                )

    # -- add-ons -------------------------------------------------------------------------

    def _addons(self, customer_id: str, base: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            sub
            for sub in self._estate.held("subscriptions", customer_id)
            if str(sub.get("parentSubscriptionId") or "").lower() == base["id"].lower()
        ]

    def _suspend_addons(self, customer_id: str, base: dict[str, Any], origin: Origin) -> None:
        """Suspending a legacy base suspends its active add-ons too (docs/partner-center.md,
        "Add-ons")."""
        for addon in self._addons(customer_id, base):
            if status_of(addon) != "active":
                continue
            kind = classify(addon)
            before = {key: addon.get(key) for key in ("status", "autoRenewEnabled")}
            addon["status"] = "suspended"
            if kind is SubscriptionKind.NCE:
                addon["autoRenewEnabled"] = False
            _apply_status(addon, "suspended")
            self._log.record(
                origin,
                customer_id,
                addon["id"],
                "suspend",
                _changes(before, addon),
                kind=kind.value,
                billing=billing(addon),
                parent=base["id"],
            )


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
    if wanted != status_of(sub) or auto_renew != bool(sub.get("autoRenewEnabled")):
        raise FakeApiError(
            400,
            CODE_SAVINGS_PLAN_FINAL,
            "Savings plan purchases are final; manage it in the Azure portal.",
        )


def _apply_status(sub: dict[str, Any], wanted: str) -> None:
    if wanted == "suspended":
        sub["suspensionReasons"] = ["ResellerInitiated"]
        sub.pop("scheduledNextTermInstructions", None)  # suspension drops scheduled changes
    else:
        sub.pop("suspensionReasons", None)


def _write_instructions(sub: dict[str, Any], asked: dict[str, Any]) -> None:
    """The full-body quirk: instructions the body leaves out are dropped, the rest written."""
    for name in _INSTRUCTIONS:
        value = asked.get(name.lower())
        if value is None:
            sub.pop(name, None)
        else:
            sub[name] = copy.deepcopy(value)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """[old, new] for each field of `before` that `after` holds differently."""
    return {key: [old, after.get(key)] for key, old in before.items() if old != after.get(key)}


def _action(current: str, wanted: str, changes: dict[str, list[Any]]) -> str:
    if wanted != current:
        return {"suspended": "suspend", "active": "reactivate", "deleted": "cancel"}[wanted]
    # Only instructions dropped by the full-body quirk: not an auto-renew update.
    return "update_auto_renew" if "autoRenewEnabled" in changes else "update"
