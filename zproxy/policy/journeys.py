"""The outcome of one request for its customer journey (``zproxy_journey_requests_total``):
``queued`` (a write accepted for later, 202), ``stale`` (answered from a cache entry past its
freshness), ``failed`` (a 5xx, or Zuora's ``success: false``), else ``good``."""

from __future__ import annotations

from typing import Literal

Outcome = Literal["good", "stale", "queued", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("good", "stale", "queued", "failed")
#: Words of a Cache-Status that mean the answer came from a stale entry.
_STALE_WORDS = ("fwd=stale", "stale-if-error", "stale-if-slow", "detail=shed")


def journey_outcome(
    status: int, cache_status: str | None, *, queued: bool, success_false: bool
) -> Outcome:
    """``queued``: zproxy accepted the write for later (its 202 with ``Preference-Applied``)."""
    if status >= 500 or success_false:
        return "failed"
    if queued:
        return "queued"
    if cache_status is not None and any(word in cache_status for word in _STALE_WORDS):
        return "stale"
    return "good"
