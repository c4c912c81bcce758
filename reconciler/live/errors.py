"""What can go wrong talking to Partner Center or Microsoft Graph, as exception types of their own.

Every failure of the backend (the service, the credentials, the configuration,
the fake's state file) is a `BackendError`, so a command reports each in one line
and anything else — a bug — surfaces as an internal error, never as a backend
failure.
"""

from __future__ import annotations

import re
import unicodedata

from reconciler.errors import PcrError

# Bidirectional overrides and isolates: they reorder what a terminal shows.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE = re.compile(r"\s+")


def one_line(text: str, limit: int | None = None) -> str:
    """`text` as one printable line: whitespace runs collapsed to one space, control
    characters (terminal escapes included) shown as `?`, cut at `limit` characters."""
    text = _WHITESPACE.sub(" ", text).strip()
    if not text.isprintable():
        text = "".join(
            "?" if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c for c in text
        )
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + "…"
    return text


# Below this, a "secret" cannot be told from ordinary text (a one-letter value would hide
# every "a"), and no credential Microsoft issues is that short: it is left alone.
MIN_SECRET = 4
# From this length on, a secret hidden wherever it appears, glued to other text too: no
# word contains it by chance. Shorter ones are hidden as whole tokens only.
ANYWHERE_FROM = 12


def scrub(text: str, *secrets: str | None) -> str:
    """`text` with every one of `secrets` in it replaced by `<hidden>`, without mangling
    the rest: a short secret ("xam") must not turn `partner.example.com` into
    `partner.e<hidden>ple.com`, so it is hidden only as a whole token (in `=xam&` or a
    sentence); a long one is hidden wherever it is."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        if len(secret) < MIN_SECRET:
            continue
        if len(secret) >= ANYWHERE_FROM:
            text = text.replace(secret, "<hidden>")
        else:
            whole = rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])"
            text = re.sub(whole, "<hidden>", text)
    return text


class BackendError(PcrError):
    """A run could not read or change Partner Center; the message says why, in one line."""

    def __str__(self) -> str:
        return one_line(super().__str__())


class ConfigurationError(BackendError, ValueError):
    """A setting in the environment (PCR_RATE_LIMIT, PCR_CONCURRENCY, …) has no usable value."""


class FakeStateError(BackendError):
    """The fake's state file cannot be read or written."""


class AuthError(BackendError):
    """Credentials are missing, or the token endpoint refused them."""


class TenantRefused(AuthError):
    """A customer's tenant would not give pcr's app a token: that customer's tenant
    clean-up cannot go on; every other customer's can."""


class InsecureEndpointError(BackendError, ValueError):
    """A plain-http URL that is not on this machine: a bearer token must not travel over it."""


class InvalidEndpointError(ConfigurationError):
    """An endpoint URL that cannot be parsed, or names no usable host."""


# The most of a service's error text an error shows: enough to read, never a whole body.
DESCRIPTION_LIMIT = 500

# The services pcr talks to, as its messages name them.
PARTNER_CENTER = "Partner Center"
MICROSOFT_GRAPH = "Microsoft Graph"


class PartnerCenterError(BackendError):
    """A call the service refused, or that kept failing until the attempts ran out.

    The name is Partner Center's, as it came first; Microsoft Graph's refusals are of the
    same types (`service` says whose), so callers handle one hierarchy for both.
    """

    def __init__(
        self,
        status: int | None,
        code: str | None,
        description: str,
        request_id: str | None,
        *,
        service: str = PARTNER_CENTER,
    ) -> None:
        self.status = status
        self.code = None if code is None else one_line(code, DESCRIPTION_LIMIT)
        self.description = one_line(description, DESCRIPTION_LIMIT)  # always one short line
        self.request_id = None if request_id is None else one_line(request_id, DESCRIPTION_LIMIT)
        self.service = service
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.service} {self.status}" if self.status else f"{self.service} (no response)"
        code = f" (code {self.code})" if self.code else ""
        request = f" [request {self.request_id}]" if self.request_id else ""
        return f"{where}{code}: {self.description}{request}"

    def retold(self, description: str, request_id: str | None) -> PartnerCenterError:
        """The same refusal, of the same type, told with another description."""
        return type(self)(
            self.status, self.code, description, self.request_id or request_id, service=self.service
        )


class NotFound(PartnerCenterError):
    """404: the customer, subscription or order does not exist (or is no longer ours)."""


class LineNotFound(PartnerCenterError):
    """An order has no line for the subscription to cancel: nothing is sent for it."""


class Unauthorized(PartnerCenterError):
    """401: the token is missing, expired, or not App+User."""


class Forbidden(PartnerCenterError):
    """403: the signed-in user lacks the role for this call."""


class PreconditionFailed(PartnerCenterError):
    """412: the resource changed since it was read (its ETag no longer matches If-Match)."""


class InvalidIdentifier(BackendError, ValueError):
    """An id that is not of the shape its kind has: it is never put in a request's path."""


# 403s that are service rules, not missing roles (docs/partner-center.md, "Error codes"): the
# role hint would send a person to the wrong fix.
RULE_REFUSALS = frozenset(
    {
        "900115",  # an Azure plan with active usage assets cannot be suspended
        "800019",  # outside the sandbox only software can be cancelled here
        "800077",  # seat-based SaaS is cancelled with a subscription PATCH
        "20002",  # no commerce relationship
        "900159",  # no commerce relationship (Azure entitlements)
    }
)

# Since 1 April 2026 Partner Center refuses App+User calls whose token carries no MFA
# claim: a 401 with code 900421 (seen by partners; Microsoft documents the 401, not the
# code) or a claims challenge in WWW-Authenticate (docs/partner-center.md).
MFA_CODE = "900421"
MFA_HINT = (
    "Partner Center requires multi-factor authentication for App+User calls: the refresh "
    "token must come from a sign-in that completed MFA. Sign in again with MFA to get a "
    "new refresh token, and store it as PCR_REFRESH_TOKEN."
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
    """An answer whose shape pcr cannot read: nothing is decided on it.

    `where` is the place in the answer (`items[0].companyProfile`, or `the answer` for
    the whole body) and `problem` what is wrong there (`is a string, expected an
    object`); `request` says which call it answered (`GET /v1/customers`), once known.
    """

    def __init__(
        self,
        where: str,
        problem: str,
        *,
        request: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        service: str = PARTNER_CENTER,
    ) -> None:
        self.where = where
        self.problem = problem
        self.request = request
        place = f"{where} {problem}" if where else problem
        context = f" ({request})" if request else ""
        prefix = f"{service} answered something pcr does not understand"
        super().__init__(status, None, f"{prefix}: {place}{context}", request_id, service=service)

    @classmethod
    def wrong_type(cls, where: str, found: str, expected: str) -> MalformedAnswer:
        return cls(where, f"is {found}, expected {expected}")

    def within(self, outer: str) -> MalformedAnswer:
        """The same problem, with its place given from `outer` (e.g. `items[3]`) down."""
        if not self.where or self.where == ANSWER:
            where = outer
        elif self.where.startswith("["):
            where = outer + self.where
        else:
            where = f"{outer}.{self.where}"
        return MalformedAnswer(
            where,
            self.problem,
            request=self.request,
            status=self.status,
            request_id=self.request_id,
            service=self.service,
        )

    def answering(
        self,
        request: str,
        status: int | None,
        request_id: str | None,
        service: str = PARTNER_CENTER,
    ) -> MalformedAnswer:
        """The same problem, saying which call's answer (and whose) it was found in."""
        return MalformedAnswer(
            self.where,
            self.problem,
            request=request,
            status=status,
            request_id=request_id,
            service=service,
        )

    def retold(self, description: str, request_id: str | None) -> PartnerCenterError:
        # Not retried, so never retold in practice; its own fields would not take a description.
        return PartnerCenterError(
            self.status, None, description, self.request_id or request_id, service=self.service
        )

    def __str__(self) -> str:
        request = f" [request {self.request_id}]" if self.request_id else ""
        return f"{self.description}{request}"


# The `where` of a problem with the answer as a whole.
ANSWER = "the answer"


class AnswerTooLarge(PartnerCenterError):
    """An answer longer than the client takes (`max_answer_bytes`): it was not read to its end."""


class AnswerTimeout(PartnerCenterError):
    """An answer that did not arrive in full in time, however steadily it trickled in."""


class PagingError(PartnerCenterError):
    """A listing whose pages do not end: too many of them, or a continuation seen before."""
