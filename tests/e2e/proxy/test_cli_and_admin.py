"""The command line, settings precedence, embedded Redis and the admin port."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis

from zproxy.testing.proxy_process import ZproxyProcess


def _zproxy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ZPROXY_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "zproxy", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_shipped_config_is_valid() -> None:
    result = _zproxy("check-config", "config/zproxy.yaml")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_check_config_names_every_problem_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "upstream:\n  url: ftp://x\n  connect_timeout: soon\n"
        "server:\n  listen: nowhere\n  shutdown_timout: 5\n"
        "breakers:\n  reads: {fail_maxx: 2}\n"
        "routes:\n"
        "  - name: a\n    methods: [GET]\n    path: v1/x\n    read: {fresh: -1}\n"
        "  - name: a\n    methods: [FETCH]\n    path: /v1/y\n"
        "  - name: w\n    methods: [PUT]\n    path: /v1/w/{id}\n"
        "    write: {on_outage: maybe, order_key: 'k:{nope}'}\n"
    )
    result = _zproxy("check-config", str(bad))
    assert result.returncode == 2
    err = result.stderr
    for fragment in (
        "upstream.url",
        "upstream.connect_timeout",
        "server.listen",
        "routes[0].path",
        "routes[0].read.fresh",
        "routes[1].name",
        "routes[1].methods",
        "routes[2].write.on_outage",
        "{nope}",
    ):
        assert fragment in err, (fragment, err)
    assert "Traceback" not in err


def test_check_config_reports_yaml_syntax_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstream:\n  url: [unclosed\n")
    result = _zproxy("check-config", str(bad))
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr
    assert "YAML" in result.stderr


def test_bad_environment_setting_stops_serve_with_one_line_naming_it() -> None:
    result = _zproxy("serve", env={"ZPROXY_LISTEN": "not-a-port"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ZPROXY_LISTEN" in lines[0]


def test_short_cache_secret_is_refused_naming_the_variable() -> None:
    result = _zproxy("serve", env={"ZPROXY_CACHE_SECRET": "short"})
    assert result.returncode == 2
    assert "ZPROXY_CACHE_SECRET" in result.stderr
    assert "short" not in result.stderr.replace("ZPROXY_CACHE_SECRET", "")


def test_bad_queue_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    result = _zproxy(
        "serve", "--data-dir", str(tmp_path), env={"ZPROXY_QUEUE_KEY": "not-a-fernet-key-XYZ"}
    )
    assert result.returncode == 2
    assert "ZPROXY_QUEUE_KEY" in result.stderr
    assert "not-a-fernet-key-XYZ" not in result.stderr


def test_start_up_problems_are_one_line_naming_the_setting(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = _zproxy("serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("zproxy: ZPROXY_LISTEN: cannot listen")
    result = _zproxy("serve", env={"ZPROXY_CA_BUNDLE": str(tmp_path / "nope.pem")})
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "ZPROXY_CA_BUNDLE" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _zproxy("serve", "--data-dir", str(blocker / "sub"))
    assert result.returncode == 2
    assert "ZPROXY_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_upstream_url_with_credentials_is_refused_without_echoing_them() -> None:
    result = _zproxy("serve", env={"ZPROXY_UPSTREAM_URL": "https://user:hunter2@rest.zuora.com"})
    assert result.returncode == 2
    assert "ZPROXY_UPSTREAM_URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_flags_override_environment() -> None:
    result = _zproxy("serve", "--admin-listen", "bad", env={"ZPROXY_ADMIN_LISTEN": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "--admin-listen" in result.stderr


async def test_embedded_redis_is_private_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "d"
    first = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url="embedded", data_dir=data)
    await first.astart()
    try:
        sock = data / "redis" / "redis.sock"
        assert stat.S_IMODE((data / "redis").stat().st_mode) == 0o700
        client = aioredis.Redis.from_url(f"unix://{sock}")
        await client.set("survives", "yes")
        assert (await client.config_get("appendfsync"))["appendfsync"] == "always"
        assert (await client.config_get("port"))["port"] == "0"
        await client.aclose()
    finally:
        assert await first.aterminate() == 0
    assert "Traceback" not in first.logs()
    second = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url="embedded", data_dir=data)
    await second.astart()
    try:
        client = aioredis.Redis.from_url(f"unix://{sock}")
        assert await client.get("survives") == b"yes"
        await client.aclose()
    finally:
        assert await second.aterminate() == 0


async def test_health_ready_and_metrics(redis_url: str, tmp_path: Path) -> None:
    proc = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url=redis_url, data_dir=tmp_path)
    await proc.astart()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(proc.admin_url + "/healthz") as resp:
                assert resp.status == 200
            async with http.get(proc.admin_url + "/readyz") as resp:
                assert resp.status == 200
            async with http.get(proc.url + "/v1/accounts/A-1") as resp:
                assert resp.status == 503
            async with http.get(proc.admin_url + "/metrics") as resp:
                text = await resp.text()
        assert 'zproxy_requests_total{method="GET",route="account",status="503"} 1.0' in text
        assert "A-1" not in text
    finally:
        proc.kill()


async def test_readyz_is_503_when_redis_is_gone(own_redis: object, tmp_path: Path) -> None:
    from zproxy.store.embedded import RedisServer

    assert isinstance(own_redis, RedisServer)
    proc = ZproxyProcess(upstream="http://127.0.0.1:9", redis_url=own_redis.url, data_dir=tmp_path)
    await proc.astart()
    try:
        own_redis.kill()
        async with aiohttp.ClientSession() as http:
            async with http.get(proc.admin_url + "/readyz") as resp:
                assert resp.status == 503
                body = await resp.json()
                assert any("redis" in r for r in body["reasons"])
            admin = {"Authorization": "Bearer test-admin-token"}
            for method, path, payload in (
                ("GET", "/admin/writes", None),
                ("POST", "/admin/cache/purge", {"all": True}),
            ):
                async with http.request(
                    method, proc.admin_url + path, json=payload, headers=admin
                ) as resp:
                    assert resp.status == 503
                    assert resp.headers["Retry-After"] == "5"
                    reason = (await resp.json())["reasons"][0]
                    assert reason["code"] == "ZPROXY_STORE_UNAVAILABLE"
    finally:
        proc.kill()


@pytest.mark.parametrize(
    ("token_env", "sent", "status"),
    [
        ({}, "Bearer anything", 403),
        ({"ZPROXY_ADMIN_TOKEN": "s3cret-token"}, None, 401),
        ({"ZPROXY_ADMIN_TOKEN": "s3cret-token"}, "Bearer wrong", 401),
        ({"ZPROXY_ADMIN_TOKEN": "s3cret-token"}, "Bearer s3cret-token", 404),
    ],
)
async def test_admin_api_needs_the_token(
    redis_url: str, tmp_path: Path, token_env: dict[str, str], sent: str | None, status: int
) -> None:
    env = {"ZPROXY_ADMIN_TOKEN": ""} | token_env
    proc = ZproxyProcess(
        upstream="http://127.0.0.1:9", redis_url=redis_url, data_dir=tmp_path, env=env
    )
    await proc.astart()
    try:
        headers = {"Authorization": sent} if sent else {}
        async with (
            aiohttp.ClientSession() as http,
            http.get(proc.admin_url + "/admin/no-such-endpoint", headers=headers) as resp,
        ):
            assert resp.status == status
            if status != 404:
                assert (await resp.json())["success"] is False
    finally:
        proc.kill()
