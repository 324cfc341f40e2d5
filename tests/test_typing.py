"""`mypy --strict` finds nothing in claudio_ci: the real mypy, run as a developer, CI and the
repository's own pre-commit hook run it, with the configuration in pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitutil import REPO_ROOT


def _mypy(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named mypy" in proc.stderr:
        pytest.fail("mypy is not installed; `pip install -e '.[test]'` installs it")
    return proc


def test_mypy_strict_finds_nothing_in_the_package() -> None:
    # `--strict` on top of the configuration: a config that stopped being strict still fails
    proc = _mypy("--strict")
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0, "mypy --strict found errors (run `mypy`):\n" + "\n".join(
        errors or [proc.stdout + proc.stderr]
    )
    checked = re.search(r"no issues found in (\d+) source files", proc.stdout)
    modules = list((REPO_ROOT / "claudio_ci").rglob("*.py"))
    assert checked is not None, proc.stdout
    assert int(checked[1]) == len(modules), "mypy's `files` no longer covers every module"


def test_the_configuration_catches_what_strict_mode_is_for(tmp_path: Path) -> None:
    """The configuration in force: an unannotated function and an implicit Any are errors."""
    (tmp_path / "sloppy.py").write_text(
        "import json\n\ndef load(path):\n    return json.load(open(path))\n\n"
        "def count(path: str) -> int:\n    return json.loads(path)\n",
        encoding="utf-8",
    )
    proc = _mypy(
        "--config-file",
        str(REPO_ROOT / "pyproject.toml"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "sloppy.py",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "sloppy.py:3: error: Function is missing a type annotation  [no-untyped-def]" in (
        proc.stdout
    )
    assert "[no-any-return]" in proc.stdout
