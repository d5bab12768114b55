"""structlog set-up: one JSON (or console) event per line, with secrets and card numbers
redacted from every value before it is rendered, and CR/LF stripped (no log forging).

Records of the standard ``logging`` module (aiohttp, asyncio, redis) take the same path: their
message and traceback are redacted too. aiohttp's own bad-request log carries an excerpt of
the raw request, which can be an ``Authorization`` or ``Cookie`` line."""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, BinaryIO, Final

import orjson
import structlog

#: ``redact_value(key, value)``: the rules of what is secret (``zproxy.policy.sensitive``, handed
#: in by the composition root: this package sits below the policy and imports none of it).
RedactValue = Callable[[str, Any], Any]


def _no_crlf(value: Any) -> Any:
    """CR/LF escaped in every string, however deep (no forged log lines)."""
    if isinstance(value, str):
        return value.replace("\r", "\\r").replace("\n", "\\n")
    if isinstance(value, dict):
        return {k: _no_crlf(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_crlf(v) for v in value]
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


class Redact:
    """The structlog processor that redacts every value before it is rendered.

    ``foreign``: for records of other libraries, where nothing is zproxy's own vocabulary.
    """

    __slots__ = ("_redact", "_skip")

    def __init__(self, redact: RedactValue, *, foreign: bool = False) -> None:
        self._redact = redact
        self._skip = _FOREIGN_META if foreign else _TRUSTED_KEYS

    def __call__(
        self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if key not in self._skip:
                event_dict[key] = _no_crlf(self._redact(key, value))
        return event_dict


_FOREIGN_META = frozenset({"level", "timestamp", "logger", "_record", "_from_structlog"})


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


class HotLines:
    """The per-request line without structlog's processor chain: the same fields, the same
    redaction (``Redact``'s rules: every value outside ``_TRUSTED_KEYS`` through
    ``redact_value`` and CR/LF escaped), the same ``level``/``timestamp``, rendered by one
    ``orjson.dumps`` into a buffer of its own, written out once per event-loop pass (the lines of
    every request answered in that pass leave in one write, even when the stream itself is
    unbuffered, as with ``PYTHONUNBUFFERED=1`` in the container)."""

    __slots__ = ("_memo", "_pending", "_redact", "_stamp", "_stream")

    def __init__(self, redact: RedactValue, stream: BinaryIO) -> None:
        self._redact = redact
        self._stream = stream
        self._stamp = UtcTimestamp()
        #: (field, value) -> its redacted form: a hit repeats the same path, identity and
        #: sizes; redaction is a pure function of both (the card scan is ~10 us a path).
        self._memo: dict[tuple[str, object], Any] = {}
        #: Lines rendered in this loop pass, not yet written.
        self._pending: list[bytes] = []

    def info(self, event: str, fields: dict[str, Any]) -> None:
        memo = self._memo
        for key, value in fields.items():
            if value is None or key in _TRUSTED_KEYS:
                continue
            if type(value) in _SCALARS and key not in _UNIQUE_KEYS:
                done = memo.get((key, value), _MISSING)
                if done is _MISSING:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    done = memo[(key, value)] = _no_crlf(self._redact(key, value))
                fields[key] = done
            else:
                fields[key] = _no_crlf(self._redact(key, value))
        fields["event"] = event
        fields["level"] = "info"
        self._stamp(None, "", fields)
        pending = self._pending
        pending.append(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        if len(pending) == 1:  # the first line of this pass: one write when the pass ends
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running: now
                self.flush()

    def flush(self) -> None:
        """Write the pending lines (also at exit: a line rendered last is not lost)."""
        if self._pending:
            lines, self._pending = self._pending, []
            self._stream.write(b"".join(lines))
            self._stream.flush()


_SCALARS: Final = frozenset({str, int, float})
#: New with every request: redacted, never memoized.
_UNIQUE_KEYS: Final = frozenset({"request_id", "track_id", "duration_ms"})
_MISSING: Final = object()
_MEMO_SIZE: Final = 16_384

#: Set by ``configure_logging`` when lines are JSON and ``info`` is logged; else None (the
#: caller logs through structlog, which renders the console format or filters the level).
_hot: list[HotLines | None] = [None]


@atexit.register
def _flush_at_exit() -> None:
    if _hot[0] is not None:
        _hot[0].flush()


def hot_lines() -> HotLines | None:
    return _hot[0]


def _orjson_text(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj).decode()


def _stdlib_handler(json_lines: bool, redact: RedactValue) -> logging.Handler:
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
                Redact(redact, foreign=True),
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    return handler


def configure_logging(redact: RedactValue, fmt: str = "json", level: str = "info") -> None:
    json_lines = fmt == "json"
    info_on = logging.getLevelNamesMapping()[level.upper()] <= logging.INFO
    _flush_at_exit()
    _hot[0] = HotLines(redact, sys.stderr.buffer) if json_lines and info_on else None
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
            Redact(redact),
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
    logging.basicConfig(
        handlers=[_stdlib_handler(json_lines, redact)], level=logging.WARNING, force=True
    )
