"""The foundation tests: one zproxy in front of the echo upstream, with big body limits; ``echo``
and ``http`` come from tests/e2e/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import launch
from tests.support.echo_upstream import EchoState
from zproxy.testing.proxy_process import ZproxyProcess

TEST_CONFIG = """
server:
  max_request_body: 6000000
  body_read_timeout: 1
upstream:
  max_body_bytes: 9000000
  connect_timeout: 2
  total_timeout: 20
"""


@pytest.fixture
def test_config(tmp_path: Path) -> Path:
    path = tmp_path / "zproxy-test.yaml"
    routes = Path("config/zproxy.yaml").read_text().split("\nroutes:", 1)[1]
    path.write_text(TEST_CONFIG + "\nroutes:" + routes)
    return path


@pytest.fixture
async def zproxy_echo(
    echo: tuple[str, EchoState], redis_url: str, tmp_path: Path, test_config: Path
) -> AsyncIterator[ZproxyProcess]:
    proc = launch(tmp_path, echo[0], redis_url, config=test_config, test_keys=False)
    await proc.astart()
    yield proc
    proc.kill()
