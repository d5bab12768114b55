"""OAuth client credentials, token expiry on the injected clock, legacy keys, clients files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fake_zuora.helpers import Api
from zproxy.clock import FakeClock
from zproxy.testing.fake_zuora import (
    RunningFakeZuora,
    load_clients,
    load_tenants,
    running_fake_zuora,
)

CLIENT = "7c4d5433-dc23-4c36-9a01-b9719ecd059f"


async def _token(
    session: aiohttp.ClientSession, url: str, **form: str
) -> tuple[int, dict[str, Any]]:
    data = {"grant_type": "client_credentials", **form}
    async with session.post(f"{url}/oauth/token", data=data) as resp:
        return resp.status, await resp.json()


async def test_token_has_zuora_shape_and_a_scope_stable_per_client(
    fz: RunningFakeZuora, session: aiohttp.ClientSession
) -> None:
    status, first = await _token(session, fz.url, client_id=CLIENT, client_secret="s")
    _, second = await _token(session, fz.url, client_id=CLIENT, client_secret="other")
    assert status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", first["access_token"])
    assert first["expires_in"] == 3599
    assert first["token_type"] == "bearer"
    assert first["jti"]
    assert re.fullmatch(r"user\.[0-9a-f]{32} entity\.[0-9a-f-]{36} tenant\.1", first["scope"])
    assert first["scope"] == second["scope"]
    assert first["access_token"] != second["access_token"]
    _, third = await _token(session, fz.url, client_id=CLIENT[:-1] + "0", client_secret="s")
    assert third["scope"].split()[0] != first["scope"].split()[0]


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [(CLIENT[:-1], "s"), (CLIENT, ""), (CLIENT, "x" * 43), ("", "")],
)
async def test_bad_client_credentials_get_401(
    fz: RunningFakeZuora, session: aiohttp.ClientSession, client_id: str, secret: str
) -> None:
    status, body = await _token(session, fz.url, client_id=client_id, client_secret=secret)
    assert (status, body) == (401, {"message": "Authentication error"})


async def test_wrong_grant_type_is_a_400(
    fz: RunningFakeZuora, session: aiohttp.ClientSession
) -> None:
    status, body = await _token(
        session, fz.url, client_id=CLIENT, client_secret="s", grant_type="password"
    )
    assert status == 400
    assert body["success"] is False


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer 00000000000000000000000000000000"},
        {"Authorization": "Basic eA=="},
    ],
)
async def test_missing_or_unknown_tokens_get_401_with_zuora_headers(
    api: Api, headers: dict[str, str]
) -> None:
    async with api.session.get(
        api.fz.url + "/v1/accounts/A00000001", headers={**headers, "Zuora-Track-Id": "t-401"}
    ) as resp:
        assert resp.status == 401
        assert await resp.json() == {"message": "Authentication error"}
        assert resp.headers["Zuora-Track-Id"] == "t-401"
        assert "Zuora-Request-Id" in resp.headers


async def test_token_expires_on_the_injected_clock(api: Api, clock: FakeClock) -> None:
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    clock.advance(3598)
    assert (await api.get("/v1/accounts/A00000001")).status == 200
    clock.advance(2)
    reply = await api.get("/v1/accounts/A00000001")
    assert (reply.status, reply.data) == (401, {"message": "Authentication error"})


async def test_legacy_key_headers_are_accepted(api: Api) -> None:
    legacy = {"apiAccessKeyId": "user@example.com", "apiSecretAccessKey": "pw"}
    async with api.session.get(api.fz.url + "/v1/accounts/A00000001", headers=legacy) as resp:
        assert resp.status == 200
    async with api.session.get(
        api.fz.url + "/v1/accounts/A00000001", headers={"apiAccessKeyId": "user@example.com"}
    ) as resp:
        assert resp.status == 401


def test_clients_files_in_yaml_and_json(tmp_path: Path) -> None:
    yml = tmp_path / "clients.yaml"
    yml.write_text(f"{CLIENT}: s3cret\nother-client: {{secret: two, tenant: 2}}\n")
    js = tmp_path / "clients.json"
    js.write_text(f'{{"{CLIENT}": "s3cret"}}')
    assert load_clients(yml) == {CLIENT: "s3cret", "other-client": "two"}
    assert load_tenants(yml) == {CLIENT: 1, "other-client": 2}
    assert load_clients(js) == {CLIENT: "s3cret"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_clients(bad)


async def test_a_clients_list_restricts_credentials_and_assigns_tenants(
    session: aiohttp.ClientSession,
) -> None:
    clients = {CLIENT: "s3cret", "second-client": "two"}
    async with running_fake_zuora(
        clients=clients, tenants={"second-client": 2}, clock=FakeClock(), accounts=3
    ) as fz:
        assert (await _token(session, fz.url, client_id=CLIENT, client_secret="nope"))[0] == 401
        unknown = "0" * 8 + CLIENT[8:]
        assert (await _token(session, fz.url, client_id=unknown, client_secret="s3cret"))[0] == 401
        status, one = await _token(session, fz.url, client_id=CLIENT, client_secret="s3cret")
        _, two = await _token(session, fz.url, client_id="second-client", client_secret="two")
        assert status == 200
        assert two["scope"].endswith("tenant.2")
        ids = []
        for token in (one["access_token"], two["access_token"]):
            api = Api(session, fz, token)
            ids.append((await api.get("/v1/accounts/A00000001")).data["basicInfo"]["id"])
        assert ids[0] != ids[1], "each tenant has its own seeded data"
