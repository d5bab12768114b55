"""Parse an HTTP ``Retry-After`` value (RFC 9110 10.2.3): delay-seconds or an HTTP-date.

Pure: ``now`` (wall-clock epoch seconds) is an input.
"""

from __future__ import annotations

import datetime as dt
import email.utils

#: Anything longer is treated as this; a misbehaving upstream must not park us for days.
MAX_RETRY_AFTER = 3600.0


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
