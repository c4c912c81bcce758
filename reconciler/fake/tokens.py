"""Which tenant a bearer token is for, as the fake's Microsoft Graph tells it: a token's
tenant is its `tid` claim (an access token is a JWT); a token without one is the partner's.

The fake mints unsigned tokens of this shape for the in-process runs (`tenant_token`); the
loopback token endpoint of the tests mints the same, so one rule serves both.
"""

from __future__ import annotations

import base64
import binascii
import json


def tenant_token(tenant_id: str) -> str:
    """An unsigned access token of `tenant_id`'s (the fake checks no signature)."""
    header = _encode({"alg": "none", "typ": "JWT"})
    return f"{header}.{_encode({'tid': tenant_id.lower(), 'aud': 'https://graph.microsoft.com'})}."


def tenant_of(token: str) -> str | None:
    """The `tid` of a JWT-shaped token; None for any other token (the partner's)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    tid = payload.get("tid") if isinstance(payload, dict) else None
    return tid.lower() if isinstance(tid, str) else None


def _encode(claims: dict[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
