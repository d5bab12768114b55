"""How a ``CacheEntry`` is laid out as bytes in Redis (no pickle).

Layout: ``version:u8 | codec:u8 | meta_len:u32be | meta (orjson) | body``, where meta is
``[status, stored_at, [[name, value], ...], [tag, ...], body_len, key]`` and the body is raw or
compressed. Bodies under ``MIN_COMPRESS`` bytes are stored raw, as are bodies compression
does not shrink.

Compression is zstd (level 3): on Zuora-shaped JSON it is ~4x faster than zlib level 1 and
smaller than zlib level 6 (``benchmarks/bench_codec.py``). zlib stays readable, and is the
writer's fallback when the ``zstandard`` package is missing. Decompression is bounded by the
recorded length, so a corrupted or hostile entry cannot inflate without limit.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, Final

import orjson

from zproxy.store.cache import CacheEntry

try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard is installed with zproxy
    zstandard = None  # type: ignore[assignment]

VERSION: Final = 1
RAW: Final = 0
ZLIB: Final = 1
ZSTD: Final = 2
MIN_COMPRESS: Final = 1024
_HEAD = struct.Struct(">BBI")


class CorruptEntry(ValueError):
    """The stored bytes are not an entry this codec wrote."""


class Codec:
    """Encode and decode entries; compressor objects are made once and reused."""

    def __init__(self, compression: int | None = None, level: int = 3) -> None:
        if compression is None:
            compression = ZSTD if zstandard is not None else ZLIB
        if compression == ZSTD and zstandard is None:  # pragma: no cover
            raise ValueError("zstd needs the zstandard package")
        self.compression = compression
        self._level = level
        self._zc = zstandard.ZstdCompressor(level=level) if zstandard is not None else None
        self._zd = zstandard.ZstdDecompressor() if zstandard is not None else None

    def encode(self, entry: CacheEntry, key: str = "") -> bytes:
        """``key`` is recorded so ``decode`` can prove the bytes belong to the key asked for."""
        body = entry.body
        codec = RAW
        if len(body) >= MIN_COMPRESS and self.compression != RAW:
            packed = self._compress(body)
            if len(packed) < len(body):
                body, codec = packed, self.compression
        meta = orjson.dumps(
            [entry.status, entry.stored_at, entry.headers, entry.tags, len(entry.body), key]
        )
        return b"".join((_HEAD.pack(VERSION, codec, len(meta)), meta, body))

    def decode(self, data: bytes, key: str = "") -> CacheEntry:
        """The entry in ``data``; ``CorruptEntry`` unless it was encoded for ``key``."""
        try:
            version, codec, meta_len = _HEAD.unpack_from(data)
        except struct.error as exc:
            raise CorruptEntry("short entry") from exc
        if version != VERSION:
            raise CorruptEntry(f"entry version {version}")
        start = _HEAD.size + meta_len
        view = memoryview(data)
        try:
            status, stored_at, headers, tags, body_len, owner = orjson.loads(
                view[_HEAD.size : start]
            )
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            raise CorruptEntry("bad entry metadata") from exc
        if not (isinstance(status, int) and isinstance(body_len, int) and body_len >= 0):
            raise CorruptEntry("bad entry metadata")
        if owner != key:
            # defence in depth against replies crossing requests (redis-py CVE-2023-28858 class)
            raise CorruptEntry("entry stored for another key")
        body = data[start:] if codec == RAW else self._decompress(codec, view[start:], body_len)
        if len(body) != body_len:
            raise CorruptEntry("body length mismatch")
        return CacheEntry(
            status=status,
            headers=tuple((str(n), str(v)) for n, v in headers),
            body=body,
            stored_at=float(stored_at),
            tags=tuple(tags),
        )

    def _compress(self, body: bytes) -> bytes:
        if self.compression == ZSTD and self._zc is not None:
            return self._zc.compress(body)
        return zlib.compress(body, self._level)

    def _decompress(self, codec: int, packed: Any, body_len: int) -> bytes:
        try:
            if codec == ZSTD and self._zd is not None:
                # The frame's own size field decides the allocation: check it first.
                if zstandard.frame_content_size(packed) != body_len:
                    raise CorruptEntry("body length mismatch")
                return self._zd.decompress(packed, max_output_size=body_len)
            if codec == ZLIB:
                inflater = zlib.decompressobj()
                out = inflater.decompress(packed, body_len)
                if inflater.unconsumed_tail:
                    raise CorruptEntry("body longer than recorded")
                return out
        except (zlib.error, _zstd_error()) as exc:
            raise CorruptEntry("cannot decompress body") from exc
        raise CorruptEntry(f"unknown codec {codec}")


def _zstd_error() -> type[Exception]:
    return zstandard.ZstdError if zstandard is not None else zlib.error
