"""Redaction for everything about queued writes that people see (admin views, stored replies).

The rules are ``zproxy.policy.sensitive``'s: credential headers are dropped, secret fields and
pairs replaced, and every run of 13-19 digits (optionally split by spaces or dashes, as card
numbers are written) keeps only its last 4, Luhn-valid or not. Request and track ids are left
alone.

Any stored body is shown without raising, and as it will be sent: JSON is walked (to a bounded
depth) and rendered again only when that loses nothing; a body that is not JSON, is not UTF-8,
has duplicate keys, numbers the rendering would change (beyond 64-bit integers or a double's
exact text) or is nested deeper than the decoder goes is redacted as text.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from zproxy.policy import sensitive
from zproxy.policy.sensitive import REDACTED as REDACTED
from zproxy.queue.model import WriteRecord

MAX_VIEW_BODY = 8192
CREDENTIAL_HEADERS = sensitive.CREDENTIAL_HEADERS


def mask_digits(text: str) -> str:
    """Mask card-like digit runs, keeping the last 4 digits."""
    return sensitive.mask_cards(text, luhn=False)


def redact_plain(text: str) -> str:
    """Text that is not JSON (forms, queries, XML, JSON too deep to walk): secret pairs
    replaced, digits masked."""
    return sensitive.redact_text(text, luhn=False)


class _Lossy(Exception):
    """Rendering this JSON again would change what the operator sees."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise _Lossy  # the view would hide the values Zuora may take
    return doc


def _exact_float(text: str) -> float:
    value = float(text)
    if repr(value) != text:
        raise _Lossy
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise _Lossy  # orjson renders 64-bit integers only
    return value


def _no_constant(text: str) -> Any:
    raise _Lossy  # NaN, Infinity: not JSON


def _redact_json(raw: bytes) -> str | None:
    """Rendered JSON with secret fields replaced, or None when ``raw`` is not JSON we can
    render again without changing it."""
    try:
        doc = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_float=_exact_float,
            parse_int=_int64,
            parse_constant=_no_constant,
        )
    except (ValueError, RecursionError, _Lossy):
        return None
    try:
        return orjson.dumps(sensitive.redact_value("", doc, luhn=False)).decode()
    except (orjson.JSONEncodeError, RecursionError):
        return None


def redact_text(body: bytes | str, limit: int = MAX_VIEW_BODY) -> str:
    """A body as safe text: JSON with secret fields replaced, digits masked, truncated."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogateescape")
    text = _redact_json(raw)
    if text is None:
        text = redact_plain(raw.decode("utf-8", errors="replace"))
    if len(text) > limit:
        # Mask again: a cut can only shorten a digit run, never reveal one.
        text = mask_digits(text[:limit]) + "...[truncated]"
    return text


def safe_headers(headers: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [
        [n, v if sensitive.is_identifier_key(n) else mask_digits(v)]
        for n, v in headers
        if n.lower() not in CREDENTIAL_HEADERS
    ]


def redacted_view(record: WriteRecord) -> dict[str, Any]:
    """The operator's view of a write (admin API, ``zproxy queue show``): no credentials."""
    write = record.write
    return {
        "writeId": write.id,
        "state": record.state,
        "route": write.route,
        "method": write.method,
        "path": redact_plain(write.path),
        "orderKey": mask_digits(write.order_key),
        "idempotencyKey": write.idempotency_key,
        "headers": safe_headers(write.headers),
        "body": redact_text(write.body),
        "attempts": record.attempts,
        "acceptedAt": write.accepted_at,
        "requeuedAt": record.requeued_at,
        "appliedAt": record.applied_at,
        "nextAttemptAt": record.next_attempt_at,
        "lastError": record.last_error,
        "deadReason": record.dead_reason,
        "upstreamStatus": record.upstream_status,
        "upstreamBody": None if record.upstream_body is None else redact_text(record.upstream_body),
    }
