"""``policy.rollback``: keep or roll back a config change from the failed share before and
after it; ``SecondBuckets`` counts per second."""

from __future__ import annotations

import pytest

from zproxy.policy.rollback import SecondBuckets, Tally, decide

RULES = {"window": 300.0, "error_rate": 0.02, "min_requests": 20}


@pytest.mark.parametrize(
    ("before", "after", "elapsed", "action"),
    [
        (Tally(100, 0), Tally(20, 1), 10, "rollback"),  # 0 % -> 5 %: rose by more than 2 %
        (Tally(100, 0), Tally(19, 19), 10, "wait"),  # too few requests yet
        (Tally(100, 0), Tally(19, 19), 300, "keep"),  # ... and never enough in the window
        (Tally(100, 5), Tally(100, 6), 10, "wait"),  # 5 % -> 6 %: within the threshold
        (Tally(100, 5), Tally(100, 6), 300, "keep"),
        (Tally(100, 5), Tally(100, 7), 10, "wait"),  # exactly 2 % more is not "more than"
        (Tally(100, 5), Tally(100, 8), 10, "rollback"),
        (Tally(0, 0), Tally(40, 2), 10, "rollback"),  # no traffic before: the share was 0
        (Tally(100, 50), Tally(100, 10), 300, "keep"),  # better after the change
        (Tally(100, 0), Tally(20, 0), 299.9, "wait"),
    ],
)
def test_decide(before: Tally, after: Tally, elapsed: float, action: str) -> None:
    verdict = decide(before, after, changed_at=1000.0, now=1000.0 + elapsed, **RULES)
    assert verdict.action == action
    assert (verdict.before, verdict.after) == (before, after)


def test_the_rate_is_a_share_capped_at_one() -> None:
    assert Tally().rate == 0.0
    assert Tally(10, 1).rate == 0.1
    assert Tally(2, 5).rate == 1.0  # success:false counted after its request
    assert Tally(1, 1) + Tally(3, 0) == Tally(4, 1)


def test_buckets_count_per_second_and_forget_past_the_horizon() -> None:
    b = SecondBuckets(horizon=10)
    b.add(100.2, 1, 0)
    b.add(100.9, 1, 1)
    b.add(103.5, 2, 0)
    assert b.between(100.0, 101) == Tally(2, 1)
    assert b.between(95.0, 104) == Tally(4, 1)
    b.add(112.0, 1, 1)  # 100 is now older than the horizon
    assert b.between(0.0, 200) == Tally(3, 1)
