"""The desired state: what the partner declares in `desired-state/`, as typed values.

Built by `reconciler.desired.load` from files that passed validation; nothing
downstream reads the YAML itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum

from reconciler.desired.marked_yaml import Mark


class PartnerType(StrEnum):
    """`partner.type`: how the partner sells. A direct partner or an indirect provider may
    remove a reseller relationship; an indirect reseller asks its provider to."""

    DIRECT = "direct"
    INDIRECT_PROVIDER = "indirect_provider"
    INDIRECT_RESELLER = "indirect_reseller"


class Relationship(StrEnum):
    """A customer's `relationship`: `none` offboards it."""

    RESELLER = "reseller"
    NONE = "none"


class DesiredStatus(StrEnum):
    """A declared subscription's `status`."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class NceOutsideWindow(StrEnum):
    """`offboarding.nce_outside_window`: a new-commerce subscription whose cancellation
    window has closed is left to end, its auto-renew off (`wait`), or suspended as well
    (`suspend`: it is billed to the end of its term all the same)."""

    WAIT = "wait"
    SUSPEND = "suspend"


class GdapOffboarding(StrEnum):
    """`offboarding.gdap`: what becomes of the partner's GDAP relationships."""

    TERMINATE = "terminate"  # end every GDAP relationship together with the removal
    KEEP = "keep"  # leave them: the partner keeps its admin roles


class Cleanup(StrEnum):
    """What an offboarding does with one part of the partner's footprint in the tenant."""

    REMOVE = "remove"
    KEEP = "keep"


@dataclass(frozen=True)
class TenantCleanup:
    """`tenant_cleanup:` what an offboarding removes inside the customer's tenant, through
    GDAP, before GDAP ends (docs/design.md, "Tenant clean-up"). None: as the policy says
    (a customer's own file), or keep (the policy's)."""

    guest_users: Cleanup | None = None  # guests whose mail or UPN is on partner.domains
    contacts: Cleanup | None = None  # partner addresses among the notification contacts
    partner_apps: Cleanup | None = None  # service principals the partner's tenant owns
    mark: Mark | None = None  # where it is written, for messages

    def over(self, default: TenantCleanup) -> TenantCleanup:
        """These choices, each one not made taken from `default` (the policy's)."""
        return TenantCleanup(
            self.guest_users or default.guest_users,
            self.contacts or default.contacts,
            self.partner_apps or default.partner_apps,
            self.mark or default.mark,
        )

    def removes(self, part: str) -> bool:
        return getattr(self, part) is Cleanup.REMOVE

    @property
    def any(self) -> bool:
        return any(self.removes(part) for part in CLEANUP_PARTS)

    @property
    def needs_domains(self) -> bool:
        """Guests and contacts are the partner's by their domain."""
        return self.removes("guest_users") or self.removes("contacts")


CLEANUP_PARTS = ("guest_users", "contacts", "partner_apps")
NO_CLEANUP = TenantCleanup()  # a customer that stays (one for all: it is frozen)


class StateBackend(StrEnum):
    """`state.backend`: where apply keeps its lock, journals and audit trail."""

    LOCAL = "local"
    AZURE_BLOB = "azure_blob"


@dataclass(frozen=True)
class StateSettings:
    """`state:` in partner.yaml: where apply keeps its lock, journals and audit trail."""

    backend: StateBackend = StateBackend.LOCAL
    account_url: str | None = None
    container: str | None = None
    prefix: str = ""


class UnmanagedCustomers(StrEnum):
    """`policy.unmanaged_customers`: whether a reseller customer with no file is drift."""

    REPORT = "report"
    IGNORE = "ignore"


@dataclass(frozen=True)
class Policy:
    max_removals_per_run: int = 10
    unmanaged_customers: UnmanagedCustomers = UnmanagedCustomers.REPORT
    # A removal needs `domain` declared (and matching live): two keys for what cannot
    # be undone.
    require_domain_for_removal: bool = True
    # What an offboarding removes inside the customer's tenant, unless its file says.
    tenant_cleanup: TenantCleanup = field(default_factory=TenantCleanup)


@dataclass(frozen=True)
class PartnerSettings:
    type: PartnerType = PartnerType.DIRECT
    policy: Policy = field(default_factory=Policy)
    source: str | None = None  # the partner.yaml path, when there is one
    state: StateSettings = field(default_factory=StateSettings)  # where apply keeps its records
    # The partner's own mail domains (lower case): what makes a guest or a contact its own.
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubscriptionOverride:
    id: str
    status: DesiredStatus | None
    auto_renew: bool | None
    mark: Mark


@dataclass(frozen=True)
class DesiredCustomer:
    tenant_id: str
    relationship: Relationship
    mark: Mark  # where its tenant_id is written; `mark.path` names the customer's file
    name: str | None = None
    domain: str | None = None
    protected: bool = False
    subscriptions: tuple[SubscriptionOverride, ...] = ()
    nce_outside_window: NceOutsideWindow = NceOutsideWindow.WAIT
    gdap: GdapOffboarding = GdapOffboarding.TERMINATE
    # As declared; `Desired.cleanup_of` resolves it against the policy.
    tenant_cleanup: TenantCleanup = field(default_factory=TenantCleanup)

    @property
    def path(self) -> str:
        """The customer's file, as messages name it."""
        return self.mark.path

    @property
    def offboarding(self) -> bool:
        return self.relationship is Relationship.NONE

    @property
    def ends_gdap(self) -> bool:
        """Offboarding, and its GDAP relationships end with it: they must be read."""
        return self.offboarding and self.gdap is GdapOffboarding.TERMINATE


@dataclass(frozen=True)
class Desired:
    partner: PartnerSettings
    customers: dict[str, DesiredCustomer]  # by lower-case tenant id

    def cleanup_of(self, customer: DesiredCustomer) -> TenantCleanup:
        """What this customer's offboarding removes inside its tenant: nothing unless it
        is offboarding, else its own choices over the policy's."""
        if not customer.offboarding:
            return NO_CLEANUP
        return customer.tenant_cleanup.over(self.partner.policy.tenant_cleanup)
