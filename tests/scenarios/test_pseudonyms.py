"""Pseudonyms for recordings: identifiers become keyed hashes, stable within a recording and
different across recordings; vocabulary, query keys and body keys stay; values never do."""

from __future__ import annotations

import pytest

from zproxy.config.parse import parse_settings
from zproxy.policy.pseudonyms import PSEUDONYM, Pseudonyms, looks_like_id
from zproxy.scenarios.settings import shipped_config

KEY_A = b"a" * 32
KEY_B = b"b" * 32
ROUTES = parse_settings(shipped_config(), "shipped", {}).routes


def pseudo(path: str, key: bytes = KEY_A, method: str = "GET") -> str:
    names = Pseudonyms(key)
    match = ROUTES.match(method, path)
    if match is None:
        return names.path(path, None, None)
    return names.path(path, match.route.path, match.params)


@pytest.mark.parametrize(
    ("segment", "is_id"),
    [
        ("summary", False),
        ("productRatePlan", False),
        ("v1", False),
        ("A00012345", True),
        ("8a8aa1b28c1b2b3e018c1b5ad0a2", True),
        ("someone@example.com", True),
        ("2c92c0f8", True),
        ("x" * 41, True),
    ],
)
def test_which_segments_look_like_ids(segment: str, is_id: bool) -> None:
    assert looks_like_id(segment) is is_id


def test_route_params_are_pseudonymized_by_the_route_template() -> None:
    out = pseudo("/v1/accounts/A00012345/summary")
    assert "A00012345" not in out
    assert out.startswith("/v1/accounts/@account.")
    assert out.endswith("/summary")
    # Even a parameter that looks like a word is an identifier when the template says so.
    assert "GitLabInc" not in pseudo("/v1/accounts/GitLabInc")


def test_same_value_same_pseudonym_within_a_recording_not_across() -> None:
    one = pseudo("/v1/accounts/A00012345")
    assert pseudo("/v1/accounts/A00012345") == one
    assert pseudo("/v1/subscriptions/accounts/A00012345").endswith(one.rsplit("/", 1)[1])
    assert pseudo("/v1/accounts/A00012346") != one
    assert pseudo("/v1/accounts/A00012345", KEY_B) != one


def test_vocabulary_params_stay_and_rest_tails_are_judged_per_segment() -> None:
    out = pseudo("/v1/object/account/2c92a0f96bd69165016bda8a7e2c1234")
    assert out.startswith("/v1/object/account/@id.")
    tail = pseudo("/v1/payment-methods/2c92a0f96bd6/verify", method="PUT")
    assert tail.startswith("/v1/payment-methods/@id.")
    assert tail.endswith("/verify")


def test_unmatched_paths_keep_words_only() -> None:
    out = pseudo("/v1/unknown/thing/A999/detail")
    assert out.startswith("/v1/unknown/thing/@id.")
    assert out.endswith("/detail")
    assert "A999" not in out


def test_query_keeps_keys_not_values() -> None:
    names = Pseudonyms(KEY_A)
    assert names.query("page=2&pageSize=40&flag") == "page=_&pageSize=_&flag"
    out = names.query("A0001=x")
    assert "A0001" not in out
    assert out.endswith("=_")


def test_body_shape_keeps_keys_types_and_names_accounts_by_pseudonym() -> None:
    names = Pseudonyms(KEY_A)
    doc = {
        "existingAccountNumber": "A00012345",
        "notes": "card 4111 1111 1111 1111",
        "amount": 12.5,
        "autoPay": True,
        "contact": None,
        "subscriptions": [{"orderActions": [{"type": "CreateSubscription"}]}, {"extra": 1}],
    }
    shape = names.shape(doc)
    assert shape == {
        "existingAccountNumber": names.of("account", "A00012345"),
        "notes": "str",
        "amount": "num",
        "autoPay": "bool",
        "contact": "null",
        "subscriptions": [{"orderActions": [{"type": "str"}], "extra": "num"}],
    }
    assert PSEUDONYM.fullmatch(shape["existingAccountNumber"])
    assert names.of("account", "A00012345") == pseudo("/v1/accounts/A00012345").rsplit("/")[-1]


def test_the_key_is_never_shown_and_must_be_long() -> None:
    assert "aaaa" not in repr(Pseudonyms(KEY_A))
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonyms(b"short")
