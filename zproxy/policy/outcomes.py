"""What one upstream attempt says about Zuora's health: the breaker's input.

Pure: a function of (HTTP status, exception) with no I/O. The caller (the upstream client) maps
aiohttp errors to ``zproxy.errors`` first, so nothing here knows about aiohttp.

- ``SUCCESS``: Zuora answered (status < 400).
- ``OUTAGE_FAILURE``: connect errors, timeouts, resets, malformed responses and every 5xx.
- ``NOT_COUNTED``: Zuora answered but the answer says nothing about an outage: 4xx (a bad
  request or credential), 429 (its own limits; handled by the cooldown, not the breaker), and
  errors of our own making (body too large, cancellation, programming errors).

Zuora's lock-competition and ``TEMPORARY_ERROR`` bodies arrive as 200/400 with
``success: false``; they are retryable but not outage signals. The caller, which has parsed the
body, decides about retrying them; classified here by status they are SUCCESS or NOT_COUNTED,
never OUTAGE_FAILURE.

``SlidingCounts`` tallies outcomes over a sliding time window (the breaker's failure ratio).
"""

from __future__ import annotations

import enum

from zproxy.errors import UpstreamBodyTooLarge, UpstreamError


class Outcome(enum.Enum):
    SUCCESS = "success"
    OUTAGE_FAILURE = "outage_failure"
    NOT_COUNTED = "not_counted"


_TOO_MANY_REQUESTS = 429


def classify_outcome(status: int | None, error: BaseException | None) -> Outcome:
    """Classify one attempt: an exception wins over a status."""
    if error is not None:
        return _classify_error(error)
    if status is None:
        return Outcome.NOT_COUNTED
    if status >= 500:
        return Outcome.OUTAGE_FAILURE
    if status >= 400:
        return Outcome.NOT_COUNTED
    return Outcome.SUCCESS


def _classify_error(error: BaseException) -> Outcome:
    # Not an Exception (cancellation: the client went away or we are shutting down), or one
    # of our own making: no news about Zuora.
    if not isinstance(error, Exception) or isinstance(error, UpstreamBodyTooLarge):
        return Outcome.NOT_COUNTED
    if isinstance(error, UpstreamError | TimeoutError | ConnectionError):
        return Outcome.OUTAGE_FAILURE
    if isinstance(error, OSError):
        # DNS failures, unreachable networks, refused connections.
        return Outcome.OUTAGE_FAILURE
    return Outcome.NOT_COUNTED


def is_rate_limited(status: int | None) -> bool:
    """True for Zuora's 429: feed its Retry-After to the limiter's cooldown instead."""
    return status == _TOO_MANY_REQUESTS


class SlidingCounts:
    """Calls and failures over a sliding window, in ``buckets`` ring slots: O(1) amortized.

    The window covers the current bucket and the ``buckets - 1`` before it. Pure: the caller
    passes ``now`` (monotonic seconds). The breaker counts (calls, outage failures);
    the retry budget counts (requests, retries).
    """

    __slots__ = ("_head", "_hits", "_n", "_sum_hits", "_sum_total", "_totals", "_width")

    def __init__(self, window: float, buckets: int) -> None:
        self._width = window / buckets
        self._n = buckets
        self._totals = [0] * buckets
        self._hits = [0] * buckets
        self._sum_total = 0
        self._sum_hits = 0
        self._head: int | None = None

    def add(self, now: float, hit: bool) -> None:
        slot = self._advance(now) % self._n
        self._totals[slot] += 1
        self._sum_total += 1
        if hit:
            self._hits[slot] += 1
            self._sum_hits += 1

    def counts(self, now: float) -> tuple[int, int]:
        """(total, hits) inside the window ending at ``now``."""
        self._advance(now)
        return self._sum_total, self._sum_hits

    def clear(self) -> None:
        self._totals = [0] * self._n
        self._hits = [0] * self._n
        self._sum_total = self._sum_hits = 0

    def _advance(self, now: float) -> int:
        index = int(now // self._width)
        head = self._head
        if head is None or index - head >= self._n:
            if head is not None:
                self.clear()
            self._head = index
            return index
        if index <= head:  # same bucket (or a clock step back): stay
            return head
        for step in range(head + 1, index + 1):
            slot = step % self._n
            self._sum_total -= self._totals[slot]
            self._sum_hits -= self._hits[slot]
            self._totals[slot] = self._hits[slot] = 0
        self._head = index
        return index
