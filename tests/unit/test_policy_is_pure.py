"""STYLE: the policy package is sans-I/O: it imports no aiohttp, redis or asyncio."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

POLICY = Path(__file__).resolve().parents[2] / "zproxy" / "policy"
FORBIDDEN = ("aiohttp", "redis", "asyncio")


@pytest.mark.parametrize("module", sorted(POLICY.glob("*.py")), ids=lambda p: p.name)
def test_policy_module_imports_no_io(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [name for name in imported if name.split(".")[0] in FORBIDDEN], imported
