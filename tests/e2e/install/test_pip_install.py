"""``pip install .`` (not editable) and run from an empty directory: the shipped route table and
the bundled scenarios come with the package, so zproxy caches and queues without a checkout.

Offline and quick: the project's own site-packages lends the dependencies and setuptools (a
``.pth`` line), and the wheel is built from a copy of the sources, so the checkout stays clean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import aiohttp
import pytest

from tests.support.fake import accounts, set_fault
from tests.support.http import bearer, oauth_token, request
from tests.support.stack import QUEUE_KEY, ROOT
from zproxy.testing.fake_zuora.server import running_fake_zuora
from zproxy.testing.proxy_process import ZproxyProcess

pytestmark = pytest.mark.slow
BUNDLED = sorted(p.stem for p in (ROOT / "config" / "scenarios").glob("*.yaml"))


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZPROXY_", "PYTHON"))}
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with zproxy installed from a wheel; yields its ``bin`` directory."""
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "zproxy", src / "zproxy", ignore=ignore)
    shutil.copytree(ROOT / "config", src / "config", ignore=ignore)
    venv = base / "venv"
    made = _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    assert made.returncode == 0, made.stderr
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    install = _run(
        python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", src,
        cwd=base,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "zproxy" / "_data" / "zproxy.yaml").is_file()
    return venv / "bin"


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = _run(installed / "python", "-c", "import zproxy; print(zproxy.__file__)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(installed.parent) in where.stdout
    assert str(ROOT) not in where.stdout


def test_scenario_list_works_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    result = _run(installed / "zproxy", "scenario", "list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in BUNDLED:
        assert name in result.stdout


def test_check_config_of_the_shipped_table(installed: Path, tmp_path: Path) -> None:
    shipped = next((installed.parent / "lib").glob("python3*/site-packages/zproxy/_data"))
    result = _run(installed / "zproxy", "check-config", shipped / "zproxy.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


class _InstalledZproxy(ZproxyProcess):
    """``zproxy serve`` from the installed console script, in an empty working directory."""

    def __init__(self, bin_dir: Path, cwd: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.bin_dir = bin_dir
        self.cwd = cwd

    def _command(self) -> list[str]:
        return [str(self.bin_dir / "zproxy"), *super()._command()[3:]]

    def spawn(self) -> None:
        here = Path.cwd()
        os.chdir(self.cwd)
        try:
            super().spawn()
        finally:
            os.chdir(here)


async def test_serve_caches_and_queues_by_the_shipped_route_table(
    installed: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    async with running_fake_zuora(seed=1) as fz, aiohttp.ClientSession() as http:
        proc = _InstalledZproxy(
            installed,
            empty,
            upstream=fz.url,
            redis_url="embedded",
            data_dir=tmp_path / "data",
            env={"ZPROXY_QUEUE_KEY": QUEUE_KEY},
        )
        await proc.astart()
        try:
            started = next(
                json.loads(row) for row in proc.logs().splitlines() if '"config_loaded"' in row
            )
            token = await oauth_token(http, proc.url, fz.client_id, fz.client_secret)
            products = proc.url + "/v1/catalog/products"
            first = await request(http, "GET", products, headers=bearer(token))
            again = await request(http, "GET", products, headers=bearer(token))
            set_fault(fz, mode="down")
            account = accounts(fz)[0]
            write = await request(
                http,
                "PUT",
                f"{proc.url}/v1/accounts/{account}",
                json={"notes": "written while Zuora is down"},
                headers=bearer(token),
            )
        finally:
            await proc.aterminate()
    assert "_data" in started["config"]
    assert str(installed.parent) in started["config"]
    assert started["routes"] > 0
    assert first.status == 200
    assert again.status == 200
    assert "hit" in again.cache, again.headers
    assert write.status == 202, write.body
    assert not (empty / "var").exists()
