"""The project's own habits: its pre-commit configuration and its changelog."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from claudio_ci import __version__
from tests.gitutil import REPO_ROOT


def test_the_pre_commit_config_is_valid_for_pre_commit_itself() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_local_hooks_run_the_commands_of_the_published_hooks() -> None:
    """Dogfooding: the repository checks itself with the same commands users get."""
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    published = {
        hook["id"]: hook["entry"]
        for hook in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text("utf-8"))
    }
    local = [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]
    ours = [hook for hook in local if hook["id"] != "mypy"]
    assert {hook["id"] for hook in ours} >= {"conflict-risk", "jupytext-pairing"}
    for hook in ours:
        assert hook["entry"].startswith(published[hook["id"]]), hook["id"]
    remote = {
        hook["id"] for repo in config["repos"] if repo["repo"] != "local" for hook in repo["hooks"]
    }
    assert {"ruff-check", "ruff-format"} <= remote


def test_the_mypy_hook_checks_the_whole_package_with_the_projects_configuration() -> None:
    """`mypy` with no file names reads `files` from pyproject.toml (tests/test_typing.py)."""
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    local = [hook for repo in config["repos"] if repo["repo"] == "local" for hook in repo["hooks"]]
    mypy = next((hook for hook in local if hook["id"] == "mypy"), None)
    assert mypy is not None, "no local mypy hook in .pre-commit-config.yaml"
    assert mypy["entry"] == "mypy"
    assert mypy["language"] == "system"
    assert mypy["pass_filenames"] is False


def test_the_changelog_keeps_an_unreleased_section_first() -> None:
    text = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert versions[0] == "Unreleased", versions
    assert __version__ in versions, f"CHANGELOG.md has no section for {__version__}"
    for version in versions:
        assert f"[{version}]: " in text, f"CHANGELOG.md has no link for [{version}]"
