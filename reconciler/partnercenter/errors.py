"""What can go wrong talking to Partner Center, as exception types of their own.

Every failure of the backend (the service, the credentials, the configuration,
the fake's state file) is a `BackendError`, so a command reports each in one line
and anything else — a bug — surfaces as an internal error, never as a backend
failure.
"""

from __future__ import annotations


class BackendError(Exception):
    """A run could not read or change Partner Center; the message says why, in one line."""


class ConfigurationError(BackendError, ValueError):
    """A setting in the environment (PCR_RATE_LIMIT, PCR_CONCURRENCY, …) has no usable value."""


class FakeStateError(BackendError):
    """The fake's state file cannot be read or written."""


class AuthError(BackendError):
    """Credentials are missing, or the token endpoint refused them."""


class InsecureEndpointError(BackendError, ValueError):
    """A plain-http URL that is not on this machine: a bearer token must not travel over it."""


class PartnerCenterError(BackendError):
    """A call the service refused, or that kept failing until the attempts ran out."""

    def __init__(
        self, status: int | None, code: str | None, description: str, request_id: str | None
    ) -> None:
        self.status = status
        self.code = code
        self.description = " ".join(description.split())  # always one line
        self.request_id = request_id
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"Partner Center {self.status}" if self.status else "Partner Center (no response)"
        code = f" (code {self.code})" if self.code else ""
        request = f" [request {self.request_id}]" if self.request_id else ""
        return f"{where}{code}: {self.description}{request}"


class NotFound(PartnerCenterError):
    """404: the customer, subscription or order does not exist (or is no longer ours)."""


class Unauthorized(PartnerCenterError):
    """401: the token is missing, expired, or not App+User."""


class Forbidden(PartnerCenterError):
    """403: the signed-in user lacks the role for this call."""


# 403s that are service rules, not missing roles (reference §10, §14, §16): the role
# hint would send a person to the wrong fix.
RULE_REFUSALS = frozenset(
    {
        "900115",  # an Azure plan with active usage assets cannot be suspended
        "800019",  # outside the sandbox only software can be cancelled here
        "800077",  # seat-based SaaS is cancelled with a subscription PATCH
        "20002",  # no commerce relationship
        "900159",  # no commerce relationship (Azure entitlements)
    }
)

AUTH_HINTS: dict[int, tuple[type[PartnerCenterError], str]] = {
    401: (
        Unauthorized,
        "App+User credentials are needed (Secure Application Model): set PCR_TOKEN, or "
        "PCR_TENANT_ID, PCR_CLIENT_ID, PCR_CLIENT_SECRET and PCR_REFRESH_TOKEN.",
    ),
    403: (
        Forbidden,
        "the signed-in user needs the Admin agent or Sales agent role in Partner Center.",
    ),
}


class MalformedAnswer(PartnerCenterError):
    """An answer whose shape or values pcr cannot read: nothing is decided on it."""

    def __init__(self, what: str, problem: str) -> None:
        super().__init__(None, None, f"a {what} in Partner Center's answer: {problem}", None)

    def __str__(self) -> str:
        return f"Partner Center sent {self.description}: pcr cannot use it"
