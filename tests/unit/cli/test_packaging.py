"""pyproject lists the packages (``zproxy._data`` is config/, shipped as package data): a new
subpackage left off the list would be missing from ``pip install .``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_subpackage_is_listed() -> None:
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "zproxy").rglob("__init__.py")
    }
    assert set(SETUPTOOLS["packages"]) == found | {"zproxy._data"}


def test_the_shipped_data_is_the_top_level_config() -> None:
    assert SETUPTOOLS["package-dir"] == {"zproxy._data": "config"}
    patterns = SETUPTOOLS["package-data"]["zproxy._data"]
    config = ROOT / "config"
    shipped = {p.relative_to(config) for pat in patterns for p in config.glob(pat)}
    assert Path("zproxy.yaml") in shipped
    assert {p.name for p in shipped if p.parent.name == "scenarios"} == {
        p.name for p in (ROOT / "config" / "scenarios").glob("*.yaml")
    }
