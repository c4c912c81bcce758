"""Which tenant a bearer token is for, as the fake's Microsoft Graph tells it: a token's
tenant is its `tid` claim (an access token is a JWT); a token without one is the partner's.

The fake mints unsigned tokens of this shape for the in-process runs (`tenant_token`); the
loopback token endpoint of the tests mints the same, so one rule serves both.
"""

from __future__ import annotations

from reconciler.fake.errors import FakeApiError
from reconciler.fake.wire import decode_token
from reconciler.fake.wire import encode_token


def tenant_token(tenant_id: str) -> str:
    """An unsigned access token of `tenant_id`'s (the fake checks no signature)."""
    header = encode_token({"alg": "none", "typ": "JWT"})
    claims = {"tid": tenant_id.lower(), "aud": "https://graph.microsoft.com"}
    return f"{header}.{encode_token(claims)}."


def tenant_of(token: str) -> str | None:
    """The `tid` of a JWT-shaped token; None for any other token (the partner's)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = decode_token(parts[1])
    except FakeApiError:  # not base64url JSON: not a token of a tenant
        return None
    tid = payload.get("tid")
    return tid.lower() if isinstance(tid, str) else None
