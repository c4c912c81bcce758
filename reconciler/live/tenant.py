"""A customer's own tenant through Microsoft Graph: the partner's footprint there, read and
removed with a token of that tenant (docs/partner-center.md, "Tenant clean-up").

What is the partner's: guest users whose mail or user principal name is on one of the
partner's own domains; the partner's addresses among the organization's technical,
security and privacy notification contacts; and the service principals of apps that the
partner's tenant owns (`appOwnerOrganizationId`). A token of a tenant reaches that tenant
only: which tenant answers is the token's, not the path's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from typing import Unpack
from urllib.parse import quote

from reconciler.live.config import DEFAULT_GRAPH_PAGE_SIZE
from reconciler.live.config import GRAPH_LIMITS
from reconciler.live.errors import InvalidIdentifier
from reconciler.live.errors import MalformedAnswer
from reconciler.live.graph import GRAPH_API
from reconciler.live.graph import GRAPH_PREFIX
from reconciler.live.graph import ORGANIZATION
from reconciler.live.graph import graph_page_from_wire
from reconciler.live.graph import organization_from_wire
from reconciler.live.http import ApiClient
from reconciler.live.http import Sending
from reconciler.live.models import object_from_wire

USERS = "/users"
SERVICE_PRINCIPALS = "/servicePrincipals"
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# A guest's user principal name: the invited address with its `@` written `_`, then
# `#EXT#@` and the tenant's own domain (docs/partner-center.md, "Tenant clean-up").
_EXTERNAL_UPN = re.compile(r"(?P<local>.+)_(?P<domain>[^_@#]+)#EXT#@.+", re.IGNORECASE)


class ContactList(StrEnum):
    """The organization's notification contacts, as Graph names them."""

    TECHNICAL = "technicalNotificationMails"
    SECURITY = "securityComplianceNotificationMails"
    PRIVACY = "privacyProfile"  # its one `contactEmail`


@dataclass(frozen=True)
class TenantUser:
    id: str
    name: str
    mail: str
    upn: str

    @property
    def label(self) -> str:
        return self.mail or self.upn or self.id

    @property
    def domains(self) -> frozenset[str]:
        """The mail domains this user is known by: its mail's, and a guest's invited one."""
        found = {domain_of(self.mail)}
        if (external := _EXTERNAL_UPN.fullmatch(self.upn)) is not None:
            found.add(external["domain"].lower())
        return frozenset(found - {""})


@dataclass(frozen=True)
class Contacts:
    """The organization's notification contacts as read: what a PATCH of them starts from."""

    organization_id: str
    technical: tuple[str, ...] = ()
    security: tuple[str, ...] = ()
    privacy: str = ""  # privacyProfile.contactEmail
    privacy_statement: str | None = None  # privacyProfile.statementUrl, kept as it is

    def addresses(self) -> list[tuple[ContactList, str]]:
        return [
            *((ContactList.TECHNICAL, a) for a in self.technical),
            *((ContactList.SECURITY, a) for a in self.security),
            *([(ContactList.PRIVACY, self.privacy)] if self.privacy else []),
        ]

    def without(self, which: ContactList, address: str) -> dict[str, Any]:
        """The PATCH body that takes `address` off `which`, the rest of the list kept: Graph
        replaces a list property whole."""
        if which is ContactList.PRIVACY:
            return {"privacyProfile": {"contactEmail": "", "statementUrl": self.privacy_statement}}
        kept = self.technical if which is ContactList.TECHNICAL else self.security
        return {which.value: [a for a in kept if a.lower() != address.lower()]}

    def holds(self, which: ContactList, address: str) -> bool:
        return any(w is which and a.lower() == address.lower() for w, a in self.addresses())


@dataclass(frozen=True)
class TenantApp:
    """A service principal in the customer's tenant, of an app another tenant owns."""

    id: str
    app_id: str
    name: str
    owner: str  # appOwnerOrganizationId: the tenant the app is registered in

    @property
    def label(self) -> str:
        return self.name or self.app_id


@dataclass(frozen=True)
class Footprint:
    """The partner's footprint in one customer's tenant, as read for its offboarding; or
    why it could not be read (`unreadable`), with nothing else known."""

    guests: tuple[TenantUser, ...] = ()
    contacts: tuple[tuple[ContactList, str], ...] = ()
    organization_id: str = ""
    apps: tuple[TenantApp, ...] = ()
    unreadable: str | None = None


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower() if "@" in address else ""


def partners_guests(users: Iterable[TenantUser], domains: Iterable[str]) -> list[TenantUser]:
    """The guests known by one of the partner's domains, exactly (a domain that only ends
    like one, `notcontoso.com`, is someone else's)."""
    own = frozenset(d.lower() for d in domains)
    return [u for u in users if u.domains & own]


def partners_contacts(contacts: Contacts, domains: Iterable[str]) -> list[tuple[ContactList, str]]:
    own = frozenset(d.lower() for d in domains)
    return [(which, a) for which, a in contacts.addresses() if domain_of(a) in own]


def user_from_wire(wire: Mapping[str, Any]) -> TenantUser:
    shape = object_from_wire(wire)
    user_id = shape.get("id")
    if not isinstance(user_id, str) or not _GUID.fullmatch(user_id):
        raise MalformedAnswer("id", "is not a user's object id (a GUID)")
    return TenantUser(
        user_id.lower(),
        _text(shape, "displayName"),
        _text(shape, "mail"),
        _text(shape, "userPrincipalName"),
    )


def contacts_from_wire(wire: object) -> Contacts:
    """`GET /organization`: a listing of the one organization the token's tenant is."""
    org = organization_from_wire(wire)
    privacy = org.get("privacyProfile")
    privacy = privacy if isinstance(privacy, dict) else {}
    return Contacts(
        org["id"],
        _addresses(org, ContactList.TECHNICAL),
        _addresses(org, ContactList.SECURITY),
        _text(privacy, "contactEmail"),
        privacy.get("statementUrl") if isinstance(privacy.get("statementUrl"), str) else None,
    )


def app_from_wire(wire: Mapping[str, Any]) -> TenantApp:
    shape = object_from_wire(wire)
    ids = [shape.get(name) for name in ("id", "appId", "appOwnerOrganizationId")]
    for name, value in zip(("id", "appId", "appOwnerOrganizationId"), ids, strict=True):
        if not isinstance(value, str) or not _GUID.fullmatch(value):
            raise MalformedAnswer(name, "is not a GUID")
    sp_id, app_id, owner = (str(v).lower() for v in ids)
    return TenantApp(sp_id, app_id, _text(shape, "displayName"), owner)


def _text(wire: Mapping[str, Any], name: str) -> str:
    value = wire.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.isprintable():
        raise MalformedAnswer(name, "is not a string pcr can show")
    return value


def _addresses(org: Mapping[str, Any], which: ContactList) -> tuple[str, ...]:
    value = org.get(which.value) or []
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise MalformedAnswer(which.value, "is not a list of addresses")
    return tuple(value)


def _guid(value: str, what: str) -> str:
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        raise InvalidIdentifier(f"refusing to send {what} {value!r} to Microsoft Graph")
    return value


class TenantClient(ApiClient):
    """Microsoft Graph as one customer's tenant answers it: a client per tenant, each with
    that tenant's token only."""

    api = GRAPH_API
    default_limits = GRAPH_LIMITS

    # -- reads ---------------------------------------------------------------------------

    def list_guests(self) -> list[TenantUser]:
        """Every guest user (`userType eq 'Guest'`: a filter Graph takes without advanced
        queries), page after page."""
        query = quote("userType eq 'Guest'", safe="'")
        select = "id,displayName,mail,userPrincipalName,userType"
        path = f"{USERS}?$filter={query}&$select={select}&$top={DEFAULT_GRAPH_PAGE_SIZE}"
        return self._listing(path, user_from_wire)

    def get_user(self, user_id: str) -> TenantUser:
        """One user of the tenant; NotFound once it is deleted."""
        select = "id,displayName,mail,userPrincipalName,userType"
        return self._get(f"{USERS}/{_guid(user_id, 'a user id')}?$select={select}", user_from_wire)

    def get_app(self, app_id: str) -> TenantApp:
        """One service principal of the tenant; NotFound once it is deleted."""
        select = "id,appId,displayName,appOwnerOrganizationId"
        path = f"{SERVICE_PRINCIPALS}/{_guid(app_id, 'a service principal id')}?$select={select}"
        return self._get(path, app_from_wire)

    def get_contacts(self) -> Contacts:
        select = "id,technicalNotificationMails,securityComplianceNotificationMails,privacyProfile"
        return self._get(f"{ORGANIZATION}?$select={select}", contacts_from_wire)

    def list_apps_of(self, owner_tenant_id: str) -> list[TenantApp]:
        """The service principals of apps registered in `owner_tenant_id`. Filtering on
        `appOwnerOrganizationId` is an advanced query: it needs `ConsistencyLevel:
        eventual` and `$count`."""
        owner = _guid(owner_tenant_id, "the owner tenant")
        query = quote(f"appOwnerOrganizationId eq {owner}")
        select = "id,appId,displayName,appOwnerOrganizationId"
        path = f"{SERVICE_PRINCIPALS}?$filter={query}&$count=true&$select={select}"
        apps = self._listing(path, app_from_wire, {"ConsistencyLevel": "eventual"})
        return [a for a in apps if a.owner == owner.lower()]  # the filter, checked

    # -- writes --------------------------------------------------------------------------

    def delete_user(self, user_id: str, **sending: Unpack[Sending]) -> None:
        """204; Graph keeps the user 30 days in the tenant's deleted items."""
        self._call("DELETE", f"{USERS}/{_guid(user_id, 'a user id')}", **sending)

    def delete_app(self, app_id: str, **sending: Unpack[Sending]) -> None:
        path = f"{SERVICE_PRINCIPALS}/{_guid(app_id, 'a service principal id')}"
        self._call("DELETE", path, **sending)

    def set_contacts(
        self, organization_id: str, body: Mapping[str, Any], **sending: Unpack[Sending]
    ) -> None:
        """PATCH the organization's contact properties named in `body` (204)."""
        path = f"{ORGANIZATION}/{_guid(organization_id, 'an organization id')}"
        self._call("PATCH", path, json_body=body, **sending)

    def _listing(
        self, path: str, item: Callable[[Any], Any], headers: Mapping[str, str] | None = None
    ) -> list[Any]:
        answer = self._request("GET", path, headers=headers)
        return list(
            self._iter_pages(
                answer,
                lambda wire: graph_page_from_wire(wire, item),
                GRAPH_PREFIX + path.partition("?")[0],
                link_name="@odata.nextLink",
            )
        )
