"""Redaction for everything about queued writes that people see (admin views, stored replies).

The rules are ``zproxy.policy.sensitive``'s: credential headers are dropped, secret fields and
pairs replaced, and every run of 13-19 digits (optionally split by spaces or dashes, as card
numbers are written) keeps only its last 4, Luhn-valid or not. Request and track ids are left
alone.

Any stored body is shown without raising: JSON is walked (to a bounded depth) and rendered
again; a body that is not JSON, is not UTF-8, or cannot be rendered again (nested deeper than
the encoder allows) is redacted as text.
"""

from __future__ import annotations

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


def _redact_json(raw: bytes) -> str | None:
    """Rendered JSON with secret fields replaced, or None when ``raw`` is not JSON we can
    render again."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
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
