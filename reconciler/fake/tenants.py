"""The fake's customer tenants as Microsoft Graph serves them: each tenant's users,
organization (its notification contacts) and service principals, answered to a token of
that tenant only (docs/partner-center.md, "Tenant clean-up").

Its part of the fake's one JSON document, in Graph's wire format:

    partnerTenantId  the partner's own tenant: what a token without a tenant is for
    tenants          {tenantId: {users, organization, servicePrincipals, refuse}}; `refuse`
                     is null, "consent" (the app is not consented there: 401) or "role" (no
                     GDAP role allows it: 403 on every call)

Which tenant answers is the token's (`fake.tokens`), never the path's: a user of one tenant
is not found with another tenant's token, as in Graph. Filters are Graph's rules as
documented: `userType eq 'Guest'` as it is, `appOwnerOrganizationId eq` only as an advanced
query (`ConsistencyLevel: eventual` and `$count=true`); anything else is refused (400).
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING
from typing import Any

from reconciler.fake.graph import GraphApiError

if TYPE_CHECKING:
    from reconciler.fake.mutations import MutationLog
    from reconciler.fake.mutations import Origin

# The fake partner's own tenant, unless a state says another.
PARTNER_TENANT_ID = "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
PAGE_SIZE = 100  # Graph's default page of users
MAX_TOP = 999
CODE_NOT_FOUND = "Request_ResourceNotFound"
CODE_DENIED = "Authorization_RequestDenied"
CODE_UNSUPPORTED = "Request_UnsupportedQuery"
CODE_BAD_REQUEST = "Request_BadRequest"
CODE_UNAUTHENTICATED = "InvalidAuthenticationToken"
CONTACT_PROPERTIES = frozenset(
    {
        "technicalNotificationMails",
        "securityComplianceNotificationMails",
        "marketingNotificationEmails",
        "privacyProfile",
    }
)
_GUEST_FILTER = re.compile(r"\s*userType\s+eq\s+'Guest'\s*")
_OWNER_FILTER = re.compile(r"\s*appOwnerOrganizationId\s+eq\s+([0-9a-fA-F-]{36})\s*")


def empty_sections() -> dict[str, Any]:
    return {"partnerTenantId": PARTNER_TENANT_ID, "tenants": {}}


class FakeTenants:
    """The customer tenants in the fake's state, and what Graph lets be done in them."""

    def __init__(self, data: dict[str, Any], log: MutationLog) -> None:
        self._data = data
        self._log = log

    @property
    def partner_tenant_id(self) -> str:
        return str(self._data["partnerTenantId"])

    # -- building a world ----------------------------------------------------------------

    def add_tenant(self, tenant_id: str, *, refuse: str | None = None) -> dict[str, Any]:
        tenant = tenant_id.lower()
        record: dict[str, Any] = {
            "users": [],
            "organization": {
                "id": tenant,
                "technicalNotificationMails": [],
                "securityComplianceNotificationMails": [],
                "marketingNotificationEmails": [],
                "privacyProfile": None,
            },
            "servicePrincipals": [],
            "refuse": refuse,
        }
        self._data["tenants"][tenant] = record
        return record

    # -- answering -----------------------------------------------------------------------

    def entered(self, token_tenant: str | None) -> tuple[str, dict[str, Any]]:
        """The tenant a token is for, and its record; Graph's refusal when that tenant
        will not let the partner's app in."""
        tenant = (token_tenant or self.partner_tenant_id).lower()
        record = self._data["tenants"].get(tenant)
        if record is None and tenant == self.partner_tenant_id.lower():
            record = self.add_tenant(tenant)
        if record is None or record.get("refuse") == "consent":
            raise GraphApiError(
                401,
                CODE_UNAUTHENTICATED,
                "The application is not found in the directory of the tenant, or not consented.",
            )
        if record.get("refuse") == "role":
            raise GraphApiError(
                403, CODE_DENIED, "Insufficient privileges to complete the operation."
            )
        return tenant, record

    def users(
        self, record: dict[str, Any], filter_text: str | None, top: str | None, skip: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if filter_text is not None and not _GUEST_FILTER.fullmatch(filter_text):
            raise GraphApiError(400, CODE_UNSUPPORTED, "Unsupported Query.")
        users = [u for u in record["users"] if filter_text is None or u.get("userType") == "Guest"]
        return _page(users, top, skip)

    def service_principals(
        self, record: dict[str, Any], filter_text: str | None, count: str | None, level: str | None
    ) -> list[dict[str, Any]]:
        owner = None
        if filter_text is not None:
            match = _OWNER_FILTER.fullmatch(filter_text)
            advanced = (count or "").lower() == "true" and (level or "").lower() == "eventual"
            if match is None or not advanced:
                raise GraphApiError(400, CODE_UNSUPPORTED, "Unsupported Query.")
            owner = match[1].lower()
        return [
            copy.deepcopy(sp)
            for sp in record["servicePrincipals"]
            if owner is None or str(sp.get("appOwnerOrganizationId", "")).lower() == owner
        ]

    def one(self, record: dict[str, Any], kind: str, object_id: str) -> dict[str, Any]:
        """A user or a service principal (`kind`: their section); 404 when there is none."""
        for item in record[kind]:
            if str(item["id"]).lower() == object_id.lower():
                return copy.deepcopy(item)
        raise GraphApiError(
            404,
            CODE_NOT_FOUND,
            f"Resource '{object_id}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )

    def delete(
        self, tenant: str, record: dict[str, Any], kind: str, object_id: str, origin: Origin
    ) -> None:
        """Delete a user or a service principal (`kind`: their section); gone already: 404."""
        gone = self.one(record, kind, object_id)["id"]
        record[kind] = [o for o in record[kind] if o["id"] != gone]
        action = "delete_user" if kind == "users" else "delete_service_principal"
        self._log.record(origin, tenant, object_id.lower(), action, {"deleted": [False, True]})

    def update_organization(
        self,
        tenant: str,
        record: dict[str, Any],
        organization_id: str,
        body: dict[str, Any] | None,
        origin: Origin,
    ) -> None:
        """PATCH the organization: the contact properties only, each replaced whole."""
        organization = record["organization"]
        if organization_id.lower() != organization["id"]:
            raise GraphApiError(
                404, CODE_NOT_FOUND, f"Resource '{organization_id}' does not exist."
            )
        if not body or set(body) - CONTACT_PROPERTIES:
            raise GraphApiError(
                400, CODE_BAD_REQUEST, "Only the notification contact properties can be updated."
            )
        changes = {key: [organization.get(key), value] for key, value in body.items()}
        record["organization"] = organization | copy.deepcopy(body)
        target = f"{organization['id']}/{','.join(sorted(body))}"  # the properties it set
        self._log.record(origin, tenant, target, "update_organization", changes)


def _page(
    items: list[dict[str, Any]], top: str | None, skip: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        size = min(int(top), MAX_TOP) if top is not None else PAGE_SIZE
        start = int(skip) if skip is not None else 0
    except ValueError:
        raise GraphApiError(400, CODE_BAD_REQUEST, "Invalid $top or $skiptoken.") from None
    if size < 1 or start < 0:
        raise GraphApiError(400, CODE_BAD_REQUEST, "Invalid $top or $skiptoken.")
    page = items[start : start + size]
    more = start + size < len(items)
    return copy.deepcopy(page), str(start + size) if more else None
