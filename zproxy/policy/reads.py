"""The read decision: serve from cache, serve stale, fetch, or refuse (a pure state machine).

``decide_read`` looks at the stored entry's age against the route's ``ReadPolicy`` windows::

    0 ........ fresh ........ fresh+swr ........ fresh+sie
    ServeFresh | ServeStaleAndRevalidate | Fetch (ServeStaleIfError while Zuora fails)

and the HTTP edge executes the returned action, ending in ``assert_never``. When a fetch fails
(5xx, timeout, reset, connect error) ``on_fetch_failure`` says whether a stale entry may stand in.
``is_storable`` says whether an upstream answer may be kept, and ``cache_status`` renders the
RFC 9211 ``Cache-Status`` value of what happened (CONTRACT §2).

Nothing is served without an identity, nothing beyond fresh + max(swr, sie), and stale-if-error
only while the upstream is open (breaker) or has just failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, assert_never

import orjson

from zproxy.policy.keys import header
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
class Fetch:
    """Forward to Zuora. ``store``: keep a storable answer. ``reason`` is RFC 9211's ``fwd``:
    ``miss`` (nothing stored), ``stale`` (stored entry too old), ``request`` (client asked)."""

    store: bool
    reason: FetchReason = "miss"


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
) -> ReadAction:
    """What to do with a cacheable read.

    ``upstream_open``: the breaker refuses calls now. ``request_no_cache``: the client sent
    ``Cache-Control: no-cache`` (or ``Pragma: no-cache``): a fresh hit is not enough, but while
    Zuora is down a stale entry still beats an error (RFC 5861 stale-if-error). ``retry_after``
    is the breaker's remaining open time, for ``Unavailable``.
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
    if entry.invalidated:
        return Fetch(store, "stale")
    if age <= policy.fresh:
        return ServeFresh(age, policy.fresh - age)
    if age <= policy.fresh + policy.stale_while_revalidate:
        return ServeStaleAndRevalidate(age)
    return Fetch(store, "stale")


def on_fetch_failure(
    *, entry: EntryMeta | None, now: float, policy: ReadPolicy
) -> ServeStaleIfError | PassThroughError:
    """Zuora failed (5xx, timeout, reset, connect error): serve stale inside the SIE window."""
    if entry is not None:
        age = age_of(entry, now)
        if age <= policy.fresh + policy.stale_if_error:
            return ServeStaleIfError(age)
    return PassThroughError()


def is_storable(
    status: int,
    headers: Mapping[str, str],
    body_success: bool | None,
    body_len: int,
    max_bytes: int,
) -> bool:
    """May this upstream answer be kept?

    Only a 200 whose body is complete (matches ``Content-Length`` when the body was not
    transfer-decoded) and at most ``max_bytes``, whose JSON ``success`` is not false. We are a
    private cache per credential, so ``Cache-Control: private`` is fine; ``no-store`` is
    honoured. The route table decides freshness, so ``max-age``/``no-cache`` are not read
    (as nginx's ``proxy_cache_valid``). ``Set-Cookie`` answers and ``Vary: *`` are not kept.
    """
    if status != 200 or body_success is False or body_len > max_bytes:
        return False
    if _has_directive(header(headers, "Cache-Control"), "no-store"):
        return False
    if header(headers, "Set-Cookie") is not None:
        return False
    if (header(headers, "Vary") or "").strip() == "*":
        return False
    length = header(headers, "Content-Length")
    if length is not None and header(headers, "Content-Encoding") is None:
        return length.strip().isdigit() and int(length) == body_len
    return True


def _has_directive(value: str | None, name: str) -> bool:
    if not value:
        return False
    return any(part.split("=", 1)[0].strip().lower() == name for part in value.split(","))


def request_wants_revalidation(headers: Mapping[str, str]) -> bool:
    """``Cache-Control: no-cache`` / ``max-age=0`` or ``Pragma: no-cache`` on the request."""
    cc = header(headers, "Cache-Control")
    if _has_directive(cc, "no-cache") or "max-age=0" in (cc or "").replace(" ", "").lower():
        return True
    return _has_directive(header(headers, "Pragma"), "no-cache")


def request_forbids_store(headers: Mapping[str, str]) -> bool:
    """``Cache-Control: no-store`` on the request."""
    return _has_directive(header(headers, "Cache-Control"), "no-store")


def body_success(body: bytes, content_type: str | None) -> bool | None:
    """The top-level ``success`` (or CRUD ``Success``) of a JSON body; None when absent or not
    JSON. Only called for answers that might be stored."""
    if not content_type or "json" not in content_type.lower() or body.lstrip()[:1] != b"{":
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # a JSON answer we cannot parse is not worth keeping
    if not isinstance(doc, dict):
        return None
    value = doc.get("success", doc.get("Success"))
    return value if isinstance(value, bool) else None


CacheOutcome = ReadAction | PassThroughError


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
