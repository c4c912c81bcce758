"""What one run talks to, opened together: Partner Center, Microsoft Graph for GDAP, and
Graph in each customer's own tenant for its clean-up."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

from reconciler.live.auth import TokenProvider
from reconciler.live.client import PartnerCenterClient
from reconciler.live.closing import Closing
from reconciler.live.graph import GraphClient
from reconciler.live.http import ClientOptions
from reconciler.live.tenant import TenantClient


class TenantClients(Closing):
    """A Graph client per customer tenant, each holding that tenant's tokens only (`tokens`
    makes them), made on first use and closed together. `own_app_id` is the app pcr signs
    in with (the fake's: `connect.FAKE_APP_ID`): its service principal is never removed."""

    def __init__(
        self,
        root: str,
        tokens: Callable[[str], TokenProvider],
        own_app_id: str | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        self.own_app_id = own_app_id.lower() if own_app_id else None
        self._root, self._tokens, self._options = root, tokens, options
        self._clients: dict[str, TenantClient] = {}
        self._lock = threading.Lock()

    def client(self, tenant_id: str) -> TenantClient:
        tenant = tenant_id.lower()
        with self._lock:
            client = self._clients.get(tenant)
            if client is None:
                client = TenantClient(self._root, self._tokens(tenant), **self._options)
                self._clients[tenant] = client
            return client

    @property
    def request_count(self) -> int:
        with self._lock:
            return sum(c.request_count for c in self._clients.values())

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            client.close()


@dataclass(frozen=True)
class Clients:
    """What one run talks to: Partner Center, and Microsoft Graph for GDAP.

    `graph` is None when no Graph credentials are configured; `graph_unavailable`
    then says which variables to set, so that each customer that needed GDAP reads
    gets a blocked item instead of a silent skip. `tenants` likewise, with
    `tenants_unavailable`: a customer whose offboarding cleans its tenant is blocked
    without them.
    """

    partner_center: PartnerCenterClient
    graph: GraphClient | None = None
    graph_unavailable: str | None = None
    tenants: TenantClients | None = None
    tenants_unavailable: str | None = None
