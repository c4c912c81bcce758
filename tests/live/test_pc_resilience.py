"""Retries, throttling, polling, rate and concurrency limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from reconciler.fake import FakePartnerCenter
from reconciler.fake.server import FakeServer
from reconciler.fake.state import FakeState
from reconciler.live.auth import StaticToken
from reconciler.live.client import PartnerCenterClient
from reconciler.live.config import Limits
from reconciler.live.errors import PartnerCenterError
from reconciler.live.models import SubscriptionStatus
from reconciler.live.ratelimit import RateLimiter
from tests.live.pc_support import CONTOSO
from tests.live.pc_support import FABRIKAM
from tests.live.pc_support import FABRIKAM_BASIC_NCE
from tests.live.pc_support import FAKE_TOKEN
from tests.live.pc_support import Live
from tests.live.pc_support import SleepRecorder
from tests.live.pc_support import make_client
from tests.timeouts import FirstAttemptTimesOut

SUBSCRIPTION_PATH = f"/subscriptions/{FABRIKAM_BASIC_NCE}$"
# Only a safety net for waits that end on events.
SAFETY_SECONDS = 60


def test_429_waits_exactly_retry_after_in_real_time(server: FakeServer) -> None:
    server.app.add_fault("GET", f"/customers/{CONTOSO}$", status=429, retry_after=1)
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the real sleep, and what it was asked for
        waited.append(seconds)
        time.sleep(seconds)

    with PartnerCenterClient(server.url, StaticToken(FAKE_TOKEN), sleep=sleep) as client:
        customer = client.get_customer(CONTOSO)
    assert customer.name == "Contoso Ltd"
    assert waited == [1.0]
    assert (client.request_count, client.throttled_count) == (2, 1)
    first, retry = server.app.requests
    assert (first.status, retry.status) == (429, 200)
    assert retry.arrived - first.answered >= 1.0  # on the fake's clock
    assert first.request_id != retry.request_id  # an answer came: a new request


def test_each_logical_call_gets_its_own_request_id(live: Live) -> None:
    live.client.get_customer(CONTOSO)
    live.client.get_customer(CONTOSO)
    ids = [r.request_id for r in live.app.requests]
    assert len(set(ids)) == 2 and all(ids)
    assert {r.correlation_id for r in live.app.requests} == {live.client.correlation_id}


@pytest.mark.parametrize("status", [500, 503])
def test_a_read_answered_5xx_is_retried_with_growing_backoff_and_new_ids(
    live: Live, status: int
) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=status, count=3)
    assert live.client.get_customer(CONTOSO).id == CONTOSO
    reads = live.app.requests
    assert [r.status for r in reads] == [status, status, status, 200]
    # An answer came each time: each attempt is a new request (docs/partner-center.md).
    assert len({r.request_id for r in reads}) == 4
    first, second, third = live.sleep.calls
    assert 0.5 <= first <= 0.75 and 1.0 <= second <= 1.5 and 2.0 <= third <= 3.0


@pytest.mark.parametrize("status", [500, 503])
def test_a_write_answered_5xx_is_sent_again_only_once_a_read_says_it_did_not_land(
    live: Live, status: int
) -> None:
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=status, count=2)
    looked: list[bool] = []

    def landed() -> bool:
        renews = live.client.get_subscription(FABRIKAM, FABRIKAM_BASIC_NCE).auto_renew
        looked.append(not renews)
        return not renews

    result = live.client.update_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False, request_id="r-1", landed=landed
    )
    assert not result.auto_renew
    patches = [r for r in live.app.requests if r.method == "PATCH"]
    assert [r.status for r in patches] == [status, status, 200]
    assert patches[0].request_id == "r-1" and len({r.request_id for r in patches}) == 3
    assert looked == [False, False]  # read before each resend: not in place, so sent again
    assert len(live.app.mutations) == 1  # only the accepted attempt changed anything


def test_a_write_answered_5xx_that_landed_is_not_sent_again(live: Live) -> None:
    """The service took the change, then failed to say so: a fresh read finds it in place."""
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=503, applied=True)

    def landed() -> bool:
        return not live.client.get_subscription(FABRIKAM, FABRIKAM_BASIC_NCE).auto_renew

    result = live.client.update_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False, landed=landed
    )
    assert not result.auto_renew
    patches = [r for r in live.app.requests if r.method == "PATCH"]
    assert [r.status for r in patches] == [503]  # in place: not sent again
    assert len(live.app.mutations) == 1


def test_a_write_answered_5xx_without_a_way_to_look_is_not_sent_again(live: Live) -> None:
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=503, applied=True)
    with pytest.raises(PartnerCenterError) as caught:
        live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False)
    assert caught.value.status == 503
    assert len([r for r in live.app.requests if r.method == "PATCH"]) == 1
    assert len(live.app.mutations) == 1  # it did land: sending it again would be blind


def test_a_renewal_in_progress_is_waited_out_for_minutes(live: Live) -> None:
    """409 for a minute and a half (a renewal), then the change goes through: the waits
    grow, are not attempts, and each attempt after a 409 is a new request."""
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=409, count=6)
    result = live.client.update_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False, request_id="r-9"
    )
    assert not result.auto_renew
    patches = [r for r in live.app.requests if r.method == "PATCH"]
    assert [r.status for r in patches] == [409] * 6 + [200]
    assert patches[0].request_id == "r-9" and len({r.request_id for r in patches}) == 7
    assert sum(live.sleep.calls) >= 60
    assert min(live.sleep.calls) >= 5  # a renewal is not a blip: no half-second retries


def test_a_service_that_replays_an_answer_by_its_id_gets_a_new_id_after_a_409(
    live: Live,
) -> None:
    """The fake answers a write it has answered before, under the same id, the same way
    (an idempotency key). A 409 resent under its id would be answered 409 until pcr gave
    up; under a new id the change goes through once the renewal is over."""
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=409, count=1)
    live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False)
    first, second = [r for r in live.app.requests if r.method == "PATCH"]
    assert (first.status, second.status) == (409, 200)
    assert first.request_id != second.request_id
    assert len(live.app.mutations) == 1
    # A call that starts under that old id is answered as it was (409, nothing done), and
    # gets through under the new id it takes then.
    live.client.update_subscription(
        FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=True, request_id=first.request_id
    )
    replayed, fresh = [r for r in live.app.requests if r.method == "PATCH"][2:]
    assert (replayed.request_id, replayed.status) == (first.request_id, 409)
    assert fresh.status == 200 and fresh.request_id not in (first.request_id, second.request_id)
    assert len(live.app.mutations) == 2


def test_a_409_that_never_ends_gives_up_after_the_busy_wait(live: Live) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=409, count=None)
    with pytest.raises(PartnerCenterError) as caught:
        live.client.get_customer(CONTOSO)
    assert caught.value.status == 409
    assert "still busy after" in str(caught.value) and "PCR_BUSY_WAIT" in str(caught.value)
    # It waits until one more pause would pass the 300 s budget, and no further.
    waited = sum(live.sleep.calls)
    assert waited <= 300 < waited + 75


def test_the_busy_wait_says_what_it_waits_for(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=409, count=1)
    # On the client's own logger: a CLI test may have set the root's level, or others'.
    with caplog.at_level("WARNING", logger="reconciler.live.client"):
        live.client.get_customer(CONTOSO)
    assert "Partner Center is busy with it (409" in caplog.text
    assert "a renewal can take minutes" in caplog.text


def test_retry_after_on_409_is_honoured(live: Live) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=409, retry_after=120)
    live.client.get_customer(CONTOSO)
    assert live.sleep.calls == [120]


def test_attempts_are_bounded_then_a_clear_error(live: Live) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=503, count=None)
    with pytest.raises(PartnerCenterError) as caught:
        live.client.get_customer(CONTOSO)
    assert caught.value.status == 503
    assert "gave up after 6 attempts" in str(caught.value)
    assert live.client.request_count == 6 and len(live.sleep.calls) == 5


def test_a_client_error_is_not_retried(live: Live) -> None:
    live.app.add_fault("GET", f"/customers/{CONTOSO}$", status=400, code=1234, description="no")
    with pytest.raises(PartnerCenterError) as caught:
        live.client.get_customer(CONTOSO)
    assert (caught.value.code, caught.value.description) == ("1234", "no")
    assert live.client.request_count == 1 and live.sleep.calls == []


def test_a_timeout_is_retried_with_the_same_request_id(server: FakeServer) -> None:
    path = f"/customers/{CONTOSO}$"
    gave_up = threading.Event()
    # The first attempt waits at the fake until the client has given up on it and sent the
    # retry; the retry waits until the first is answered. So the timeout is certain, and the
    # slow one finishes after the client gave up on it, however loaded the machine.
    first = server.app.hold("GET", path, until=gave_up)
    retry = server.app.hold("GET", path, until=first.answered, arrived=gave_up)
    sleep = SleepRecorder()
    with (
        first,
        retry,
        PartnerCenterClient(
            server.url,
            StaticToken(FAKE_TOKEN),
            transport=FirstAttemptTimesOut("GET", path, read=0.1),
            sleep=sleep,
        ) as client,
    ):
        assert client.get_customer(CONTOSO).id == CONTOSO
    assert client.request_count == 2 and len(sleep.calls) == 1
    # The server saw both, the slow one first, under one request id.
    assert (first.caught, retry.caught) == (1, 1)
    assert first.request_ids == retry.request_ids
    assert len(server.app.requests) == 2
    assert len({r.request_id for r in server.app.requests}) == 1


def test_connection_errors_are_retried(state: FakeState) -> None:
    inner = httpx.WSGITransport(app=FakePartnerCenter(state))
    failures = iter([httpx.ConnectError("refused"), httpx.ReadError("reset")])

    def flaky(request: httpx.Request) -> httpx.Response:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return inner.handle_request(request)

    sleep = SleepRecorder()
    with PartnerCenterClient(
        "https://pc.test",
        StaticToken(FAKE_TOKEN),
        transport=httpx.MockTransport(flaky),
        sleep=sleep,
    ) as client:
        assert client.get_customer(CONTOSO).id == CONTOSO
    assert client.request_count == 3 and len(sleep.calls) == 2


def test_a_202_is_polled_until_done(live: Live) -> None:
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=202, polls=2, retry_after=3)
    result = live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, status="suspended")
    assert result.status is SubscriptionStatus.SUSPENDED
    polls = [r for r in live.app.requests if r.path.startswith("/v1/operations/")]
    assert [r.status for r in polls] == [202, 202, 200]
    assert live.sleep.calls == [3]  # Retry-After from the 202; the poll answers say 0
    assert live.app.mutations[0]["action"] == "suspend"


def test_a_202_without_retry_after_backs_off_briefly(live: Live) -> None:
    live.app.add_fault("PATCH", SUBSCRIPTION_PATH, status=202, polls=0)
    live.client.update_subscription(FABRIKAM, FABRIKAM_BASIC_NCE, auto_renew=False)
    assert live.sleep.calls == [1.0]


def test_the_fake_throttle_is_absorbed_and_counted(state: FakeState) -> None:
    state.set_throttle(3, window_seconds=60)
    sleep = SleepRecorder()
    with make_client(FakePartnerCenter(state), sleep=sleep) as client:
        for _ in range(3):
            client.get_customer(CONTOSO)
        with pytest.raises(PartnerCenterError) as caught:
            client.get_customer(CONTOSO)  # the recorder does not really wait, so all 6 bounce
    assert caught.value.status == 429 and "Rate limit is exceeded" in caught.value.description
    assert client.throttled_count == 6
    assert all(55 <= wait <= 60 for wait in sleep.calls)


class Granting(RateLimiter):
    """The real limiter, on the real clock, noting when it grants each call."""

    def __init__(self, limit: int, window: float) -> None:
        super().__init__(limit, window)
        self.granted: list[float] = []

    def _grant(self, waiter: Any, now: float) -> None:
        super()._grant(waiter, now)
        self.granted.append(now)


def test_rate_limiter_spaces_requests_in_real_time() -> None:
    limiter = Granting(2, window=0.2)
    for _ in range(6):  # one every 0.1 s: the sixth at 0.5 s
        limiter.acquire()
    granted = limiter.granted
    # Never more than 2 in any 0.2 s, however late the machine wakes the waiting thread.
    assert all(later - earlier >= 0.2 for earlier, later in zip(granted, granted[2:], strict=False))
    assert granted[-1] - granted[0] >= 0.4


def test_client_rate_limit_paces_requests_evenly(state: FakeState) -> None:
    sleep = SleepRecorder()  # records waits without passing time: the limiter counts them
    with make_client(FakePartnerCenter(state), sleep=sleep, rate_per_minute=3) as client:
        for _ in range(4):
            client.get_customer(CONTOSO)
    # 3 a minute is one every 20 s, not a burst of three and then a minute's wait.
    assert [round(w) for w in sleep.calls] == [20, 20, 20]


def test_per_minute_limiter_never_exceeds_the_rate() -> None:
    for rate in (1, 3, 59, 60, 61, 500, 15_000):
        limiter = RateLimiter.per_minute(rate)
        windows_per_minute = 60 / limiter.window
        assert limiter.limit * windows_per_minute == pytest.approx(rate)
        assert limiter.window <= 60


def test_concurrency_is_capped_and_counters_are_thread_safe() -> None:
    in_flight, peak, lock = 0, 0, threading.Lock()
    full, release = threading.Event(), threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight == 3:
                full.set()
        # The first three stay inside until every other caller is seen queued for a place:
        # a fourth let through a broken cap would be inside too by then.
        release.wait(SAFETY_SECONDS)
        with lock:
            in_flight -= 1
        return httpx.Response(200, json={"id": CONTOSO, "relationshipToPartner": "reseller"})

    with (
        PartnerCenterClient(
            "https://pc.test",
            StaticToken(FAKE_TOKEN),
            transport=httpx.MockTransport(slow),
            # Places, not the pace, hold the others back.
            limits=Limits(rate_per_minute=100_000, max_concurrency=3),
        ) as client,
        ThreadPoolExecutor(max_workers=12) as pool,
    ):
        results = pool.map(lambda _: client.get_customer(CONTOSO), range(36))
        try:
            assert full.wait(SAFETY_SECONDS)
            # 12 callers, 3 places: 9 wait for one (or a broken cap let a fourth in).
            wait_until(lambda: peak > 3 or sum(client._limiter.queued) == 9)
            assert peak == 3
        finally:
            release.set()
        assert len(list(results)) == 36
    assert peak == 3
    assert client.request_count == 36


def wait_until(condition: Callable[[], bool]) -> None:
    """Until `condition` holds (looked at again whenever the other threads have run)."""
    deadline = time.monotonic() + SAFETY_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0)  # let the other threads run
