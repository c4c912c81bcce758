"""An answer from Partner Center or Microsoft Graph, read whole under the caps, and what it says.

`read_body` reads a streamed answer as it comes in: decompressed in bounded pieces
(`Inflate`), refused past the cap on its size (`TooLarge`) or its deadline, and
refused when parsing it would cost many times its size. An `Answer` is the result,
parsed only through the `*_from_wire` functions of `models`; an answer that is an
error becomes a `PartnerCenterError`: `error_from_answer` reads Partner Center's
bodies, and `refusal` is what every service's reader ends in.
"""

from __future__ import annotations

import json
import math
import time
import zlib
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from email.utils import parsedate_to_datetime
from typing import Any
from typing import TypeVar

import httpx

from reconciler.live.config import CONTAINER_BYTES
from reconciler.live.config import VALUE_BYTES
from reconciler.live.errors import ANSWER
from reconciler.live.errors import AUTH_HINTS
from reconciler.live.errors import DESCRIPTION_LIMIT
from reconciler.live.errors import MFA_CODE
from reconciler.live.errors import MFA_HINT
from reconciler.live.errors import PARTNER_CENTER
from reconciler.live.errors import RULE_REFUSALS
from reconciler.live.errors import MalformedAnswer
from reconciler.live.errors import NotFound
from reconciler.live.errors import PartnerCenterError
from reconciler.live.errors import Unauthorized
from reconciler.live.errors import one_line
from reconciler.live.errors import scrub

__all__ = [
    "Answer",
    "Inflate",
    "TooLarge",
    "decode_json",
    "error_from_answer",
    "error_payload",
    "late",
    "read_body",
    "redirect_error",
    "refusal",
    "retry_after_seconds",
    "seconds",
]

T = TypeVar("T")

# Decompressed output is produced in pieces of at most this, so the cap is checked often.
_PIECE = 64 * 1024


@dataclass
class Answer:
    """An answer read whole (and no larger than the cap), with what it answered."""

    method: str
    path: str
    status: int
    reason: str
    headers: httpx.Headers
    body: bytes | bytearray
    request_id: str
    elapsed: float = 0.0
    service: str = PARTNER_CENTER
    _payload: Any = field(default=None, repr=False)
    _decoded: bool = field(default=False, repr=False)

    def describe(self, page: int = 1) -> str:
        return f"{self.method} {self.path}" + (f", page {page}" if page > 1 else "")

    def json(self) -> Any:
        if not self._decoded:
            self._payload = decode_json(self.body)
            self._decoded = True
        return self._payload

    def parse(self, parse: Callable[[Any], T], page: int = 1) -> T:
        """The answer parsed by `parse`; a shape it cannot read names this call."""
        try:
            return parse(self.json())
        except MalformedAnswer as exc:
            raise exc.answering(
                self.describe(page), self.status, self.request_id, self.service
            ) from None


def decode_json(body: bytes | bytearray) -> Any:
    # The service prefixes some bodies with a UTF-8 byte order mark, which json refuses.
    if body[:3] == b"\xef\xbb\xbf":
        body = body[3:]
    try:
        return json.loads(body)
    except RecursionError:  # a few MiB of "[[[[": json recurses per level
        raise MalformedAnswer(ANSWER, "is nested deeper than pcr reads") from None
    except ValueError:  # not JSON, not UTF-8, or a number of more digits than Python takes
        raise MalformedAnswer(ANSWER, "is not JSON") from None


# -- reading under the caps -----------------------------------------------------------------


class Inflate:
    """Undo a gzip or deflate Content-Encoding in pieces of at most `_PIECE` bytes, so a
    small answer that inflates to gigabytes is stopped at the cap, never held whole."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        # Some servers send deflate without zlib's header: tried when the header is not there.
        self._raw_fallback = encoding == "deflate"
        self._zlib: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            raise MalformedAnswer(
                ANSWER, f"is in a content encoding pcr did not ask for ({encoding[:40]!r})"
            )

    def __call__(self, data: bytes) -> Iterator[bytes]:
        if self._zlib is None:
            if data:
                yield data
            return
        while not self._zlib.eof:
            try:
                out = self._zlib.decompress(data, _PIECE)
            except zlib.error:
                if not self._raw_fallback:
                    raise MalformedAnswer(ANSWER, f"is not valid {self.encoding}") from None
                self._raw_fallback = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < _PIECE:
                return


class TooLarge(Exception):
    """Raised inside the read, where the request is not at hand; becomes AnswerTooLarge."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def read_body(
    response: httpx.Response,
    *,
    max_bytes: int,
    deadline: float,
    allowance: float,
    clock: Callable[[], float],
) -> bytes | bytearray:
    """The answer's body, decompressed, refused as soon as it passes `max_bytes` or the
    deadline: memory stays within the cap and one piece, whatever the server sends."""
    status = response.status_code
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(status, max_bytes, f"says it is {int(declared):,} bytes long")
    if response.is_stream_consumed:  # an in-process transport built the answer whole
        content = response.content
        if len(content) > max_bytes:
            raise _too_large(status, max_bytes, f"is {len(content):,} bytes long")
        check_structure(status, content, max_bytes)
        return content
    inflate = Inflate(response.headers.get("Content-Encoding", "").strip().lower())
    body = bytearray()
    for raw in response.iter_raw():
        for piece in inflate(raw):
            body += piece
            if len(body) > max_bytes:
                raise _too_large(status, max_bytes, "goes on past that")
        if clock() > deadline:
            raise httpx.ReadTimeout(late(allowance), request=response.request)
    check_structure(status, body, max_bytes)
    return body


def check_structure(status: int, body: bytes | bytearray, max_bytes: int) -> None:
    """Refuse an answer whose parse would cost many times its size: `[{},{},…]` of
    32 MiB is 700 MiB of Python objects. Counted on the bytes (in strings too, which
    only errs on the safe side); real answers are far below either bound."""
    containers = body.count(b"{") + body.count(b"[")
    if containers > max_bytes // CONTAINER_BYTES:
        raise TooLarge(
            status,
            f"the answer holds more than {max_bytes // CONTAINER_BYTES:,} "
            "objects and lists, the most pcr reads",
        )
    if body.count(b",") > max_bytes // VALUE_BYTES:
        raise TooLarge(
            status,
            f"the answer holds more than {max_bytes // VALUE_BYTES:,} values, the most pcr reads",
        )


def _too_large(status: int, max_bytes: int, what: str) -> TooLarge:
    cap = _size(max_bytes)
    return TooLarge(status, f"the answer is larger than {cap}, the most pcr reads: it {what}")


def late(allowance: float) -> str:
    """What an attempt that ran out of its `allowance` seconds is told."""
    return f"the answer did not arrive in full within {seconds(allowance)}"


def seconds(value: object) -> str:
    """A number of seconds, to a tenth, for a message (anything else is 0 s)."""
    count = float(value) if isinstance(value, int | float) else 0.0
    return f"{round(count, 1):g} s"


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count:,} bytes"


# -- what an answer says --------------------------------------------------------------------


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """`Retry-After` in seconds (the service sends seconds; an HTTP date is accepted too)."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        wait = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        wait = when.timestamp() - time.time()
    if not math.isfinite(wait):
        return None
    return max(0.0, wait)


# The error type of a status, where one is more than a `PartnerCenterError`.
ErrorTypes = Mapping[int, type[PartnerCenterError]]
# The hint an auth status gets: the error type, and what to do about it.
AuthHints = Mapping[int, tuple[type[PartnerCenterError], str]]

_PARTNER_CENTER_ERRORS: ErrorTypes = {404: NotFound}


def error_from_answer(answer: Answer, token: str, host: str | None) -> PartnerCenterError:
    """Read the classic `{code, description}` body, or the throttle's `{statusCode, message}`."""
    redirect = redirect_error(answer, host)
    if redirect is not None:
        return redirect
    payload = error_payload(answer)
    code = payload.get("code")
    if not isinstance(code, str | int) or isinstance(code, bool):
        code = None
    description = payload.get("description") or payload.get("message")
    if not isinstance(description, str):
        description = answer.reason or "no description"
    code_text = None if code in (None, "") else str(code)
    return refusal(
        answer,
        code_text,
        description,
        token,
        types=_PARTNER_CENTER_ERRORS,
        hints=MFA_HINTS if _mfa_missing(answer, code_text, description) else AUTH_HINTS,
        rule_refusals=RULE_REFUSALS,
    )


MFA_HINTS: AuthHints = {401: (Unauthorized, MFA_HINT)}


def _mfa_missing(answer: Answer, code: str | None, description: str) -> bool:
    """A 401 for a token without the MFA claim: its code, or a claims challenge."""
    if answer.status != 401:
        return False
    challenge = answer.headers.get("WWW-Authenticate", "").lower()
    said = description.lower()
    return (
        code == MFA_CODE
        or "claims=" in challenge
        or "insufficient_claims" in challenge
        or "multi-factor" in said
        or "mfa" in said.split()
    )


def redirect_error(answer: Answer, host: str | None) -> PartnerCenterError | None:
    """The error a redirect is (pcr follows none), or None for an answer that is not one."""
    if not 300 <= answer.status < 400:
        return None
    return PartnerCenterError(
        answer.status,
        None,
        f"a redirect, which pcr does not follow: the bearer token goes to {host} only",
        answer.request_id,
        service=answer.service,
    )


def error_payload(answer: Answer) -> dict[str, Any]:
    """An error answer's body as a JSON object; {} for anything else (it is only read for
    its code and text, and an error must be reported whatever its body)."""
    try:
        payload = decode_json(answer.body) if answer.body.strip() else {}
    except MalformedAnswer:
        payload = {}
    return payload if isinstance(payload, dict) else {}


def refusal(
    answer: Answer,
    code: str | None,
    description: str,
    token: str,
    *,
    types: ErrorTypes,
    hints: AuthHints,
    rule_refusals: frozenset[str] = frozenset(),
    request_id: str | None = None,
) -> PartnerCenterError:
    """The error for a refusal read from a body: of its status's type, an auth status given
    its hint (unless `code` is one of the service's `rule_refusals`), the token scrubbed."""
    error_class = types.get(answer.status, PartnerCenterError)
    if answer.status in hints and str(code) not in rule_refusals:
        error_class, hint = hints[answer.status]
        description = f"{one_line(description, DESCRIPTION_LIMIT - len(hint) - 3)} — {hint}"
    # Anything the service wrote may echo the token.
    return error_class(
        answer.status,
        None if code is None else scrub(code, token),
        scrub(description, token),
        scrub(request_id, token) if request_id else answer.request_id,
        service=answer.service,
    )
