"""The QuickBooks client's pacing of one realm's calls: per second, per minute and batch calls per minute, on a
clock the test moves (sleeping advances it), so no test waits."""

from __future__ import annotations

from crosswalk.clients.quickbooks import RealmLimits, RealmPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer(clock: FakeClock, **limits: int) -> RealmPacer:
    return RealmPacer(RealmLimits(**limits), clock=clock, sleep=clock.sleep, margin=0.0)


def starts(clock: FakeClock, paced: RealmPacer, calls: int, is_batch: bool = False) -> list[float]:
    """When each of `calls` back-to-back calls may start."""
    times = []
    for _ in range(calls):
        paced.acquire(is_batch)
        times.append(round(clock.now - 1000.0, 6))
    return times


def test_ten_calls_a_second_then_the_eleventh_waits_for_the_first_to_leave_the_window() -> None:
    clock = FakeClock()
    paced = pacer(clock)
    assert starts(clock, paced, 10) == [0.0] * 10
    assert starts(clock, paced, 11) == [1.0] * 10 + [2.0]
    assert paced.waited == 2.0


def test_the_minute_limit_holds_calls_spread_over_the_minute() -> None:
    clock = FakeClock()
    paced = pacer(clock, requests_per_second=100, requests_per_minute=5)
    for _ in range(5):
        paced.acquire(False)
        clock.now += 10  # 5 calls in 40 s
    paced.acquire(False)  # the sixth, at 50 s, waits until the first is a minute old
    assert clock.now - 1000.0 == 60.0 and clock.slept == [10.0]


def test_batch_calls_have_their_own_minute_limit_and_count_as_requests_too() -> None:
    clock = FakeClock()
    paced = pacer(clock, requests_per_second=100, requests_per_minute=500, batch_calls_per_minute=3)
    assert starts(clock, paced, 3, is_batch=True) == [0.0, 0.0, 0.0]
    assert starts(clock, paced, 5) == [0.0] * 5  # other calls are not held by the batch limit
    assert starts(clock, paced, 1, is_batch=True) == [60.0]
    assert paced.delay(clock.now, is_batch=False) == 0.0
    second = pacer(clock, requests_per_second=100, requests_per_minute=4)
    assert starts(clock, second, 4, is_batch=True) == [60.0] * 4
    assert starts(clock, second, 1) == [120.0]  # batch calls filled the realm's minute


def test_a_margin_frees_each_slot_a_little_after_the_server_would() -> None:
    clock = FakeClock()
    paced = RealmPacer(RealmLimits(requests_per_second=1), clock=clock, sleep=clock.sleep, margin=0.1)
    assert starts(clock, paced, 2) == [0.0, 1.1]
