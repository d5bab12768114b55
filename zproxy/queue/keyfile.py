"""The queue's encryption keys: from settings, else a key generated once into the data dir."""

from __future__ import annotations

import os
from pathlib import Path

from zproxy.config.model import Settings
from zproxy.errors import ConfigError
from zproxy.queue.crypto import Cipher


def load_cipher(settings: Settings) -> Cipher:
    """``queue.encryption_key``: one Fernet key, or ``kid=key,kid=key`` (the last encrypts).

    Without one, a key is generated once into ``data_dir/queue.key`` (mode 0600); processes
    sharing a Redis from different hosts must be given the same key.
    """
    raw = settings.queue.encryption_key
    if not raw:
        path = Path(settings.data_dir).absolute() / "queue.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".queue.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Cipher.generate_key())
            try:
                os.link(tmp, path)  # atomic: the first process to link wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        raw = path.read_text().strip()
    keys: dict[str, str] = {}
    for i, part in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        kid, sep, key = part.partition("=")
        if not sep or len(kid) > 32:  # a bare Fernet key ends in '=' padding: no kid
            kid, key = f"k{i}", part
        keys[kid] = key
    try:
        return Cipher(keys)
    except ConfigError as exc:
        raise ConfigError([f"ZPROXY_QUEUE_KEY: {p}" for p in exc.problems]) from None
