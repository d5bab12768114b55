"""structlog set-up: one JSON (or console) event per line, with secrets and card numbers
redacted from every value before it is rendered, and CR/LF stripped (no log forging).

Records of the standard ``logging`` module (aiohttp, asyncio, redis) take the same path: their
message and traceback are redacted too. aiohttp's own bad-request log carries an excerpt of
the raw request, which can be an ``Authorization`` or ``Cookie`` line."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

SECRET_KEYS = frozenset(
    {
        "authorization",
        "apiaccesskeyid",
        "apisecretaccesskey",
        "client_secret",
        "cookie",
        "set-cookie",
        "password",
        "access_token",
        "proxy-authorization",
        "x-callout-secret",
        "creditcardnumber",
        "cardnumber",
        "securitycode",
        "cardsecuritycode",
    }
)
_CARDLIKE = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
_SECRET_PAIR = re.compile(
    r"(?i)(authorization|apiSecretAccessKey|apiAccessKeyId|client_secret|access_token|"
    r"password|zsession)([\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"'&,;}]+"
)
#: A cookie header holds several pairs: everything up to the end of its line goes.
_COOKIE_LINE = re.compile(r"(?i)((?:set-)?cookie)([\"']?\s*[:=]\s*[\"']?)[^\r\n\"']+")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def mask_card_numbers(text: str) -> str:
    """Mask digit runs of 13-19 that pass the Luhn check (PANs): keep the last 4."""

    def repl(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        if not luhn_ok(digits):
            return m.group(0)
        return "*" * (len(digits) - 4) + digits[-4:]

    return _CARDLIKE.sub(repl, text)


def redact_text(text: str) -> str:
    # Both patterns need a ':' or '=' between name and value: without one (request ids,
    # paths) skip them, they cost more than the rest of a log event (hot path).
    if ":" in text or "=" in text:
        text = _COOKIE_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
        text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED]", text)
    return mask_card_numbers(text).replace("\r", "\\r").replace("\n", "\\n")


def redact_value(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS:
        return "[REDACTED]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


#: Values zproxy itself produces from fixed vocabularies: never client text, never secret.
_TRUSTED_KEYS = frozenset(
    {
        "event",
        "level",
        "timestamp",
        "method",
        "route",
        "status",
        "duration_ms",
        "upstream_status",
        "cache",
        "error",
        "reason",
        "write_id",
        "delay",
    }
)


def redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if key not in _TRUSTED_KEYS:
            event_dict[key] = redact_value(key, value)
    return event_dict


def redact_foreign(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """For records of other libraries: nothing in them is zproxy's own vocabulary."""
    for key, value in event_dict.items():
        if key not in ("level", "timestamp", "logger", "_record", "_from_structlog"):
            event_dict[key] = redact_value(key, value)
    return event_dict


class UtcTimestamp:
    """``TimeStamper(fmt="iso", utc=True)``'s ``timestamp`` (``2024-05-01T12:00:00.123456Z``)
    with the date and time of day formatted once per second, not per event."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        second, micro = divmod(time.time_ns() // 1000, 1_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        # like datetime.isoformat(): no fraction when it is zero
        event_dict["timestamp"] = f"{self._prefix}.{micro:06d}Z" if micro else self._prefix + "Z"
        return event_dict


def _orjson_text(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj).decode()


def _stdlib_handler(json_lines: bool) -> logging.Handler:
    """A stderr handler that renders stdlib records like zproxy's own events, redacted."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                redact_foreign,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    return handler


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    json_lines = fmt == "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            UtcTimestamp(),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=(
            structlog.BytesLoggerFactory(sys.stderr.buffer)
            if json_lines
            else structlog.PrintLoggerFactory(sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )
    # aiohttp's own loggers would print request excerpts; keep them quiet and redacted.
    logging.getLogger("aiohttp.access").disabled = True
    logging.basicConfig(handlers=[_stdlib_handler(json_lines)], level=logging.WARNING, force=True)
