"""HTTP ``Retry-After`` (RFC 9110 10.2.3): parse delay-seconds or an HTTP-date, and render the
value zproxy sends.

Pure: ``now`` (wall-clock epoch seconds) is an input.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping

#: Anything longer is treated as this; a misbehaving upstream must not park us for days.
MAX_RETRY_AFTER = 3600.0


def render_retry_after(seconds: float) -> str:
    """The ``Retry-After`` value for a wait of ``seconds``: whole seconds, rounded up, at least
    1 (a client told 0 would come back at once)."""
    return str(max(1, int(seconds + 0.999)))


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from ``now``, or None when ``value`` is not a valid Retry-After.

    Accepts delay-seconds and the three HTTP-date forms (IMF-fixdate, RFC 850, asctime; all
    GMT). A date in the past gives 0.0; results are capped at ``MAX_RETRY_AFTER``.
    """
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(int(text)), MAX_RETRY_AFTER)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        # HTTP-dates are always GMT; asctime and "-0000" forms parse as naive.
        parsed = parsed.replace(tzinfo=dt.UTC)
    delay = parsed.timestamp() - now
    return min(max(delay, 0.0), MAX_RETRY_AFTER)


def cooldown_after_429(headers: Mapping[str, str], now: float, default: float) -> float:
    """How long to hold calls back after Zuora's 429, in seconds.

    ``Retry-After`` when it is valid; else, when the quota is spent (``RateLimit-Remaining:
    0``), ``RateLimit-Reset`` (seconds; Zuora documents it, while its ``Retry-After`` on 429 is
    unconfirmed); else ``default``: a 429 for concurrency carries neither, and still means
    "not now". ``headers`` should be case-insensitive (aiohttp's are).
    """
    after = headers.get("Retry-After")
    if after is not None:
        seconds = parse_retry_after(after, now)
        if seconds is not None:
            return seconds
    if headers.get("RateLimit-Remaining", "").strip() == "0":
        reset = headers.get("RateLimit-Reset", "").strip()
        if reset.isascii() and reset.isdigit():
            return min(float(int(reset)), MAX_RETRY_AFTER)
    return default
