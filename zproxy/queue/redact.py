"""Redaction for everything about queued writes that people see (admin views, stored replies).

Credential headers are dropped, known secret JSON fields are replaced, and every run of 13-19
digits (optionally split by spaces or dashes, as card numbers are written) keeps only its last 4.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from zproxy.queue.model import WriteRecord

MAX_VIEW_BODY = 8192
REDACTED = "[REDACTED]"

CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "apiaccesskeyid",
        "apisecretaccesskey",
        "x-api-key",
        "x-callout-secret",
    }
)
SECRET_FIELDS = frozenset(
    {
        "creditcardnumber",
        "cardnumber",
        "securitycode",
        "cardsecuritycode",
        "cvv",
        "password",
        "client_secret",
        "clientsecret",
        "apisecretaccesskey",
        "access_token",
        "accesstoken",
        "refresh_token",
        "token",
        "bankaccountnumber",
        "iban",
    }
)
_CARD_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_NAMES = "|".join(sorted(SECRET_FIELDS | CREDENTIAL_HEADERS))
#: ``name=value`` pairs of form bodies and query strings.
_FORM_SECRET = re.compile(rf"(?i)(?<![A-Za-z0-9_])({_NAMES})=[^&\s]*")
#: ``<name>value</name>`` elements of XML bodies.
_XML_SECRET = re.compile(rf"(?i)<({_NAMES})>[^<]*</\1>")


def mask_digits(text: str) -> str:
    """Mask card-like digit runs, keeping the last 4 digits."""

    def _mask(m: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", m.group(0))
        return "*" * (len(digits) - 4) + digits[-4:]

    return _CARD_RUN.sub(_mask, text)


def redact_plain(text: str) -> str:
    """Text that is not JSON (forms, queries, XML): secret pairs replaced, digits masked."""
    text = _FORM_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _XML_SECRET.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
    return mask_digits(text)


def _redact_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if str(k).lower() in SECRET_FIELDS else _redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact_json(v) for v in value]
    if isinstance(value, str):
        return mask_digits(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 13:
        return mask_digits(str(value))
    return value


def redact_text(body: bytes | str, limit: int = MAX_VIEW_BODY) -> str:
    """A body as safe text: JSON with secret fields replaced, digits masked, truncated."""
    raw = body if isinstance(body, bytes) else body.encode()
    try:
        text = orjson.dumps(_redact_json(orjson.loads(raw))).decode()
    except orjson.JSONDecodeError:
        text = redact_plain(raw.decode("utf-8", errors="replace"))
    if len(text) > limit:
        # Mask again: a cut can only shorten a digit run, never reveal one.
        text = mask_digits(text[:limit]) + "...[truncated]"
    return text


def safe_headers(headers: tuple[tuple[str, str], ...]) -> list[list[str]]:
    return [[n, mask_digits(v)] for n, v in headers if n.lower() not in CREDENTIAL_HEADERS]


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
