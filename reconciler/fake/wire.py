"""Reading Partner Center's wire format as the service does: a resource's status, a request
body's fields by any case, and the opaque token that continues a listing."""

from __future__ import annotations

import base64
import json
from typing import Any

from reconciler.fake.errors import CODE_INVALID_REQUEST
from reconciler.fake.errors import FakeApiError


def status_of(resource: dict[str, Any]) -> str:
    return str(resource.get("status") or "none").lower()


def fields(body: Any) -> dict[str, Any]:
    """Field names compare case-insensitively: the docs' own examples send PascalCase."""
    if not isinstance(body, dict):
        raise FakeApiError(400, CODE_INVALID_REQUEST, "The request body must be a JSON object.")
    return {str(key).lower(): value for key, value in body.items()}


def encode_token(payload: dict[str, Any]) -> str:
    """An opaque continuation token (the client must not look inside)."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError:
        raise FakeApiError(400, CODE_INVALID_REQUEST, "Invalid continuation token.") from None
    if not isinstance(payload, dict):
        raise FakeApiError(400, CODE_INVALID_REQUEST, "Invalid continuation token.")
    return payload


def count_within(raw: str | None, default: int, most: int) -> int | None:
    """A query's count (a page size, `$top`): `default` when absent, None when it is not a
    whole number from 1 to `most` (each service refuses that in its own words)."""
    if raw is None:
        return default
    try:
        count = int(raw)
    except ValueError:
        return None
    return count if 1 <= count <= most else None
