"""The desired state: what the partner declares in `desired-state/`, as typed values.

Built by `reconciler.desired.load` from files that passed validation; nothing
downstream reads the YAML itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.desired.marked_yaml import Mark


class PartnerType(StrEnum):
    DIRECT = "direct"
    INDIRECT_PROVIDER = "indirect_provider"
    INDIRECT_RESELLER = "indirect_reseller"


class Relationship(StrEnum):
    RESELLER = "reseller"
    NONE = "none"


class DesiredStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class NceOutsideWindow(StrEnum):
    WAIT = "wait"
    SUSPEND = "suspend"


class GdapOffboarding(StrEnum):
    TERMINATE = "terminate"  # end every GDAP relationship together with the removal
    KEEP = "keep"  # leave them: the partner keeps its admin roles


class UnmanagedCustomers(StrEnum):
    REPORT = "report"
    IGNORE = "ignore"


class StateBackend(StrEnum):
    LOCAL = "local"
    AZURE_BLOB = "azure_blob"


@dataclass(frozen=True)
class StateSettings:
    """`state:` in partner.yaml: where apply keeps its lock, journals and audit trail."""

    backend: StateBackend = StateBackend.LOCAL
    account_url: str | None = None
    container: str | None = None
    prefix: str = ""


@dataclass(frozen=True)
class Policy:
    max_removals_per_run: int = 10
    unmanaged_customers: UnmanagedCustomers = UnmanagedCustomers.REPORT
    # A removal needs `domain` declared (and matching live): two keys for what cannot
    # be undone.
    require_domain_for_removal: bool = True


@dataclass(frozen=True)
class PartnerSettings:
    type: PartnerType = PartnerType.DIRECT
    policy: Policy = field(default_factory=Policy)
    source: str | None = None  # the partner.yaml path, when there is one
    state: StateSettings = field(default_factory=StateSettings)  # where apply keeps its records


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

    @property
    def path(self) -> str:
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
