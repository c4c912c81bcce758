"""What an action type is, whole: an `ActionKind`, one per type, each in a module of its own
in this package, registered in `reconciler.plan.actions.KINDS`.

A kind holds everything pcr knows of its type: what plans call it (verb, marker, the noun
a headline counts it by); what it may take away (destructive: refused for a protected
customer and for a domain that does not match; irreversible, with what a reviewer must
know it takes away, which makes it destructive and, by default, marked "-"); the Partner Center
or Graph calls that carry it out; what it does to the partner's bill; what drift says
`pcr apply` will do about a difference; what it leaves its target as, for the audit
trail; and how apply carries it out and checks that it landed, through `Steps`: what the
executor offers every step (fresh reads, the journaled and audited mutation, the waits).

Nothing here reads or writes anything; the steps do, only when apply calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from typing import Protocol

from reconciler.live.lifecycle import term_end_day

if TYPE_CHECKING:  # the plan's model holds actions; the kinds only describe them
    from reconciler.live.client import PartnerCenterClient
    from reconciler.live.graph import GraphClient
    from reconciler.live.http import CallId
    from reconciler.live.http import Landed as LandedNow
    from reconciler.live.models import AzureEntitlement
    from reconciler.live.models import GdapRelationship
    from reconciler.live.models import GdapRequest
    from reconciler.live.models import Subscription
    from reconciler.live.models import SubscriptionStatus
    from reconciler.live.tenant import TenantClient
    from reconciler.plan.model import Action


class ActionType(StrEnum):
    SUSPEND = "suspend_subscription"
    REACTIVATE = "reactivate_subscription"
    CANCEL = "cancel_subscription"
    DISABLE_AUTO_RENEW = "disable_auto_renew"
    ENABLE_AUTO_RENEW = "enable_auto_renew"
    CANCEL_AZURE_ENTITLEMENT = "cancel_azure_entitlement"
    TERMINATE_GDAP = "terminate_gdap_relationship"
    DELETE_GDAP = "delete_gdap_relationship"
    REMOVE_GUEST_USER = "remove_guest_user"
    REMOVE_TENANT_CONTACT = "remove_tenant_contact"
    REMOVE_PARTNER_APP = "remove_partner_app"
    REMOVE_RELATIONSHIP = "remove_relationship"


class Refund(StrEnum):
    FULL = "full"
    PRORATED = "prorated"
    NONE = "none"


@dataclass(frozen=True)
class Billing:
    """What a step does to the partner's bill (`actions[].billing`)."""

    stops_billing: bool
    # The last day the partner pays for, inclusive like `commitmentEndDate`; None when
    # billing stops now, or goes on with no end in sight.
    billed_until: date | None = None
    refund: Refund = Refund.NONE


class Outcome(StrEnum):
    DONE = "done"  # a mutation was sent and succeeded
    ALREADY = "already"  # live state already matched: nothing sent
    SKIPPED = "skipped"  # not attempted: an earlier step of the customer failed
    FAILED = "failed"
    NOT_STARTED = "not started"  # not attempted: the run was asked to stop first


class Unsent(Exception):
    """Decided on a fresh read, before anything was sent: the change is not in doubt."""


class AlreadyDone(Unsent):
    """Live state already is what the step wants: nothing to send."""


class Stopped(Unsent):
    """The run was asked to stop while this step waited, before it sent anything."""


class WorldMoved(Exception):
    """A precondition that held at planning time no longer holds: stop this customer."""


# A mutation as a step sends it: under the request id it is given, with the check of
# whether it took effect for the client to ask when an answer leaves that open.
Send = Callable[["CallId", "LandedNow"], object]


class Steps(Protocol):
    """What the executor offers a step: the clients, fresh reads that turn a 404 into the
    right `WorldMoved`, the one way to send a change (journaled, audited, verified when
    its answer is lost), and the waits that a stop interrupts."""

    @property
    def client(self) -> PartnerCenterClient: ...

    @property
    def now(self) -> datetime: ...

    def contradicted_domain(self, customer_id: str, live_domain: str | None) -> str | None:
        """The declared domain, when Partner Center's contradicts it (two-key identity)."""

    def graph_client(self) -> GraphClient: ...

    def subscription(self, action: Action) -> Subscription: ...

    def azure_entitlement(self, action: Action) -> AzureEntitlement: ...

    def gdap(self, action: Action) -> GdapRelationship | None: ...

    def relationship_gone(self, customer_id: str) -> bool: ...

    def not_found(self, action: Action, what: str) -> WorldMoved: ...

    def was(self, action: Action, facts: str) -> None:
        """What the target was just before the change, for the audit trail."""

    def mutate(self, action: Action, request_id: str, send: Send) -> None:
        """Send one change: journaled before and after, audited once either way, and when
        its answer is lost, judged by the kind's `landed` check."""

    def set_subscription(
        self, action: Action, request_id: str, patch: SubscriptionPatch
    ) -> tuple[Outcome, str]:
        """Change a subscription in one read and one write; `patch` checks it just before."""

    def await_azure_cancellations(self, action: Action) -> None: ...

    def removal_blockers(self, customer_id: str) -> list[str]: ...

    def tenant(self, customer_id: str) -> TenantClient:
        """Microsoft Graph in the customer's own tenant, with that tenant's token."""

    def await_gdap_end(self, action: Action, asked: GdapRequest | None = None) -> None: ...


Step = Callable[[Steps, "Action", str], tuple[Outcome, str]]
LandedCheck = Callable[[Steps, "Action"], bool]
BillingRule = Callable[["Subscription | None", datetime], Billing]
DeadlineRule = Callable[["Subscription"], "datetime | None"]


def bill_unchanged(sub: Subscription | None, now: datetime) -> Billing:
    return Billing(stops_billing=False)


def billed_to_term_end(sub: Subscription | None, now: datetime) -> Billing:
    """Billing goes on to the last day of the term (a suspended new-commerce subscription,
    one whose auto-renew is off)."""
    if sub is None:
        return Billing(stops_billing=False)
    return Billing(stops_billing=False, billed_until=term_end_day(sub))


def possible_any_time(sub: Subscription) -> datetime | None:
    return None


def _allowed(steps: Steps, action: Action, sub: Subscription) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class SubscriptionPatch:
    """A step that is one full-body PATCH of a subscription (suspend, reactivate, cancel,
    auto-renew): what it sets, how to tell it is in place, and what must hold before it is
    sent. The read the PATCH needs anyway is the re-check (`Steps.set_subscription`)."""

    wanted: Callable[[Subscription], bool]  # in place: nothing to send, and the landed check
    # What the step says when it is in place already: by default, the status it has.
    already: Callable[[Subscription], str] = lambda sub: f"already {sub.status.value}"
    allowed: Callable[[Steps, Action, Subscription], None] = _allowed  # raises WorldMoved
    done: str  # what the step says once sent
    status: SubscriptionStatus | None = None
    auto_renew: bool | None = None

    def check(self, steps: Steps, action: Action, sub: Subscription) -> None:
        if self.wanted(sub):
            raise AlreadyDone(self.already(sub))
        self.allowed(steps, action, sub)

    def step(self, steps: Steps, action: Action, request_id: str) -> tuple[Outcome, str]:
        return steps.set_subscription(action, request_id, self)

    def landed(self, steps: Steps, action: Action) -> bool:
        return self.wanted(steps.subscription(action))


@dataclass(frozen=True, kw_only=True)
class ActionKind:
    """Everything pcr knows about one action type, in one place (see the module)."""

    type: ActionType
    verb: str  # what the action does, on its own line of a plan
    short: str = ""  # its name in a plan's summary counts, when not the verb
    # The Terraform-like marker in the terminal: by default "-" for what cannot be undone,
    # "~" for a change that can.
    symbol: str = ""
    # Takes something away from the customer: refused for protected customers and for
    # customers whose domain does not match (two-key identity). Whatever cannot be undone
    # is; a reversible kind says so (a suspension).
    destructive: bool = False
    # What a step that cannot be undone from the partner's side takes away, for
    # reviewers; a kind with none is reversible.
    consequences: tuple[str, ...] = ()
    noun: str = ""  # one such step, as the headline counts it ("2 removals")
    routes: tuple[str, ...]  # the Partner Center or Graph calls that carry it out
    after: str  # what the target is once the step is done (the audit trail's `after`)
    apply_says: str  # what drift says `pcr apply` does about a difference it plans this for
    billing: BillingRule = bill_unchanged
    # The bill, in words, when the step neither stops billing nor has a last billed day.
    goes_on: str = "billing unchanged"
    # When a step on this subscription stops being possible (None: it does not).
    deadline: DeadlineRule = possible_any_time
    step: Step  # how apply carries it out
    landed: LandedCheck  # whether it is in place in Partner Center now

    def __post_init__(self) -> None:
        if not self.short:
            object.__setattr__(self, "short", self.verb)
        if not self.symbol:
            object.__setattr__(self, "symbol", "-" if self.irreversible else "~")
        object.__setattr__(self, "destructive", self.destructive or self.irreversible)

    @property
    def irreversible(self) -> bool:
        return bool(self.consequences)


# What a step says of a customer Partner Center no longer lists as the partner's.
GONE = "the customer is no longer in the partner's list"
# The routes the kinds share.
SUBSCRIPTION_PATCH = "PATCH /v1/customers/{customer}/subscriptions/{subscription}"
