"""One root for every expected failure: the CLI reports a `PcrError` in one place, so each
error a command means to report must be one."""

from __future__ import annotations

import pytest

from reconciler.apply.state import LockedError
from reconciler.apply.state import StateError
from reconciler.commands import apply
from reconciler.commands import import_state
from reconciler.commands.plan import DesiredStateProblems
from reconciler.desired.load import DesiredStateError
from reconciler.desired.scope import ScopeError
from reconciler.errors import PcrError
from reconciler.errors import prefixed
from reconciler.git import GitUnavailable
from reconciler.live.errors import AuthError
from reconciler.live.errors import BackendError
from reconciler.live.errors import ConfigurationError
from reconciler.live.errors import PartnerCenterError
from reconciler.live.signin import SignInError
from reconciler.plan.model import PlanFormatError


@pytest.mark.parametrize(
    "error",
    [
        BackendError,
        ConfigurationError,
        AuthError,
        SignInError,
        PartnerCenterError,
        DesiredStateError,
        DesiredStateProblems,
        ScopeError,
        GitUnavailable,
        PlanFormatError,
        StateError,
        LockedError,
        apply.Refused,
        import_state.Refused,
    ],
)
def test_every_expected_failure_is_a_pcr_error_that_exits_1(error: type[Exception]) -> None:
    assert issubclass(error, PcrError)
    assert error.exit_code == 1


def test_an_error_may_exit_with_another_code() -> None:
    stopped = PcrError("interrupted", exit_code=130)
    assert (stopped.message, stopped.exit_code) == ("interrupted", 130)
    assert PcrError.exit_code == 1


def test_a_partner_center_error_says_what_it_always_said() -> None:
    refused = PartnerCenterError(403, "Forbidden", "no  access\n", "req-1")
    assert (
        refused.message
        == str(refused)
        == "Partner Center 403 (code Forbidden): no access [request req-1]"
    )


def test_prefixed_says_what_was_being_done_and_keeps_the_cause() -> None:
    cause = PermissionError(13, "Permission denied", "out/plan.json")
    with pytest.raises(PcrError) as raised, prefixed("cannot save the plan to out", OSError):
        raise cause
    assert raised.value.message == (
        "cannot save the plan to out: [Errno 13] Permission denied: 'out/plan.json'"
    )
    assert raised.value.__cause__ is cause


def test_prefixed_lets_anything_else_through() -> None:
    with pytest.raises(ValueError), prefixed("cannot save the plan", OSError):
        raise ValueError("a bug")
