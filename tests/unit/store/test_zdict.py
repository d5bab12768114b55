"""The shipped zstd dictionary: deterministic, and its id changes whenever its bytes do."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import orjson

from zproxy.store import zdict

#: sha256 of ``zdict.CONTENT`` for each ``DICT_ID`` ever shipped. Changing the content means
#: a new id (entries of the old one become misses), and a new line here.
PINNED = {1: "fe9173d737ab74d4622d76868fb657c6ad142b2ba02673785509245b60e16be0"}


def test_the_content_is_pinned_to_its_id() -> None:
    assert hashlib.sha256(zdict.CONTENT).hexdigest() == PINNED[zdict.DICT_ID]
    assert 0 < zdict.DICT_ID < 256


def test_the_content_is_the_same_in_another_interpreter() -> None:
    code = "import hashlib, zproxy.store.zdict as z; print(hashlib.sha256(z.CONTENT).hexdigest())"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert out == hashlib.sha256(zdict.CONTENT).hexdigest()


def test_the_content_is_zuora_json_ending_with_entry_metadata() -> None:
    assert b'"basicInfo":{"id":' in zdict.CONTENT
    assert b'"productRatePlanCharges":[' in zdict.CONTENT
    assert zdict.CONTENT.endswith(b'[["Content-Type","application/json"]],["account:A00000000"]]')
    assert 4_000 < len(zdict.CONTENT) < 32_000  # fits zlib's window too
    assert orjson.loads(zdict.CONTENT[: zdict.CONTENT.index(b"}{") + 1])
