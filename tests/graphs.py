"""Microsoft Graph beside a test's Partner Center client: the same fake, the same transport."""

from __future__ import annotations

from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.graph import GraphClient

GRAPH_TOKEN = "tok-GRAPH-tests-5c2e9d"


def graph_beside(client: PartnerCenterClient) -> GraphClient:
    """A Graph client on the fake that `client` talks to (in process or on loopback).

    It shares `client`'s transport, so it is not closed on its own: closing `client`
    ends both. The fake serves Graph on the same root, as `pcr fake serve` does.
    """
    return GraphClient(
        client.base_url,
        StaticToken(GRAPH_TOKEN, "PCR_GRAPH_TOKEN"),
        transport=client._http._transport,
        limits=Limits(rate_per_minute=1_000_000),
    )
