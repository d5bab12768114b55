"""Identity scoping: credentials, identities and cache keys (zproxy.policy.keys)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zproxy.policy.credentials import (
    Credential,
    credential_of,
    fallback_principal,
    principal_from_token_response,
    token_hash,
)
from zproxy.policy.keys import (
    ENTRY_PREFIX,
    Hasher,
    Identity,
    cache_key,
    canonical_query,
    identity_of,
    principal_of_key,
)

SECRET = b"0123456789abcdef-test-secret"
H = Hasher(SECRET)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer abc123"}, Credential("token", "abc123")),
        ({"authorization": "bearer  abc123 "}, Credential("token", "abc123")),
        (
            {"apiAccessKeyId": "user@x", "apiSecretAccessKey": "pw"},
            Credential("basic", "user@x\x00pw"),
        ),
        (
            {"Authorization": "Basic dXNlcjpwdw=="},
            Credential("basic", "http-basic\x00dXNlcjpwdw=="),
        ),
        ({"Cookie": "a=1; ZSession=s3ss; b=2"}, Credential("session", "s3ss")),
        ({"cookie": 'ZSession="quoted"'}, Credential("session", "quoted")),
    ],
)
def test_credential_is_recognised(headers: dict[str, str], expected: Credential) -> None:
    assert credential_of(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer "},
        {"Authorization": "Digest abc"},  # a scheme we do not understand: never cached
        {"apiAccessKeyId": "user@x"},  # half a legacy credential
        {"apiSecretAccessKey": "pw"},
        {"Cookie": "other=1; ZSessionX=1"},
        {"Authorization": "Digest abc", "Cookie": "ZSession=s"},
    ],
)
def test_no_complete_credential_means_none(headers: dict[str, str]) -> None:
    assert credential_of(headers) is None


def test_several_credentials_are_all_part_of_the_identity() -> None:
    both = credential_of({"Authorization": "Bearer t1", "Cookie": "ZSession=s1"})
    other_cookie = credential_of({"Authorization": "Bearer t1", "Cookie": "ZSession=s2"})
    assert both is not None
    assert both.kind == "mixed"
    assert both != other_cookie
    assert both != credential_of({"Authorization": "Bearer t1"})


def test_credential_repr_hides_the_secret() -> None:
    cred = credential_of({"Authorization": "Bearer supersecrettoken"})
    assert cred is not None
    assert "supersecrettoken" not in repr(cred)


def test_hasher_is_keyed_and_unambiguous() -> None:
    assert H.hash("a", "b") == Hasher(SECRET).hash("a", "b")
    assert H.hash("a", "b") != Hasher(b"another-secret-of-16+").hash("a", "b")
    assert H.hash("ab", "c") != H.hash("a", "bc")
    assert H.hash("x") == H.hash(b"x")
    assert len(H.hash("x")) == 32


def test_hasher_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Hasher(b"short")


@pytest.mark.parametrize(
    ("headers", "field", "expected"),
    [
        ({"Zuora-Entity-Ids": " b , a,c "}, "entity_ids", "a,b,c"),
        ({"zuora-org-ids": "o2,o1"}, "org_ids", "o1,o2"),
        ({"Zuora-Org-Ids": " , "}, "org_ids", ""),
        ({"Zuora-Version": " 211.0 "}, "version", "211.0"),
        ({"X-Zuora-WSDL-Version": "79"}, "wsdl_version", "79"),
        ({"Accept": "Application/JSON"}, "accept", "application/json"),
        ({}, "entity_ids", ""),
    ],
)
def test_identity_headers_are_normalized(
    headers: dict[str, str], field: str, expected: str
) -> None:
    assert getattr(identity_of(headers, "tP"), field) == expected


@pytest.mark.parametrize("bad", ["", "a:b"])
def test_identity_rejects_a_principal_that_breaks_the_key_layout(bad: str) -> None:
    with pytest.raises(ValueError, match="principal"):
        Identity(principal=bad)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("", ""),
        ("page=2", "page=2"),
        ("pageSize=40&page=2", "page=2&pageSize=40"),
        ("b=1&a=2&a=1", "a=2&a=1&b=1"),  # repeated names keep their order
        ("q=a+b", "q=a+b"),  # spellings are not re-encoded
        ("q=a%20b", "q=a%20b"),
        ("flag&a=1", "a=1&flag"),
    ],
)
def test_canonical_query(raw: str, canonical: str) -> None:
    assert canonical_query(raw) == canonical


BASE = Identity(principal="tP", entity_ids="e1", org_ids="o1", version="211.0")


def key(identity: Identity = BASE, **kw: str) -> str:
    args: dict[str, str | None] = {
        "method": "GET",
        "path": "/v1/accounts/A1",
        "raw_query": "a=1&b=2",
        "body_hash": None,
    }
    args.update(kw)
    return cache_key(
        H,
        identity,
        str(args["method"]),
        str(args["path"]),
        str(args["raw_query"]),
        args["body_hash"],
    )


def test_reordered_query_shares_the_key() -> None:
    assert key(raw_query="b=2&a=1") == key()


@pytest.mark.parametrize(
    "variant",
    [
        Identity(principal="tQ", entity_ids="e1", org_ids="o1", version="211.0"),
        Identity(principal="tP", entity_ids="e2", org_ids="o1", version="211.0"),
        Identity(principal="tP", entity_ids="e1", org_ids="o2", version="211.0"),
        Identity(principal="tP", entity_ids="e1", org_ids="o1", version="2024-05-20"),
        Identity(principal="tP", entity_ids="e1", org_ids="o1", version="211.0", wsdl_version="79"),
        Identity(principal="tP", entity_ids="e1", org_ids="o1", version="211.0", accept="a/b"),
        Identity(principal="tP", entity_ids="", org_ids="e1,o1", version="211.0"),
    ],
)
def test_every_identity_field_separates_keys(variant: Identity) -> None:
    assert key(variant) != key()


@pytest.mark.parametrize(
    "change",
    [
        {"method": "HEAD"},
        {"path": "/v1/accounts/A2"},
        {"raw_query": "a=1&b=3"},
        {"raw_query": ""},
        {"body_hash": "abc"},
    ],
)
def test_request_fields_separate_keys(change: dict[str, str]) -> None:
    assert key(BASE, **change) != key()


def test_key_layout_names_the_principal_and_nothing_raw() -> None:
    token = "c652cbc0ea384b9f81856a93a2a74538"
    principal = fallback_principal(H, Credential("token", token))
    k = key(Identity(principal=principal))
    assert k.startswith(ENTRY_PREFIX)
    assert principal_of_key(k) == principal
    assert token not in k


@pytest.mark.parametrize("bad", ["zc:t:abc:tag", "zc:e:", "zc:e:abc", "other"])
def test_principal_of_key_rejects_other_keys(bad: str) -> None:
    with pytest.raises(ValueError, match="not a zproxy cache key"):
        principal_of_key(bad)


def test_fallback_principals_are_per_credential_and_kind() -> None:
    tok = fallback_principal(H, Credential("token", "t1"))
    assert tok == "t" + token_hash(H, "t1")
    assert tok != fallback_principal(H, Credential("token", "t2"))
    assert fallback_principal(H, Credential("session", "t1")) not in (tok, "t1")
    assert ":" not in fallback_principal(H, Credential("basic", "a:b\x00c"))


SCOPE = "user.7c4d entity.1a2b tenant.19 service.echo.read"


def grant_body(token: str, scope: str = SCOPE, expires: object = 3599) -> dict[str, object]:
    return {"access_token": token, "expires_in": expires, "scope": scope, "token_type": "bearer"}


def test_two_tokens_of_one_client_share_a_principal() -> None:
    first = principal_from_token_response("client-1", grant_body("tok-1"), H)
    second = principal_from_token_response(
        "client-1", grant_body("tok-2", scope=" ".join(reversed(SCOPE.split()))), H
    )
    assert first is not None
    assert second is not None
    assert first.principal == second.principal
    assert (first.access_token, second.access_token) == ("tok-1", "tok-2")
    assert first.expires_in == 3599
    Identity(principal=first.principal)  # usable in a key


@pytest.mark.parametrize(
    ("client", "scope"),
    [("client-2", SCOPE), ("client-1", SCOPE.replace("tenant.19", "tenant.20")), (None, SCOPE)],
)
def test_another_client_or_scope_is_another_principal(client: str | None, scope: str) -> None:
    base = principal_from_token_response("client-1", grant_body("t"), H)
    other = principal_from_token_response(client, grant_body("t", scope=scope), H)
    assert base is not None
    assert other is not None
    assert base.principal != other.principal


@pytest.mark.parametrize(
    ("client", "body"),
    [
        ("c", {"scope": SCOPE}),
        ("c", {"access_token": "", "scope": SCOPE}),
        ("c", {"access_token": 5, "scope": SCOPE}),
        (None, {"access_token": "t"}),
    ],
)
def test_unusable_token_responses_teach_nothing(
    client: str | None, body: dict[str, object]
) -> None:
    assert principal_from_token_response(client, body, H) is None


@pytest.mark.parametrize(("given", "expected"), [(None, 3600), ("x", 3600), (-5, 3600), (60, 60)])
def test_expires_in_defaults_to_an_hour(given: object, expected: float) -> None:
    body = grant_body("secret-token-value", expires=given)
    if given is None:
        del body["expires_in"]
    grant = principal_from_token_response("c", body, H)
    assert grant is not None
    assert grant.expires_in == expected
    assert "secret-token-value" not in repr(grant)


principals = st.text(alphabet="0123456789abcdef", min_size=1, max_size=8).map(lambda s: "t" + s)
header_values = st.text(alphabet="abc,; 0123", max_size=6)
identities = st.builds(
    identity_of,
    st.fixed_dictionaries(
        {},
        optional={
            "Zuora-Entity-Ids": header_values,
            "Zuora-Org-Ids": header_values,
            "Zuora-Version": header_values,
            "X-Zuora-WSDL-Version": header_values,
        },
    ),
    principals,
)


@given(identities, identities)
def test_keys_meet_only_when_identities_are_equal(a: Identity, b: Identity) -> None:
    assert (key(a) == key(b)) == (a == b)
