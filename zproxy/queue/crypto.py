"""Encryption at rest for queued writes (headers and bodies hold credentials and PII).

Fernet (AES-128-CBC + HMAC-SHA256) with key ids for rotation: ``keys`` maps a key id to a
urlsafe-base64 32-byte key; the ``current`` id (default: the last one given) encrypts, every key
decrypts. A token is ``<kid>:<fernet token>``. The keys come from settings, never from Redis.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken

from zproxy.errors import ConfigError, ZproxyError


class DecryptError(ZproxyError):
    """A stored value could not be decrypted (unknown key id, or tampered with)."""


class Cipher:
    def __init__(self, keys: Mapping[str, str], current: str | None = None) -> None:
        problems: list[str] = []
        self._fernets: dict[str, Fernet] = {}
        for kid, key in keys.items():
            if not kid or ":" in kid:
                problems.append(f"queue encryption key id {kid!r}: must be non-empty, no ':'")
                continue
            try:
                self._fernets[kid] = Fernet(key)
            except (ValueError, TypeError):
                # Never echo the key itself.
                problems.append(f"queue encryption key {kid!r}: not a urlsafe-base64 32-byte key")
        if not keys:
            problems.append("queue encryption: at least one key is required")
        if current is not None and current not in keys:
            problems.append(f"queue encryption: current key id {current!r} is not among the keys")
        if problems:
            raise ConfigError(problems)
        self.current = current if current is not None else list(keys)[-1]

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, data: bytes) -> bytes:
        return self.current.encode() + b":" + self._fernets[self.current].encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        kid, sep, rest = token.partition(b":")
        fernet = self._fernets.get(kid.decode(errors="replace")) if sep else None
        if fernet is None:
            raise DecryptError("stored value was encrypted with an unknown key id")
        try:
            return fernet.decrypt(rest)
        except InvalidToken as exc:
            raise DecryptError("stored value failed authentication") from exc
