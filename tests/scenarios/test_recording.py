"""The recorder's lines (no secret, no raw identifier, keyed pseudonyms), its size rotation,
and reading a recording back into a replay plan mapped onto the fake's seeded data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from zproxy.config.parse import parse_settings
from zproxy.edge.exchange import Exchange
from zproxy.edge.recorder import FORMAT, Recorder, recording
from zproxy.scenarios.recording import credentials_needed, http_of, load_recording
from zproxy.scenarios.settings import shipped_config
from zproxy.scenarios.traffic import MARKER, SeedInfo

ROUTES = parse_settings(shipped_config(), "shipped", {}).routes
TOKEN_A = "tok-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
TOKEN_B = "tok-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
SEED = SeedInfo(("S-1", "S-2", "S-3"), "plan-1", ("SUB-1",), ("prod-1",), ("plan-1",))


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def exchange(
    method: str, target: str, token: str | None, body: bytes | None = None, **headers: str
) -> Exchange:
    hdrs = CIMultiDict(headers)
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs["Content-Type"] = "application/json"
        hdrs["Content-Length"] = str(len(body))
    request = make_mocked_request(method, target, headers=hdrs)
    path, _, query = target.partition("?")
    ex = Exchange(request, "rid", None, path, query, ROUTES.match(method, path), 0.0)
    ex.body = body
    return ex


def record_sample(tmp_path: Path, clock: Ticks) -> tuple[Recorder, list[bytes]]:
    rec = Recorder(tmp_path / "rec.jsonl", clock=clock, key=b"k" * 32)
    clock.now += 0.5
    rec.record(exchange("GET", "/v1/accounts/A00012345?expand=secretvalue", TOKEN_A), 200, 0.01)
    clock.now += 0.5
    rec.record(exchange("GET", "/v1/accounts/A00012345/summary", TOKEN_B), 200, 0.02)
    clock.now += 1.0
    rec.record(exchange("GET", "/v1/subscriptions/accounts/A00099999", TOKEN_A), 503, 3.0)
    clock.now += 1.0
    rec.record(exchange("PUT", "/v1/accounts/A00099999", TOKEN_A, b'{"notes":"x"}'), 202, 0.004)
    clock.now += 0.5
    rec.record(exchange("GET", "/v1/catalog/products", None), 401, 0.001)
    return rec, rec.take()


def test_lines_hold_no_secret_and_no_raw_identifier(tmp_path: Path) -> None:
    rec, batch = record_sample(tmp_path, Ticks())
    rec.write(batch)
    text = (tmp_path / "rec.jsonl").read_text()
    for secret in (TOKEN_A, TOKEN_B, "A00012345", "A00099999", "secretvalue", "Bearer"):
        assert secret not in text
    header, *lines = [orjson.loads(line) for line in text.splitlines()]
    assert header["recording"] == FORMAT
    assert [d["t"] for d in lines] == [0.5, 1.0, 2.0, 3.0, 3.5]
    assert [d["route"] for d in lines] == [
        "account",
        "account_summary",
        "subscriptions_by_account",
        "account_update",
        "catalog_products",
    ]
    first, second, third, fourth, fifth = lines
    assert first["path"].endswith("?expand=_")
    account = first["path"].split("/")[3].split("?")[0]
    assert second["path"] == f"/v1/accounts/{account}/summary"  # same account, same pseudonym
    assert third["path"].split("/")[-1] != account
    assert fourth["path"].split("/")[-1] == third["path"].split("/")[-1]
    assert first["identity"] == third["identity"] != second["identity"]
    assert fifth["identity"] is None
    assert fifth["cred"] is None
    assert first["cred"] == "token"
    assert (third["status"], third["ms"]) == (503, 3000.0)
    assert fourth["req_bytes"] == len(b'{"notes":"x"}')
    assert fourth["shape"] == {"notes": "str"}


def test_a_new_recording_uses_new_pseudonyms(tmp_path: Path) -> None:
    a = Recorder(tmp_path / "a", key=b"a" * 32).line(
        exchange("GET", "/v1/accounts/A1", None), 200, 0
    )
    b = Recorder(tmp_path / "b").line(exchange("GET", "/v1/accounts/A1", None), 200, 0)
    c = Recorder(tmp_path / "c").line(exchange("GET", "/v1/accounts/A1", None), 200, 0)
    assert len({a["path"], b["path"], c["path"]}) == 3


def test_the_file_rotates_by_size(tmp_path: Path) -> None:
    clock = Ticks()
    rec = Recorder(tmp_path / "rec.jsonl", max_bytes=600, backups=2, clock=clock)
    for n in range(30):
        clock.now += 0.1
        rec.record(exchange("GET", f"/v1/accounts/A{n:05d}", TOKEN_A), 200, 0.001)
        rec.write(rec.take())
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["rec.jsonl", "rec.jsonl.1", "rec.jsonl.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 600
        assert orjson.loads(path.read_text().splitlines()[0])["recording"] == FORMAT


async def test_the_running_recorder_flushes_off_the_loop_and_on_exit(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    async with recording(path, flush_interval=0.05) as rec:
        assert rec is not None
        rec.record(exchange("GET", "/v1/accounts/A1", TOKEN_A), 200, 0.001)
        for _ in range(100):
            if path.exists():
                break
            await asyncio.sleep(0.02)
        assert len(path.read_text().splitlines()) == 2
        rec.record(exchange("GET", "/v1/accounts/A2", TOKEN_A), 200, 0.001)
    assert len(path.read_text().splitlines()) == 3


def test_a_recording_replays_onto_seeded_accounts_and_credentials(tmp_path: Path) -> None:
    rec, batch = record_sample(tmp_path, Ticks())
    rec.write(batch)
    plan, problems = load_recording(tmp_path / "rec.jsonl", duration=100, time_scale=0.5)
    assert problems == []
    assert [p.t for p in plan] == [0.25, 0.5, 1.0, 1.5, 1.75]
    assert [p.credential for p in plan] == [0, 1, 0, 0, -1]
    assert credentials_needed(plan) == 2
    http = [http_of(p, SEED, 7, 2) for p in plan]
    assert http[0].path == "/v1/accounts/S-1?expand=_"
    assert http[1].path == "/v1/accounts/S-1/summary"
    assert http[2].path == "/v1/subscriptions/accounts/S-2"
    put = http[3]
    assert put.method == "PUT"
    assert put.path == f"/v1/accounts/S-2?{MARKER}=w3"
    assert put.marker == "w3"
    assert put.account == "S-2"
    assert put.body is not None
    assert set(orjson.loads(put.body)) == {"notes"}
    assert all(h.marker is None for h in http[:3] + http[4:])
    # The window of the scenario cuts the recording.
    short, _ = load_recording(tmp_path / "rec.jsonl", duration=1.0, time_scale=0.5)
    assert len(short) == 2


def test_bad_lines_are_reported_with_their_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"recording": "zproxy-recording/1"}\nnot json\n{"t": -1, "method": "GET"}\n')
    plan, problems = load_recording(path, duration=10)
    assert plan == []
    assert problems[0].startswith(f"{path}:2: not JSON")
    assert problems[1].startswith(f"{path}:3: `t` must be")
