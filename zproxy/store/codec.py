"""How a ``CacheEntry`` is laid out as bytes in Redis (no pickle).

Layout (version 2)::

    version:u8 | codec:u8 | dict:u8 | meta_len:u32be | size:u32be | owner:8 | payload

``payload`` is ``meta + body``, raw or compressed as a whole (``size`` is its raw length);
meta is orjson ``[status, stored_at, [[name, value], ...], [tag, ...]]``. ``owner`` is the
first 8 bytes of BLAKE2b of the key the entry was stored under: ``decode`` refuses bytes
stored for another key (defence in depth against replies crossing requests, redis-py
CVE-2023-28858 class) without keeping a copy of the 71-byte key in every entry.

Compression is zstd (level 3) primed with a raw-content dictionary of Zuora's documented
JSON shapes (``zproxy.store.zdict``; ``dict`` records its id, 0 = none): field names then
cost a few bits, and an account body shrinks to ~0.16x of its size instead of ~0.44x
(``benchmarks/bench_codec.py``). zlib stays readable (with the same dictionary), and is the
writer's fallback when the ``zstandard`` package is missing. Bodies under ``MIN_COMPRESS``
bytes, and payloads compression does not shrink, are stored raw. Decompression is bounded by
the recorded size, so a corrupted or hostile entry cannot inflate without limit.

An entry of another layout version or dictionary id decodes as ``CorruptEntry``, which the
stores treat as a miss: old entries are refetched and overwritten, never misread.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any, Final

import orjson

from zproxy.store import zdict
from zproxy.store.cache import CacheEntry

try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard is installed with zproxy
    zstandard = None  # type: ignore[assignment]

VERSION: Final = 2
RAW: Final = 0
ZLIB: Final = 1
ZSTD: Final = 2
NO_DICT: Final = 0
MIN_COMPRESS: Final = 64
_HEAD = struct.Struct(">BBBII8s")


class CorruptEntry(ValueError):
    """The stored bytes are not an entry this codec wrote."""


def owner_digest(key: str) -> bytes:
    """The 8 bytes an entry records of the key it was stored under."""
    return hashlib.blake2b(key.encode(), digest_size=8).digest()


class Codec:
    """Encode and decode entries; compressor objects are made once and reused.

    ``dictionary=False`` writes without the shipped dictionary (for comparison); entries
    written either way are read either way."""

    def __init__(
        self, compression: int | None = None, level: int = 3, *, dictionary: bool = True
    ) -> None:
        if compression is None:
            compression = ZSTD if zstandard is not None else ZLIB
        if compression == ZSTD and zstandard is None:  # pragma: no cover
            raise ValueError("zstd needs the zstandard package")
        self.compression = compression
        self.dict_id = zdict.DICT_ID if dictionary and compression != RAW else NO_DICT
        self._level = level
        self._zc: Any = None
        self._zd: dict[int, Any] = {}
        if zstandard is not None:
            zd = zstandard.ZstdCompressionDict(
                zdict.CONTENT, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            self._zd = {
                NO_DICT: zstandard.ZstdDecompressor(),
                zdict.DICT_ID: zstandard.ZstdDecompressor(dict_data=zd),
            }
            if compression == ZSTD:
                self._zc = zstandard.ZstdCompressor(
                    level=level, dict_data=zd if self.dict_id else None, write_dict_id=False
                )

    def encode(self, entry: CacheEntry, key: str = "") -> bytes:
        """``key`` is recorded (hashed) so ``decode`` can prove the bytes belong to it."""
        meta = orjson.dumps([entry.status, entry.stored_at, entry.headers, entry.tags])
        payload = meta + entry.body
        codec, dict_id = RAW, NO_DICT
        if len(entry.body) >= MIN_COMPRESS and self.compression != RAW:
            packed = self._compress(payload)
            if len(packed) < len(payload):
                payload, codec, dict_id = packed, self.compression, self.dict_id
        head = _HEAD.pack(
            VERSION, codec, dict_id, len(meta), len(meta) + len(entry.body), owner_digest(key)
        )
        return head + payload

    def decode(self, data: bytes, key: str = "") -> CacheEntry:
        """The entry in ``data``; ``CorruptEntry`` unless it was encoded for ``key``."""
        try:
            version, codec, dict_id, meta_len, size, owner = _HEAD.unpack_from(data)
        except struct.error as exc:
            raise CorruptEntry("short entry") from exc
        if version != VERSION:
            raise CorruptEntry(f"entry version {version}")
        if owner != owner_digest(key):
            raise CorruptEntry("entry stored for another key")
        if meta_len > size:
            raise CorruptEntry("bad entry metadata")
        packed = memoryview(data)[_HEAD.size :]
        payload = packed if codec == RAW else self._decompress(codec, dict_id, packed, size)
        if len(payload) != size:
            raise CorruptEntry("body length mismatch")
        try:
            status, stored_at, headers, tags = orjson.loads(payload[:meta_len])
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            raise CorruptEntry("bad entry metadata") from exc
        if not (isinstance(status, int) and isinstance(stored_at, int | float)):
            raise CorruptEntry("bad entry metadata")
        try:
            return CacheEntry(
                status=status,
                headers=tuple((str(n), str(v)) for n, v in headers),
                body=bytes(payload[meta_len:]),
                stored_at=float(stored_at),
                tags=tuple(str(t) for t in tags),
            )
        except (TypeError, ValueError) as exc:
            raise CorruptEntry("bad entry metadata") from exc

    def _compress(self, payload: bytes) -> bytes:
        if self.compression == ZSTD and self._zc is not None:
            out: bytes = self._zc.compress(payload)
            return out
        if self.dict_id:
            deflater = zlib.compressobj(self._level, zdict=zdict.CONTENT)
        else:
            deflater = zlib.compressobj(self._level)
        return deflater.compress(payload) + deflater.flush()

    def _decompress(self, codec: int, dict_id: int, packed: Any, size: int) -> bytes:
        if dict_id not in (NO_DICT, zdict.DICT_ID):
            raise CorruptEntry(f"entry written with dictionary {dict_id}")
        try:
            if codec == ZSTD and self._zd:
                # The frame's own size field decides the allocation: check it first.
                if zstandard.frame_content_size(packed) != size:
                    raise CorruptEntry("body length mismatch")
                out: bytes = self._zd[dict_id].decompress(packed, max_output_size=size)
                return out
            if codec == ZLIB:
                inflater = (
                    zlib.decompressobj(zdict=zdict.CONTENT) if dict_id else zlib.decompressobj()
                )
                out = inflater.decompress(packed, size)
                if inflater.unconsumed_tail:
                    raise CorruptEntry("body longer than recorded")
                return out
        except (zlib.error, _zstd_error()) as exc:
            raise CorruptEntry("cannot decompress body") from exc
        raise CorruptEntry(f"unknown codec {codec}")


def _zstd_error() -> type[Exception]:
    return zstandard.ZstdError if zstandard is not None else zlib.error
