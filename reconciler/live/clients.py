"""What one run talks to, opened together: Partner Center, and Microsoft Graph for GDAP."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.live.client import PartnerCenterClient
from reconciler.live.graph import GraphClient


@dataclass(frozen=True)
class Clients:
    """What one run talks to: Partner Center, and Microsoft Graph for GDAP.

    `graph` is None when no Graph credentials are configured; `graph_unavailable`
    then says which variables to set, so that each customer that needed GDAP reads
    gets a blocked item instead of a silent skip.
    """

    partner_center: PartnerCenterClient
    graph: GraphClient | None = None
    graph_unavailable: str | None = None
