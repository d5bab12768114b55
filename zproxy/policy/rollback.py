"""Whether a config change made things worse: the pure decision behind automatic rollback.

The failed share of client requests (zproxy's 5xx answers and Zuora's ``success: false``)
after a change is compared with the same share over the same length of time before it. The
change is rolled back once at least ``min_requests`` requests were seen after it and the share
rose by more than ``error_rate`` (absolute); it is kept when the window ends without that.
Counts come in per second (``Tally``); ``now`` is always passed in.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

#: Shares are floats: 0.07 - 0.05 is a hair above 0.02, which is not "more than" 0.02.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Tally:
    requests: int = 0
    failed: int = 0

    @property
    def rate(self) -> float:
        return min(1.0, self.failed / self.requests) if self.requests else 0.0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.requests + other.requests, self.failed + other.failed)


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Literal["wait", "keep", "rollback"]
    before: Tally
    after: Tally


def decide(
    before: Tally,
    after: Tally,
    *,
    changed_at: float,
    now: float,
    window: float,
    error_rate: float,
    min_requests: int,
) -> Verdict:
    rise = after.rate - before.rate
    if after.requests >= min_requests and rise > error_rate + _EPSILON:
        return Verdict("rollback", before, after)
    if now - changed_at >= window:
        return Verdict("keep", before, after)
    return Verdict("wait", before, after)


class SecondBuckets:
    """Requests and failures per whole second, kept for ``horizon`` seconds."""

    def __init__(self, horizon: float) -> None:
        self.horizon = horizon
        self._buckets: deque[tuple[int, int, int]] = deque()  # (second, requests, failed)

    def add(self, now: float, requests: int, failed: int) -> None:
        second = math.floor(now)
        if self._buckets and self._buckets[-1][0] == second:
            _, r, f = self._buckets[-1]
            self._buckets[-1] = (second, r + requests, f + failed)
        else:
            self._buckets.append((second, requests, failed))
        self._trim(now)

    def between(self, start: float, end: float) -> Tally:
        """The counts of the seconds in ``[floor(start), end)``."""
        low = math.floor(start)
        requests = failed = 0
        for second, r, f in self._buckets:
            if low <= second < end:
                requests += r
                failed += f
        return Tally(requests, failed)

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] < now - self.horizon - 1:
            self._buckets.popleft()
