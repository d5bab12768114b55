"""The entry codec: round trips, when it compresses, and what it refuses to decode."""

from __future__ import annotations

import os
import struct
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.store import zdict
from zproxy.store.cache import CacheEntry, entry_headers
from zproxy.store.codec import (
    MIN_COMPRESS,
    NO_DICT,
    RAW,
    ZLIB,
    ZSTD,
    Codec,
    CorruptEntry,
    owner_digest,
)

JSON_BODY = orjson.dumps({"success": True, "products": [{"id": i, "name": "P"} for i in range(80)]})


def entry(body: bytes) -> CacheEntry:
    return CacheEntry(200, (("Content-Type", "application/json"),), body, 1_700_000_000.5, ("t",))


@pytest.mark.parametrize("compression", [RAW, ZLIB, ZSTD])
@pytest.mark.parametrize("body", [b"", b"{}", JSON_BODY, os.urandom(4096)])
def test_round_trip(compression: int, body: bytes) -> None:
    codec = Codec(compression)
    assert codec.decode(codec.encode(entry(body))) == entry(body)


@pytest.mark.parametrize("dictionary", [True, False])
@pytest.mark.parametrize("compression", [ZLIB, ZSTD])
def test_any_codec_reads_what_another_wrote(compression: int, dictionary: bool) -> None:
    data = Codec(compression, dictionary=dictionary).encode(entry(JSON_BODY))
    assert data[2] == (zdict.DICT_ID if dictionary else NO_DICT)
    readers = [Codec(c, dictionary=d) for c in (ZSTD, ZLIB, RAW) for d in (True, False)]
    assert all(reader.decode(data) == entry(JSON_BODY) for reader in readers)


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


META = orjson.dumps([200, 1.0, [], []])


def frame(
    codec: int, payload: bytes, meta_len: int = len(META), size: int | None = None, **kw: int
) -> bytes:
    """Version 2 bytes around ``payload`` (``size`` defaults to its length)."""
    size = len(payload) if size is None else size
    head = struct.pack(">BBBII", kw.get("version", 2), codec, kw.get("dict_id", 0), meta_len, size)
    return head + owner_digest("") + payload


def version_1(body: bytes = b"{}") -> bytes:
    """An entry as the previous layout wrote it (meta outside the body, the key in clear)."""
    meta = orjson.dumps([200, 1.0, [], [], len(body), ""])
    return struct.pack(">BBI", 1, RAW, len(meta)) + meta + body


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x02",
        version_1(),
        frame(RAW, META + b"{}", version=3),
        frame(RAW, META + b"{}", size=len(META) + 5),  # length mismatch
        frame(RAW, META + b"{}", meta_len=len(META) + 3),  # meta longer than the payload
        frame(RAW, b"[200,1.0]{}", meta_len=9),  # meta of the wrong shape
        frame(RAW, b'["200",1.0,[],[]]{}', meta_len=17),
        frame(RAW, b"[200,1.0,[1],[]]{}", meta_len=16),  # a header that is not a pair
        frame(9, META + b"{}"),  # unknown codec
        frame(ZLIB, b"not zlib", size=20),
        frame(ZSTD, b"not zstd", size=20),
        # a dictionary this build does not have: a miss, not garbage
        frame(ZSTD, Codec(ZSTD)._compress(META + b"{}"), size=len(META) + 2, dict_id=7),
        # a bomb that lies about its size: never inflated past the recorded length
        frame(ZLIB, zlib.compress(b"\0" * 10_000_000), size=100),
        frame(ZSTD, Codec(ZSTD)._compress(b"\0" * 10_000_000), size=100, dict_id=zdict.DICT_ID),
    ],
)
def test_refuses_what_it_did_not_write(data: bytes) -> None:
    with pytest.raises(CorruptEntry):
        Codec().decode(data)


@pytest.mark.parametrize("body", [b"{}", JSON_BODY])
def test_bytes_stored_for_one_key_do_not_decode_for_another(body: bytes) -> None:
    key = "zc:e:tA:" + "0" * 32
    data = Codec().encode(entry(body), key)
    assert Codec().decode(data, key) == entry(body)
    assert key.encode() not in data  # an 8-byte digest of the key, not a copy
    with pytest.raises(CorruptEntry, match="another key"):
        Codec().decode(data, "zc:e:tB:" + "0" * 32)


def zuora_account(i: int) -> bytes:
    """An account as Zuora documents it (zuora-api.md §4.1), values unlike the dictionary's."""
    ident = f"{i:08x}" * 4
    contact = {"id": ident[::-1], "firstName": f"Name{i}", "lastName": "Example",
               "workEmail": f"n{i}@corp.test", "personalEmail": None, "workPhone": "+1 555",
               "address1": f"{i} Side Road", "address2": None, "city": "Utrecht",
               "state": "UT", "county": None, "country": "NL", "zipCode": f"{i:05d}",
               "taxRegion": None}  # fmt: skip
    return orjson.dumps({
        "success": True,
        "basicInfo": {"id": ident, "accountNumber": f"A{i:08d}", "name": f"Org {i}",
                      "status": "Active", "batch": "Batch7", "crmId": f"crm-{i}", "notes": None,
                      "parentId": None, "salesRep": None, "tags": None,
                      "invoiceTemplateId": None, "communicationProfileId": None,
                      "defaultPaymentMethodId": ident[1:] + "1",
                      "lastMetricsUpdate": "2025-03-04T05:06:07+00:00"},
        "billingAndPayment": {"billCycleDay": i % 28 + 1, "currency": "EUR",
                              "paymentTerm": "Net 60", "paymentGateway": "Adyen",
                              "autoPay": False, "defaultPaymentMethodId": ident[1:] + "1",
                              "invoiceDeliveryPrefsEmail": True,
                              "invoiceDeliveryPrefsPrint": False,
                              "additionalEmailAddresses": []},
        "metrics": {"balance": i * 1.5, "currency": "EUR", "contractedMrr": 12.5,
                    "creditBalance": 0.0, "totalInvoiceBalance": i * 1.5,
                    "totalDebitMemoBalance": 0.0, "unappliedPaymentAmount": 0.0,
                    "unappliedCreditMemoAmount": 0.0, "reservedPaymentAmount": 0.0},
        "billToContact": contact, "soldToContact": contact, "taxInfo": None,
    })  # fmt: skip


def test_the_dictionary_shrinks_zuora_shaped_bodies() -> None:
    for compression in (ZSTD, ZLIB):
        with_dict, without = Codec(compression), Codec(compression, dictionary=False)
        for i in range(5):
            e = entry(zuora_account(i))
            small, large = with_dict.encode(e), without.encode(e)
            assert with_dict.decode(small) == without.decode(small) == e
            assert len(small) < 0.7 * len(large)
            assert len(small) < 0.3 * len(e.body)


@pytest.mark.parametrize(
    "body",
    [
        os.urandom(3000),  # incompressible: stored raw, without the dictionary
        b"\x00\x01binary\xff" * 300,  # compresses, but owes nothing to the dictionary
        "\u00e9t\u00e9 \u65e5\u672c ".encode() * 100,
    ],
)
def test_a_body_the_dictionary_does_not_fit_still_round_trips(body: bytes) -> None:
    data = Codec().encode(entry(body))
    assert Codec().decode(data) == entry(body)
    if data[1] == RAW:
        assert data[2] == NO_DICT
        assert len(data) <= len(body) + 100  # raw: the body plus the head and meta
    else:
        assert len(data) < len(body)
        plain = Codec(dictionary=False).encode(entry(body))
        assert len(data) <= len(plain) + 8  # the dictionary costs such a body next to nothing


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
