"""Queued writes for tests: a Fernet key, the FakeClock start and a QueuedWrite factory."""

from __future__ import annotations

from zproxy.queue.crypto import Cipher
from zproxy.queue.model import QueuedWrite

KEY = Cipher.generate_key()
T0 = 1_700_000_000.0


def make_write(
    n: int = 0,
    *,
    order_key: str = "A00000001",
    method: str = "PUT",
    body: bytes | None = None,
    key: str | None = None,
    identity: str = "id-1",
    accepted_at: float = T0,
    headers: tuple[tuple[str, str], ...] = (("Authorization", "Bearer secret-token"),),
) -> QueuedWrite:
    return QueuedWrite.create(
        method=method,
        path=f"/v1/accounts/{order_key}?n={n}",
        headers=headers,
        body=body if body is not None else b'{"n": %d}' % n,
        identity=identity,
        order_key=order_key,
        route="accounts.update",
        accepted_at=accepted_at,
        idempotency_key=key or f"key-{order_key}-{n}",
    )
