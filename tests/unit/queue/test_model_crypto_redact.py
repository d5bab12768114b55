"""The queued write model, its codec, encryption at rest and the operator's redacted view."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.queue import KEY, T0, make_write
from zproxy.errors import ConfigError
from zproxy.queue.crypto import Cipher, DecryptError
from zproxy.queue.model import (
    IDEMPOTENCY_HEADER,
    QueuedWrite,
    WriteRecord,
    decode_write,
    encode_write,
    new_write_id,
)
from zproxy.queue.redact import mask_digits, redact_text, redacted_view


def test_codec_round_trips_binary_bodies() -> None:
    write = make_write(1, method="POST", body=bytes(range(256)))
    assert decode_write(encode_write(write)) == write


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_and_patch_always_carry_their_idempotency_key(method: str) -> None:
    write = make_write(1, method=method, key="mine", headers=(("idempotency-key", "other"),))
    assert write.header(IDEMPOTENCY_HEADER) == "mine"
    assert [n for n, _ in write.headers if n.lower() == "idempotency-key"] == [IDEMPOTENCY_HEADER]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_never_send_one(method: str) -> None:
    write = make_write(1, method=method, headers=(("Idempotency-Key", "x"),))
    assert write.header(IDEMPOTENCY_HEADER) is None
    assert write.idempotency_key  # still used for dedupe


def test_a_generated_key_when_the_client_sent_none() -> None:
    write = QueuedWrite.create(
        method="post",
        path="/v1/x",
        headers=(),
        body=b"",
        identity="i",
        order_key="o",
        route="r",
        accepted_at=T0,
    )
    assert write.method == "POST"
    assert write.idempotency_key.startswith("zproxy-")
    assert write.header(IDEMPOTENCY_HEADER) == write.idempotency_key


def test_invalid_writes_are_refused() -> None:
    write = make_write(1, method="POST")
    with pytest.raises(ValueError, match="Idempotency-Key"):
        dataclasses.replace(write, headers=())
    with pytest.raises(ValueError, match="method"):
        dataclasses.replace(write, method="GET")
    with pytest.raises(ValueError, match="255"):
        dataclasses.replace(write, idempotency_key="k" * 256)


def test_ids_sort_by_time() -> None:
    assert new_write_id(T0) < new_write_id(T0 + 0.002) < new_write_id(T0 + 1000)


def test_body_hash_binds_method_path_and_body() -> None:
    base = make_write(1)
    assert make_write(1).body_hash == base.body_hash
    assert make_write(1, body=b"x").body_hash != base.body_hash
    assert make_write(2).body_hash != base.body_hash  # other path
    assert make_write(1, method="POST").body_hash != base.body_hash


def test_cipher_round_trip_and_rotation() -> None:
    old, new = Cipher.generate_key(), Cipher.generate_key()
    token = Cipher({"old": old}).encrypt(b"secret")
    assert b"secret" not in token
    rotated = Cipher({"old": old, "new": new})
    assert rotated.current == "new"
    assert rotated.decrypt(token) == b"secret"
    assert rotated.encrypt(b"x").startswith(b"new:")
    with pytest.raises(DecryptError):
        Cipher({"new": new}).decrypt(token)
    with pytest.raises(DecryptError):
        rotated.decrypt(token[:-3] + b"AAA")


def test_bad_keys_are_config_errors_that_do_not_echo_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        Cipher({"k": "not-a-key-but-a-secret"})
    assert "not-a-key-but-a-secret" not in str(err.value)
    with pytest.raises(ConfigError):
        Cipher({})
    with pytest.raises(ConfigError):
        Cipher({"k": KEY}, current="missing")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111111111111111", "************1111"),
        ("card 4111 1111 1111 1111 ok", "card ************1111 ok"),
        ("4111-1111-1111-1111", "************1111"),
        ("order 123456 total 42", "order 123456 total 42"),
        ("A00000001", "A00000001"),
    ],
)
def test_mask_digits(text: str, expected: str) -> None:
    assert mask_digits(text) == expected


def test_redact_text_replaces_secret_fields_and_masks_numbers() -> None:
    body = (
        b'{"creditCardNumber": "4111111111111111", "cardSecurityCode": "123",'
        b' "nested": [{"password": "p"}], "note": "pan 5500005555555559", "n": 4111111111111111}'
    )
    text = redact_text(body)
    for secret in ("4111111111111111", '"123"', '"p"', "5500005555555559"):
        assert secret not in text
    assert "5559" in text
    assert "[REDACTED]" in text


def test_redact_text_truncates() -> None:
    text = redact_text(b"x" * 20_000, limit=100)
    assert len(text) < 200
    assert text.endswith("[truncated]")


def test_redacted_view_has_no_credentials() -> None:
    write = make_write(
        1,
        method="POST",
        body=b'{"cardNumber": "4111111111111111"}',
        headers=(
            ("Authorization", "Bearer secret-token"),
            ("apiSecretAccessKey", "s3cret"),
            ("Zuora-Version", "211.0"),
        ),
    )
    record = WriteRecord(
        write=write,
        state="dead",
        dead_reason="upstream_400",
        upstream_status=400,
        upstream_body='{"token": "abc", "msg": "4111111111111111"}',
    )
    view = redacted_view(record)
    dumped = repr(view)
    for secret in ("secret-token", "s3cret", "4111111111111111", '"abc"'):
        assert secret not in dumped
    assert ["Zuora-Version", "211.0"] in view["headers"]
    assert view["deadReason"] == "upstream_400"
    assert view["idempotencyKey"] == write.idempotency_key


def test_status_view_has_the_contract_fields() -> None:
    record = WriteRecord(
        write=make_write(1),
        state="applied",
        attempts=2,
        applied_at=T0 + 5,
        upstream_status=200,
        upstream_body='{"success":true}',
    )
    assert record.status_view() == {
        "writeId": record.id,
        "state": "applied",
        "attempts": 2,
        "acceptedAt": T0,
        "appliedAt": T0 + 5,
        "upstreamStatus": 200,
        "upstreamBody": {"success": True},
    }
