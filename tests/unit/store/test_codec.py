"""The entry codec: round trips, when it compresses, and what it refuses to decode."""

from __future__ import annotations

import os
import struct
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.store.cache import CacheEntry, entry_headers
from zproxy.store.codec import MIN_COMPRESS, RAW, ZLIB, ZSTD, Codec, CorruptEntry

JSON_BODY = orjson.dumps({"success": True, "products": [{"id": i, "name": "P"} for i in range(80)]})


def entry(body: bytes) -> CacheEntry:
    return CacheEntry(200, (("Content-Type", "application/json"),), body, 1_700_000_000.5, ("t",))


@pytest.mark.parametrize("compression", [RAW, ZLIB, ZSTD])
@pytest.mark.parametrize("body", [b"", b"{}", JSON_BODY, os.urandom(4096)])
def test_round_trip(compression: int, body: bytes) -> None:
    codec = Codec(compression)
    assert codec.decode(codec.encode(entry(body))) == entry(body)


@pytest.mark.parametrize("compression", [ZLIB, ZSTD])
def test_any_codec_reads_what_another_wrote(compression: int) -> None:
    data = Codec(compression).encode(entry(JSON_BODY))
    assert Codec(ZSTD).decode(data) == Codec(ZLIB).decode(data) == entry(JSON_BODY)


@pytest.mark.parametrize(
    ("body", "compressed"),
    [
        (b"x" * (MIN_COMPRESS - 1), False),  # tiny: not worth it
        (b"x" * MIN_COMPRESS, True),
        (os.urandom(8192), False),  # incompressible: stored raw
        (JSON_BODY, True),
    ],
)
def test_when_it_compresses(body: bytes, compressed: bool) -> None:
    data = Codec(ZSTD).encode(entry(body))
    assert (data[1] == ZSTD) is compressed
    assert (len(data) < len(body)) is compressed


def frame(codec: int, meta: list[object], body: bytes, version: int = 1) -> bytes:
    raw = orjson.dumps([*meta, ""] if len(meta) == 5 else meta)
    return struct.pack(">BBI", version, codec, len(raw)) + raw + body


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        frame(RAW, [200, 1.0, [], [], 2], b"{}", version=2),
        frame(RAW, [200, 1.0, [], [], 5], b"{}"),  # length mismatch
        frame(RAW, [200, 1.0], b"{}"),  # meta of the wrong shape
        frame(RAW, ["200", 1.0, [], [], 2], b"{}"),
        frame(RAW, [200, 1.0, [], [], -1], b""),
        frame(9, [200, 1.0, [], [], 2], b"{}"),  # unknown codec
        frame(ZLIB, [200, 1.0, [], [], 10], b"not zlib"),
        frame(ZSTD, [200, 1.0, [], [], 10], b"not zstd"),
        # a bomb that lies about its size: never inflated past the recorded length
        frame(ZLIB, [200, 1.0, [], [], 100], zlib.compress(b"\0" * 10_000_000)),
        frame(ZSTD, [200, 1.0, [], [], 100], Codec(ZSTD)._compress(b"\0" * 10_000_000)),
    ],
)
def test_refuses_what_it_did_not_write(data: bytes) -> None:
    with pytest.raises(CorruptEntry):
        Codec().decode(data)


def test_bytes_stored_for_one_key_do_not_decode_for_another() -> None:
    data = Codec().encode(entry(b"{}"), "zc:e:tA:1")
    assert Codec().decode(data, "zc:e:tA:1") == entry(b"{}")
    with pytest.raises(CorruptEntry, match="another key"):
        Codec().decode(data, "zc:e:tB:1")


def test_entry_headers_keep_only_what_is_worth_replaying() -> None:
    upstream = [
        ("Content-Type", "application/json"),
        ("Zuora-Request-Id", "abc"),
        ("RateLimit-Remaining", "10"),
        ("Set-Cookie", "ZSession=1"),
        ("Content-Encoding", "gzip"),
        ("content-language", "en"),
        ("Date", "now"),
    ]
    assert entry_headers(upstream) == (
        ("Content-Type", "application/json"),
        ("content-language", "en"),
    )


@given(
    st.integers(100, 599),
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=5),
    st.binary(max_size=3000),
    st.floats(0, 2e9),
    st.lists(st.text(max_size=30), max_size=4),
)
def test_round_trip_property(
    status: int, headers: list[tuple[str, str]], body: bytes, at: float, tags: list[str]
) -> None:
    e = CacheEntry(status, tuple(headers), body, at, tuple(tags))
    assert Codec().decode(Codec().encode(e)) == e
