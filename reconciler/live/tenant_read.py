"""Reading the partner's footprint in the tenants of the customers whose offboarding cleans
them (docs/design.md, "Tenant clean-up"): only those, only what their choices remove, and
each tenant with its own token. A tenant that cannot be read is that customer's
`Footprint.unreadable`, never the run's failure: every other customer goes on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from reconciler.desired.model import Desired
from reconciler.desired.model import TenantCleanup
from reconciler.live.clients import Clients
from reconciler.live.errors import AuthError
from reconciler.live.errors import Forbidden
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import TenantRefused
from reconciler.live.errors import Unauthorized
from reconciler.live.lifecycle import needs_tenant_read
from reconciler.live.models import Live
from reconciler.live.tenant import Footprint
from reconciler.live.tenant import TenantClient
from reconciler.live.tenant import partners_contacts
from reconciler.live.tenant import partners_guests

# The Microsoft Entra roles a GDAP relationship must grant for each part (Graph's docs for
# deleting a user, updating the organization, deleting a service principal).
ROLES = (
    "User Administrator (guest users), Billing Administrator (notification contacts), "
    "Cloud Application Administrator (partner apps)"
)
_WORKERS = 8


def read_tenants(clients: Clients, desired: Desired, live: Live) -> int:
    """Each tenant to clean's footprint into `live.tenants`; the Graph calls it made."""
    wanted = {
        c.tenant_id: desired.cleanup_of(c)
        for c in desired.customers.values()
        if needs_tenant_read(desired, c, live)
    }
    if not wanted:
        return 0
    tenants, graph = clients.tenants, clients.graph
    live.own_app_id = tenants.own_app_id if tenants is not None else None
    if tenants is None or graph is None:
        why = clients.tenants_unavailable or clients.graph_unavailable or "no Microsoft Graph"
        live.tenants = {cid: Footprint(unreadable=why) for cid in wanted}
        return 0
    owner: str | None = None
    calls = graph.request_count
    if any(cleanup.removes("partner_apps") for cleanup in wanted.values()):
        owner = graph.own_tenant_id()  # whose apps are the partner's: its own tenant's
    domains = desired.partner.domains
    with ThreadPoolExecutor(min(_WORKERS, len(wanted)), thread_name_prefix="pcr-tenant") as pool:
        reads = {
            cid: pool.submit(footprint, tenants.client(cid), cleanup, domains, owner)
            for cid, cleanup in wanted.items()
        }
        live.tenants = {cid: read.result() for cid, read in reads.items()}
    return graph.request_count - calls + tenants.request_count


def footprint(
    client: TenantClient, cleanup: TenantCleanup, domains: tuple[str, ...], owner: str | None
) -> Footprint:
    """What of the partner's one tenant holds, of the parts `cleanup` removes."""
    try:
        guests = (
            partners_guests(client.list_guests(), domains) if cleanup.removes("guest_users") else []
        )
        contacts = client.get_contacts() if cleanup.removes("contacts") else None
        apps = client.list_apps_of(owner) if owner and cleanup.removes("partner_apps") else []
    except (AuthError, PartnerCenterError) as exc:
        return Footprint(unreadable=unreadable(exc))
    return Footprint(
        tuple(guests),
        tuple(partners_contacts(contacts, domains)) if contacts else (),
        contacts.organization_id if contacts else "",
        tuple(apps),
    )


def unreadable(exc: AuthError | PartnerCenterError) -> str:
    """Why a tenant could not be read, and what a person does about it."""
    if isinstance(exc, TenantRefused):  # Entra ID's refusal, already with what to do
        return str(exc)
    if isinstance(exc, AuthError | Unauthorized):
        said = exc.description if isinstance(exc, PartnerCenterError) else str(exc)
        return (
            f"pcr's app cannot reach the customer's tenant ({said}): it must be consented "
            "there through GDAP"
        )
    if isinstance(exc, Forbidden):
        return (
            "the partner's GDAP roles in the customer's tenant do not allow it "
            f"({exc.description}): it needs {ROLES}"
        )
    return f"Microsoft Graph did not answer for the customer's tenant ({exc})"
