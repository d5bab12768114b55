"""The one home of what is sensitive: card numbers, CVVs and secrets, and how to hide them.

Used by the write policy (card data is never queued), the operator's views of queued writes
(``zproxy.queue.redact``) and the logs (``zproxy.observability.logging`` gets ``redact_value``
from the composition root). Pure: strings in, strings out.

Two strengths of card masking, on purpose:

- ``looks_like_card`` / ``mask_cards(luhn=True)``: a run of 13-19 digits (spaces or dashes
  between them allowed) that passes the Luhn check. Card detection and logs use it: a long
  order number in a log line stays readable.
- ``mask_cards(luhn=False)``: every such run keeps only its last 4 digits. The views of stored
  bodies use it: a mistyped card number is still a card's worth of a customer's digits.

Identifiers are never masked: request ids (``X-Request-Id``, ``requestId``) and Zuora track
ids are tokens the client or Zuora chose to correlate requests, not places a card goes.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

#: Request headers that carry credentials: dropped from views, redacted in logs.
CREDENTIAL_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "apiaccesskeyid",
        "apisecretaccesskey",
        "x-api-key",
        "x-callout-secret",
    }
)
#: JSON fields (any case) whose value is a card number or a CVV.
CARD_FIELDS = frozenset(
    {"creditcardnumber", "cardnumber", "securitycode", "cardsecuritycode", "cvv", "cvv2", "cvc"}
)
#: Field, parameter and header names (any case) whose value is replaced outright.
SECRET_KEYS = (
    CREDENTIAL_HEADERS
    | CARD_FIELDS
    | {
        "password",
        "client_secret",
        "clientsecret",
        "access_token",
        "accesstoken",
        "refresh_token",
        "token",
        "zsession",
        "bankaccountnumber",
        "iban",
    }
)
#: Names whose values are identifiers, never masked as card numbers.
IDENTIFIER_KEYS = frozenset(
    {"x-request-id", "request_id", "requestid", "zuora-track-id", "track_id", "trackid"}
)

_DIGIT_RUN = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_DIGIT_RUN_BYTES = re.compile(rb"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
_CARD_FIELD_BYTES = re.compile(
    rb'"(?:' + b"|".join(k.encode() for k in sorted(CARD_FIELDS)) + rb')"\s*:', re.IGNORECASE
)
_NAMES = "|".join(re.escape(k) for k in sorted(SECRET_KEYS, key=len, reverse=True))
#: ``name: value`` / ``name=value`` / ``"name": "value"`` in free text (log messages, bodies
#: that are not JSON, JSON too deep to walk). ``Bearer`` is part of the value.
_SECRET_PAIR = re.compile(
    rf"(?i)(?<![A-Za-z0-9_-])({_NAMES})([\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"'&,;}}<]+"
)
#: A cookie header holds several pairs: everything up to the end of its line goes.
_COOKIE_LINE = re.compile(r"(?i)((?:set-)?cookie)([\"']?\s*[:=]\s*[\"']?)[^\r\n\"']+")
#: ``<name>value</name>`` elements of XML bodies.
_XML_SECRET = re.compile(rf"(?i)<({_NAMES})>[^<]*</\1>")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _digits(run: str) -> str:
    return run.replace(" ", "").replace("-", "")


def has_card_data(body: bytes) -> bool:
    """Card or CVV fields, or a digit run that passes the Luhn check: never queued."""
    if _CARD_FIELD_BYTES.search(body):
        return True
    return any(luhn_ok(_digits(m.group(0).decode())) for m in _DIGIT_RUN_BYTES.finditer(body))


def mask_cards(text: str, *, luhn: bool = True) -> str:
    """Digit runs of 13-19 keep only their last 4 (with ``luhn``: only runs that pass it)."""

    def repl(m: re.Match[str]) -> str:
        digits = _digits(m.group(0))
        if luhn and not luhn_ok(digits):
            return m.group(0)
        return "*" * (len(digits) - 4) + digits[-4:]

    return _DIGIT_RUN.sub(repl, text)


def redact_pairs(text: str) -> str:
    """Secret ``name: value`` pairs (headers, forms, queries, JSON text, XML) replaced."""
    if ":" in text or "=" in text:  # both pair forms need one; skip plain text (hot path)
        text = _COOKIE_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    if "<" in text:
        text = _XML_SECRET.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
    return text


def redact_text(text: str, *, luhn: bool = True) -> str:
    """Free text made safe: secret pairs replaced, card numbers masked."""
    return mask_cards(redact_pairs(text), luhn=luhn)


def is_secret_key(name: str) -> bool:
    return name.lower() in SECRET_KEYS


def is_identifier_key(name: str) -> bool:
    return name.lower() in IDENTIFIER_KEYS


def redact_value(key: str, value: Any, *, luhn: bool = True, depth: int = 0) -> Any:
    """A value found under ``key`` (a log field, a JSON member), redacted recursively.

    Past 64 levels a container is replaced by a marker: nothing that deep is worth showing,
    and the walk stays far from Python's recursion limit.
    """
    if is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_pairs(value) if is_identifier_key(key) else redact_text(value, luhn=luhn)
    if isinstance(value, dict | list | tuple) and depth >= 64:
        return "[TOO DEEP]"
    if isinstance(value, dict):
        return {k: redact_value(str(k), v, luhn=luhn, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v, luhn=luhn, depth=depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**12:
        return mask_cards(str(value), luhn=luhn)
    return value
