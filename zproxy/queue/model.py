"""The queued write, its state as people see it, and its JSON codec (never pickle).

A ``QueuedWrite`` is immutable: it is exactly what will be replayed. POST and PATCH writes always
carry their ``Idempotency-Key`` header (Zuora dedupes every replay on it); PUT and DELETE never do
(Zuora says not to send it there), although the key is still used by zproxy to dedupe enqueues.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Literal

import orjson

WriteState = Literal["queued", "replaying", "applied", "dead"]
WRITE_STATES: tuple[WriteState, ...] = ("queued", "replaying", "applied", "dead")
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEYED_METHODS = frozenset({"POST", "PATCH"})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

Headers = tuple[tuple[str, str], ...]


def new_write_id(now: float) -> str:
    """A sortable id: 12 hex digits of epoch milliseconds, then 16 random hex digits."""
    return f"{int(now * 1000):012x}{os.urandom(8).hex()}"


def new_idempotency_key() -> str:
    """A key for writes whose client sent none (Zuora allows up to 255 characters)."""
    return "zproxy-" + os.urandom(16).hex()


def write_body_hash(method: str, path: str, body: bytes) -> str:
    """What an idempotency key is bound to: same key with another hash is a mismatch."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode() + b"\n" + path.encode() + b"\n")
    digest.update(body)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class QueuedWrite:
    """One accepted write, as it will be replayed.

    ``path`` is the origin-form path plus raw query exactly as forwarded; ``headers`` are the
    allowlisted end-to-end request headers (Authorization included, hence encryption at rest);
    ``identity`` is an opaque hash of the caller's credential identity (status visibility and
    idempotency scope); writes sharing an ``order_key`` are replayed one at a time in the order
    accepted (give each write a unique key, e.g. its id, when it needs no ordering).
    """

    id: str
    idempotency_key: str
    method: str
    path: str
    headers: Headers
    body: bytes
    identity: str
    order_key: str
    route: str
    accepted_at: float
    body_hash: str

    def __post_init__(self) -> None:
        if self.method not in WRITE_METHODS:
            raise ValueError(f"not a queueable write method: {self.method!r}")
        if not self.idempotency_key or len(self.idempotency_key) > 255:
            raise ValueError("idempotency key must be 1..255 characters")
        sent = self.header(IDEMPOTENCY_HEADER)
        if self.method in KEYED_METHODS and sent != self.idempotency_key:
            raise ValueError(f"{self.method} writes must carry their Idempotency-Key header")
        if self.method not in KEYED_METHODS and sent is not None:
            raise ValueError(f"{self.method} writes must not carry an Idempotency-Key header")

    @classmethod
    def create(
        cls,
        *,
        method: str,
        path: str,
        headers: Headers,
        body: bytes,
        identity: str,
        order_key: str,
        route: str,
        accepted_at: float,
        idempotency_key: str | None = None,
        write_id: str | None = None,
    ) -> QueuedWrite:
        """Build a write: id, key (the client's or a new one) and body hash are filled in,
        and the Idempotency-Key header is set for POST/PATCH and removed for PUT/DELETE."""
        method = method.upper()
        key = idempotency_key or new_idempotency_key()
        kept = tuple((n, v) for n, v in headers if n.lower() != IDEMPOTENCY_HEADER.lower())
        if method in KEYED_METHODS:
            kept += ((IDEMPOTENCY_HEADER, key),)
        return cls(
            id=write_id or new_write_id(accepted_at),
            idempotency_key=key,
            method=method,
            path=path,
            headers=kept,
            body=body,
            identity=identity,
            order_key=order_key,
            route=route,
            accepted_at=accepted_at,
            body_hash=write_body_hash(method, path, body),
        )

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for n, v in self.headers:
            if n.lower() == lowered:
                return v
        return None


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """A write with where it stands. ``upstream_body`` is stored redacted and truncated."""

    write: QueuedWrite
    state: WriteState
    attempts: int = 0
    applied_at: float | None = None
    upstream_status: int | None = None
    upstream_body: str | None = None
    dead_reason: str | None = None
    next_attempt_at: float | None = None
    last_error: str | None = None
    #: Set when an operator re-queued a dead write; the age limit counts from here then.
    requeued_at: float | None = None

    @property
    def id(self) -> str:
        return self.write.id

    @property
    def accepted_at(self) -> float:
        return self.write.accepted_at

    def status_view(self) -> dict[str, Any]:
        """The body of ``GET /_zproxy/writes/{id}`` (CONTRACT §2); times are epoch seconds."""
        return {
            "writeId": self.id,
            "state": self.state,
            "attempts": self.attempts,
            "acceptedAt": self.accepted_at,
            "appliedAt": self.applied_at,
            "upstreamStatus": self.upstream_status,
            "upstreamBody": _json_or_text(self.upstream_body),
        }


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    write_id: str
    #: False when the idempotency key was already queued with the same body (a client retry).
    created: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """The head write of one order key, leased to one consumer until an outcome is recorded.

    ``token`` fences outcomes: a consumer whose lease was taken over cannot record one.
    """

    write: QueuedWrite
    token: str
    attempts: int
    requeued_at: float | None = None
    stream_id: str = ""

    @property
    def write_id(self) -> str:
        return self.write.id

    @property
    def age_origin(self) -> float:
        """Where the age limit counts from: acceptance, or the operator's re-queue."""
        return self.requeued_at if self.requeued_at is not None else self.write.accepted_at


@dataclass(frozen=True, slots=True)
class ReclaimReport:
    """What a sweep for crashed consumers found."""

    #: Writes whose lease had lapsed and were put back to "queued".
    requeued: tuple[str, ...] = ()
    #: Stream entries still pending that no longer exist: evidence of loss, alert on it.
    missing_stream_ids: tuple[str, ...] = ()


def _json_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def encode_write(write: QueuedWrite) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "id": write.id,
            "idempotency_key": write.idempotency_key,
            "method": write.method,
            "path": write.path,
            "headers": [list(h) for h in write.headers],
            "body": base64.b64encode(write.body).decode(),
            "identity": write.identity,
            "order_key": write.order_key,
            "route": write.route,
            "accepted_at": write.accepted_at,
            "body_hash": write.body_hash,
        }
    )


def decode_write(data: bytes) -> QueuedWrite:
    raw = orjson.loads(data)
    if raw.get("v") != 1:
        raise ValueError("unknown queued write format")
    return QueuedWrite(
        id=raw["id"],
        idempotency_key=raw["idempotency_key"],
        method=raw["method"],
        path=raw["path"],
        headers=tuple((str(n), str(v)) for n, v in raw["headers"]),
        body=base64.b64decode(raw["body"]),
        identity=raw["identity"],
        order_key=raw["order_key"],
        route=raw["route"],
        accepted_at=float(raw["accepted_at"]),
        body_hash=raw["body_hash"],
    )
