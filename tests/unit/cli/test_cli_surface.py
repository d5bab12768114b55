"""The command line as an operator meets it: version, help, one-line errors, start-up refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from zproxy import __version__
from zproxy.config.load import ENV_VARS, FLAGS
from zproxy.testing.proxy_process import ZproxyProcess


def _zproxy(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZPROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "zproxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
        cwd=cwd,
        check=False,
    )


def _one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_version() -> None:
    result = _zproxy("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"zproxy {__version__}"


def test_every_serve_flag_gives_its_default_and_environment_variable() -> None:
    text = " ".join(_zproxy("serve", "--help").stdout.split("options:", 1)[1].split())
    by_setting = {dotted: env for env, dotted in ENV_VARS.items()}
    for flag, dotted in FLAGS.items():
        match = re.search(rf"(?<![\w-]){flag} \S+ (.*?\))", text)
        assert match, flag
        assert f"env {by_setting[dotted]};" in match.group(1), flag
        assert "default " in match.group(1), flag
    assert "env ZPROXY_CONFIG;" in text
    assert "env ZPROXY_PASS_THROUGH_ONLY=1;" in text


def test_a_bad_flag_value_names_the_flag_typed() -> None:
    line = _one_line_exit_2(_zproxy("serve", "--upstream", "ftp://x"))
    assert line.startswith("zproxy: --upstream:"), line


@pytest.mark.parametrize("content", [None, "routes: [\n  - name: x\n", "- just\n- a list\n"])
def test_a_missing_or_bad_config_file_is_one_line(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "zproxy.yaml"
    if content is not None:
        path.write_text(content)
    for args in (("serve", "--config", str(path)), ("check-config", str(path))):
        assert str(path) in _one_line_exit_2(_zproxy(*args))


def test_an_empty_route_table_stops_start_up(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("routes: []\n")
    line = _one_line_exit_2(
        _zproxy("serve", "--config", str(empty), "--data-dir", str(tmp_path / "d"))
    )
    assert "no routes" in line
    assert "--pass-through-only" in line


def test_an_external_redis_needs_the_fleet_queue_key(tmp_path: Path) -> None:
    line = _one_line_exit_2(
        _zproxy("serve", "--redis", "redis://127.0.0.1:9/0", "--data-dir", str(tmp_path))
    )
    assert line.startswith("zproxy: ZPROXY_QUEUE_KEY: required with an external Redis")
    assert not (tmp_path / "queue.key").exists()


async def test_pass_through_only_starts_and_the_start_up_line_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("routes: []\n")
    proc = ZproxyProcess(
        upstream="http://127.0.0.1:9",
        redis_url="embedded",
        data_dir=tmp_path / "d",
        config=empty,
        env={"ZPROXY_PASS_THROUGH_ONLY": "1"},
    )
    await proc.astart()
    try:
        line = next(json.loads(row) for row in proc.logs().splitlines() if '"config_loaded"' in row)
    finally:
        await proc.aterminate()
    assert line["routes"] == 0
    assert line["pass_through_only"] is True
    assert line["config"] == str(empty)
    assert line["redis"] == "embedded"
    version = tuple(int(p) for p in line["redis_version"].split(".")[:2])
    assert version >= (7, 2)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "cannot read"), ('{"a": 1}', "non-empty string secret"), ("{", "line")],
)
def test_fake_zuora_bad_clients_file_is_one_line(
    tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "clients.json"
    if content is not None:
        path.write_text(content)
    line = _one_line_exit_2(_zproxy("fake-zuora", "--clients", str(path)))
    assert line.startswith(f"zproxy: --clients: {path}:")
    assert reason in line


def test_fake_zuora_prints_where_it_listens() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "zproxy", "fake-zuora", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    assert re.fullmatch(r"fake-zuora: listening on http://127\.0\.0\.1:[1-9]\d*\n", line), line
    assert proc.returncode == 0
