"""The read decision: serve from cache, serve stale, fetch, or refuse (a pure state machine).

``decide_read`` looks at the stored entry's age against the route's ``ReadPolicy`` windows::

    0 ........ fresh ........ fresh+swr ........ fresh+sie
    ServeFresh | ServeStaleAndRevalidate | Fetch (ServeStaleIfError while Zuora fails)

and the HTTP edge executes the returned action, ending in ``assert_never``. When a fetch fails
(5xx, timeout, reset, connect error) ``on_fetch_failure`` says whether a stale entry may stand in;
when it is slow (past ``Fetch.stale_after``) ``on_fetch_slow`` does.
``is_storable`` says whether an upstream answer may be kept, and ``cache_status`` renders the
RFC 9211 ``Cache-Status`` value of what happened (CONTRACT §2).

Nothing is served without an identity, nothing beyond fresh + max(swr, sie), and stale-if-error
only while the upstream is open (breaker) or has just failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, assert_never

from zproxy.policy.read_http import body_success as body_success
from zproxy.policy.read_http import is_storable as is_storable
from zproxy.policy.read_http import request_forbids_store as request_forbids_store
from zproxy.policy.read_http import request_wants_revalidation as request_wants_revalidation
from zproxy.policy.routes import ReadPolicy

CACHE_NAME = "zproxy"

FetchReason = Literal["miss", "stale", "request"]


class EntryMeta(Protocol):
    """What the decision needs from a stored entry (``CacheEntry`` satisfies it)."""

    @property
    def stored_at(self) -> float:
        """Wall-clock seconds when the entry was stored."""

    @property
    def invalidated(self) -> bool:
        """A write or a callout changed what it shows since (a soft purge)."""


@dataclass(frozen=True, slots=True)
class ServeFresh:
    age: float
    ttl_left: float


@dataclass(frozen=True, slots=True)
class ServeStaleAndRevalidate:
    """Answer with the stale entry now; revalidate once in the background."""

    age: float


@dataclass(frozen=True, slots=True)
class ServeStaleIfError:
    """Zuora is unavailable or failed: the stale entry is still inside its stale-if-error window."""

    age: float


@dataclass(frozen=True, slots=True)
class ServeStaleIfSlow:
    """Zuora has not answered within ``stale_if_slow``: the stale entry (inside its
    stale-if-error window) answers now; the fetch finishes in the background and stores."""

    age: float


@dataclass(frozen=True, slots=True)
class ServeStaleShed:
    """zproxy's own concurrency cap toward Zuora refused the fetch (nothing was sent): the
    stale entry, inside its stale-if-error window, answers instead of an error."""

    age: float


@dataclass(frozen=True, slots=True)
class Fetch:
    """Forward to Zuora. ``store``: keep a storable answer. ``reason`` is RFC 9211's ``fwd``:
    ``miss`` (nothing stored), ``stale`` (stored entry too old), ``request`` (client asked).
    ``stale_after``: seconds to wait for Zuora before ``on_fetch_slow`` may answer with the
    stale entry (None: wait for the fetch)."""

    store: bool
    reason: FetchReason = "miss"
    stale_after: float | None = None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Breaker open and nothing servable: answer 503 with ``Retry-After``."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Bypass:
    """No identity: forward, never store, never serve from cache."""


@dataclass(frozen=True, slots=True)
class PassThroughError:
    """The fetch failed and nothing may stand in: forward Zuora's own error, or answer 503/504."""


ReadAction = ServeFresh | ServeStaleAndRevalidate | ServeStaleIfError | Fetch | Unavailable | Bypass


def age_of(entry: EntryMeta, now: float) -> float:
    """Seconds since the entry was stored; never negative (clocks of two workers may differ)."""
    return max(0.0, now - entry.stored_at)


def decide_read(
    *,
    entry: EntryMeta | None,
    now: float,
    policy: ReadPolicy,
    upstream_open: bool,
    has_identity: bool,
    request_no_cache: bool,
    request_no_store: bool = False,
    retry_after: float = 30.0,
    stale_if_slow: float = 0.0,
) -> ReadAction:
    """What to do with a cacheable read.

    ``upstream_open``: the breaker refuses calls now. ``request_no_cache``: the client sent
    ``Cache-Control: no-cache`` (or ``Pragma: no-cache``): a fresh hit is not enough, but while
    Zuora is down a stale entry still beats an error (RFC 5861 stale-if-error). ``retry_after``
    is the breaker's remaining open time, for ``Unavailable``. ``stale_if_slow`` (seconds, 0:
    off): how long a fetch of a stale entry still inside its stale-if-error window may keep the
    caller waiting before the entry answers (``Fetch.stale_after``, ``on_fetch_slow``); a
    client asking for revalidation (``no-cache``) waits for Zuora.
    """
    if not has_identity:
        return Bypass()
    store = not request_no_store
    if entry is None:
        return Unavailable(retry_after) if upstream_open else Fetch(store, "miss")
    age = age_of(entry, now)
    # A soft-purged entry is never fresh again, nor served while revalidating; while Zuora is
    # down it still beats an error, inside its stale-if-error window.
    current = not request_no_cache and not entry.invalidated
    if upstream_open:
        if age <= policy.fresh and current:
            return ServeFresh(age, policy.fresh - age)
        if age <= policy.fresh + policy.stale_if_error:
            return ServeStaleIfError(age)
        if age <= policy.fresh + policy.stale_while_revalidate and current:
            return ServeStaleAndRevalidate(age)
        return Unavailable(retry_after)
    if request_no_cache:
        return Fetch(store, "request")
    # Past the deadline, a hanging Zuora would end in this same entry as stale-if-error (a
    # soft-purged one too): answer with it then rather than after the upstream timeout.
    stale_after = stale_if_slow if stale_if_slow > 0 and _within_sie(age, policy) else None
    if entry.invalidated:
        return Fetch(store, "stale", stale_after)
    if age <= policy.fresh:
        return ServeFresh(age, policy.fresh - age)
    if age <= policy.fresh + policy.stale_while_revalidate:
        return ServeStaleAndRevalidate(age)
    return Fetch(store, "stale", stale_after)


def _within_sie(age: float, policy: ReadPolicy) -> bool:
    return age <= policy.fresh + policy.stale_if_error


def on_fetch_slow(
    *, entry: EntryMeta | None, now: float, policy: ReadPolicy
) -> ServeStaleIfSlow | None:
    """The fetch outlasted ``Fetch.stale_after``: the stale entry answers if it is still inside
    its stale-if-error window now (None: keep waiting for Zuora)."""
    if entry is not None:
        age = age_of(entry, now)
        if _within_sie(age, policy):
            return ServeStaleIfSlow(age)
    return None


def on_fetch_failure(
    *, entry: EntryMeta | None, now: float, policy: ReadPolicy, shed: bool = False
) -> ServeStaleIfError | ServeStaleShed | PassThroughError:
    """Zuora failed (5xx, timeout, reset, connect error), or ``shed``: our concurrency cap
    refused the call, like an open breaker: serve stale inside the SIE window."""
    if entry is not None:
        age = age_of(entry, now)
        if _within_sie(age, policy):
            return ServeStaleShed(age) if shed else ServeStaleIfError(age)
    return PassThroughError()


CacheOutcome = ReadAction | PassThroughError | ServeStaleIfSlow | ServeStaleShed


def cache_status(
    outcome: CacheOutcome,
    *,
    ttl_left: float | None = None,
    stored: bool = False,
    fwd_status: int | None = None,
    details: Sequence[str] = (),
) -> str:
    """The ``Cache-Status`` value (RFC 9211) for what was done.

    ``outcome`` is the action executed: the ``decide_read`` result, or ``on_fetch_failure``'s
    ``ServeStaleIfError`` when it stood in for a failed fetch. After a ``Fetch``, ``stored``
    says whether the answer was kept and ``fwd_status`` is Zuora's status (rendered for
    revalidations: ``fwd=stale``/``fwd=request``). ``details`` adds e.g. ``pending-writes``.
    """
    parts = [CACHE_NAME]
    extra = list(details)
    if isinstance(outcome, ServeFresh):
        ttl = outcome.ttl_left if ttl_left is None else ttl_left
        parts += ["hit", f"ttl={int(ttl)}"]
    elif isinstance(outcome, ServeStaleAndRevalidate):
        parts += ["hit", "fwd=stale"]
        extra.insert(0, "revalidating")
    elif isinstance(outcome, ServeStaleIfError):
        parts.append("hit")
        extra.insert(0, "stale-if-error")
    elif isinstance(outcome, ServeStaleShed):
        parts.append("hit")
        extra.insert(0, "shed")
    elif isinstance(outcome, ServeStaleIfSlow):
        parts += ["hit", "fwd=stale"]
        extra.insert(0, "stale-if-slow")
    elif isinstance(outcome, Fetch):
        parts.append(f"fwd={outcome.reason}")
        if fwd_status is not None and outcome.reason != "miss":
            parts.append(f"fwd-status={fwd_status}")
        if stored:
            parts.append("stored")
    elif isinstance(outcome, Bypass):
        parts.append("fwd=bypass")
    elif isinstance(outcome, Unavailable):
        extra.insert(0, "upstream-unavailable")
    elif isinstance(outcome, PassThroughError):
        extra.insert(0, "upstream-error")
    else:
        assert_never(outcome)
    if extra:
        parts.append(_detail(extra))
    return "; ".join(parts)


def _detail(words: Sequence[str]) -> str:
    if len(words) == 1:
        return f"detail={words[0]}"
    return 'detail="' + " ".join(words) + '"'


def age_header(age: float) -> str:
    """``Age`` in whole seconds (RFC 9111 §5.1)."""
    return str(int(age))
