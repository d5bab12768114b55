"""``zproxy serve --record FILE``: one sanitized JSON line per answered request.

Where it sits in the request flow: at the very end, beside the request log. ``ProxyHandler``
calls ``Recorder.record(ex, status, duration)`` from ``finish``; the recorder turns the exchange
into a line that names no one (``policy.pseudonyms``: identifiers, identities and body-naming
fields become keyed pseudonyms, query values and body values are dropped) and appends it to an
in-memory batch. A background task writes the batch in a worker thread every
``flush_interval`` (or sooner when it grows past ``batch_bytes``), so the hot path never
touches the disk. The file rotates by size (``FILE`` -> ``FILE.1`` -> ... ``FILE.N``); every
file starts with a header line (format version, start time, zproxy version) and offsets are
seconds since the recording started.

The line format (CONTRACT §7) is read back by ``zproxy.scenarios.recording``::

    {"t": 12.503, "method": "PUT", "route": "account_update",
     "path": "/v1/accounts/@account.9f2c0d41e3b7a655?expand=_", "cred": "token",
     "identity": "@identity.51c0e2a9d8f0b377", "req_bytes": 41,
     "shape": {"notes": "str", "accountNumber": "@account.9f2c0d41e3b7a655"},
     "prefer": "respond-async", "idem": false, "status": 202, "cache": null, "ms": 3.41}
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import structlog
from aiohttp import web

from zproxy import __version__
from zproxy.edge.exchange import Exchange, method_label
from zproxy.policy.credentials import credential_of
from zproxy.policy.pseudonyms import Pseudonyms

log = structlog.get_logger("zproxy.recorder")
FORMAT = "zproxy-recording/1"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A body is parsed for its shape only up to this size (larger: ``"shape": "large"``).
_SHAPE_LIMIT = 256 * 1024
_PREFER = re.compile(r"[a-z-]{1,32}(\s*,\s*[a-z-]{1,32}){0,3}")


class Recorder:
    """Buffers lines on the event loop; ``run`` writes them off it. One per process."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        backups: int = 5,
        flush_interval: float = 0.5,
        batch_bytes: int = 256 * 1024,
        key: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.flush_interval = flush_interval
        self.batch_bytes = batch_bytes
        self._names = Pseudonyms(key or secrets.token_bytes(32))
        self._clock = clock
        self._started = clock()
        self._batch: list[bytes] = []
        self._pending = 0
        self._wake = asyncio.Event()
        self.recorded = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the background flush (call on the serving loop)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="zproxy-recorder")
            log.info("recording", path=str(self.path), max_bytes=self.max_bytes)

    async def stop(self) -> None:
        """Stop flushing in the background and write what is left."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("recording_stopped", path=str(self.path), lines=self.recorded)

    # -- hot path ---------------------------------------------------------------------------
    def record(self, ex: Exchange, status: int, duration: float) -> None:
        """Queue the line for ``ex``; never raises (a line that cannot be built is dropped
        and counted: recording must not fail a request)."""
        try:
            line = orjson.dumps(self.line(ex, status, duration)) + b"\n"
        except Exception:
            self.dropped += 1
            return
        self._batch.append(line)
        self._pending += len(line)
        self.recorded += 1
        if self._pending >= self.batch_bytes:
            self._wake.set()

    def line(self, ex: Exchange, status: int, duration: float) -> dict[str, Any]:
        request = ex.request
        method = method_label(request.method)
        match = ex.match
        path = self._names.path(
            ex.path,
            match.route.path if match else None,
            match.params if match else None,
        )
        if ex.query:
            path += "?" + self._names.query(ex.query)
        body: bytes | None = getattr(ex, "body", None)
        size = request.content_length
        if size is None:
            size = len(body) if body is not None else 0
        credential = credential_of(request.headers)
        identity = None
        if credential is not None:
            # The credential itself (one token, one identity): the principal the read and
            # write paths compute may differ between them for the same caller.
            identity = self._names.of("identity", credential.kind + "\x00" + credential.value)
        return {
            "t": round(self._clock() - self._started, 4),
            "method": method,
            "route": ex.route_name,
            "path": path,
            "cred": None if credential is None else credential.kind,
            "identity": identity,
            "req_bytes": size,
            "shape": self._shape(method, request, body),
            "prefer": _prefer(request.headers.get("Prefer")),
            "idem": "Idempotency-Key" in request.headers,
            "status": status,
            "cache": ex.cache,
            "ms": round(duration * 1000, 2),
        }

    def _shape(self, method: str, request: web.BaseRequest, body: bytes | None) -> Any:
        if method not in _WRITE_METHODS or not body:
            return None
        if len(body) > _SHAPE_LIMIT:
            return "large"
        if request.content_type == "application/x-www-form-urlencoded":
            keys = [part.partition("=")[0] for part in body.decode("latin-1").split("&")]
            return {"form": sorted(self._names.segment(k) for k in keys if k)}
        try:
            return self._names.shape(orjson.loads(body))
        except orjson.JSONDecodeError:
            return "opaque"

    # -- off the hot path -------------------------------------------------------------------
    def header(self) -> bytes:
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        doc = {"recording": FORMAT, "started": now, "zproxy": __version__}
        return orjson.dumps(doc) + b"\n"

    def take(self) -> list[bytes]:
        batch, self._batch, self._pending = self._batch, [], 0
        self._wake.clear()
        return batch

    def write(self, batch: list[bytes]) -> None:
        """Append ``batch`` (a worker thread), rotating first when it would pass the limit."""
        if not batch:
            return
        data = b"".join(batch)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > self.max_bytes:
            self._rotate()
            size = 0
        if size == 0:
            data = self.header() + data
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _rotate(self) -> None:
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    async def run(self) -> None:
        """Flush every ``flush_interval`` or when a batch is full, until cancelled; then
        flush what is left."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval):
                        await self._wake.wait()
                await self.flush()
        finally:
            self.write(self.take())

    async def flush(self) -> None:
        batch = self.take()
        if batch:
            try:
                await asyncio.to_thread(self.write, batch)
            except OSError as exc:
                self.dropped += len(batch)
                log.warning("recording_write_failed", path=str(self.path), error=str(exc))


def _prefer(value: str | None) -> str | None:
    """``Prefer`` is vocabulary (``respond-async``); anything else is not kept."""
    if value is None:
        return None
    return value if _PREFER.fullmatch(value) else "other"


@contextlib.asynccontextmanager
async def recording(path: Path | None, **options: Any) -> AsyncIterator[Recorder | None]:
    """A running ``Recorder`` for ``path`` (None: recording off), flushed on exit."""
    if path is None:
        yield None
        return
    recorder = Recorder(path, **options)
    recorder.start()
    try:
        yield recorder
    finally:
        await recorder.stop()
