"""What stops pcr on purpose: one root, `PcrError`, that the CLI reports in one place.

An expected failure (a file that cannot be read, a refusal, Partner Center saying no) is a
`PcrError`: the CLI prints `pcr: <message>` on stderr and exits with its `exit_code`, 1
unless it says otherwise, never with a traceback. Anything else that escapes a command is
a bug, and the CLI says so ("internal error"). The classes stay where they are raised, so
their callers import them from there; this is where they meet:

    PcrError (reconciler.errors)                         exit 1 unless it says otherwise
    ├── BackendError (live.errors)                       Partner Center, Graph, their setup
    │   ├── ConfigurationError                           a PCR_* setting with no usable value
    │   │   └── InvalidEndpointError
    │   ├── InsecureEndpointError
    │   ├── InvalidIdentifier
    │   ├── FakeStateError                               the fake's state file
    │   ├── AuthError                                    credentials missing or refused
    │   │   └── SignInError (live.signin)                `pcr login`
    │   │       ├── SignInCancelled
    │   │       └── SignInTimeout
    │   └── PartnerCenterError                           a refused or failed call
    │       ├── NotFound, LineNotFound, Unauthorized, Forbidden, PreconditionFailed
    │       └── MalformedAnswer, AnswerTooLarge, AnswerTimeout, PagingError
    ├── DesiredStateError (desired.load)                 the desired-state folder
    │   └── DesiredStateProblems (commands.plan)         problems in its files, listed above
    ├── ScopeError (desired.scope)                       --only, --changed-since
    ├── GitUnavailable (git)                             no git, or a hung one
    ├── PlanFormatError (plan.model)                     a saved plan this pcr cannot read
    ├── StateError (apply.state)                         the lock, journals and audit trail
    ├── LockedError (apply.state)                        another apply holds the lock
    ├── Refused (commands.apply)                         apply will not start
    └── Refused (commands.import_state)                  a path import will not write through

Not in the tree: `interrupts.Interrupted` (exit 130). It is a BaseException, so that no
`except Exception` takes a signal for a failure; the CLI ends it with `pcr: interrupted`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class PcrError(Exception):
    """An expected failure: the CLI says `pcr: <message>` and exits with `exit_code`."""

    # The exit-code contract's "error" (README); `pcr login` interrupted says 130.
    exit_code: int = 1

    def __init__(self, *args: object, exit_code: int | None = None) -> None:
        super().__init__(*args)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        """What the user reads after `pcr: `."""
        return str(self)


@contextmanager
def prefixed(prefix: str, *kinds: type[Exception]) -> Iterator[None]:
    """Any of `kinds` raised in the block, raised again as a PcrError that says what was
    being done: `<prefix>: <the error>` (an OSError says which file, not what pcr wrote)."""
    try:
        yield
    except kinds as exc:
        raise PcrError(f"{prefix}: {exc}") from exc
