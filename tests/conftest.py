"""Shared fixtures: real git repositories, real worktrees, a real pre-commit hook repo."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitutil import (
    EXAMPLE_PROJECT,
    GIT_IDENTITY,
    REPO_ROOT,
    commit_all,
    git,
    run_pre_commit,
)


@pytest.fixture(autouse=True)
def _isolated_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test reads the developer's git or claudio config, or GitHub's variables."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)  # approvals: under this HOME
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith(("CLAUDIO_", "GITHUB_", "GIT_DIR", "GIT_INDEX", "GIT_WORK")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CI", raising=False)
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
        "[commit]\n\tgpgsign = false\n",
        encoding="utf-8",
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty repository on branch main with one commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# test\n", encoding="utf-8")
    commit_all(repo, "initial")
    return repo


@pytest.fixture
def ml_repo(tmp_path: Path) -> Path:
    """A repository holding the example ML project, committed on main."""
    repo = tmp_path / "ml-repo"
    shutil.copytree(
        EXAMPLE_PROJECT,
        repo,
        ignore=shutil.ignore_patterns("outputs", "__pycache__", ".pytest_cache"),
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "example project")
    return repo


# --- the real pre-commit framework against this repository ------------------------------


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PRE_COMMIT_HOME for the whole session, so hook environments are built once."""
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A committed snapshot of this working tree (uncommitted edits included).

    A `.pre-commit-config.yaml` naming this snapshot and sha lets every test that runs
    `pre-commit install` / `pre-commit run` share one hook environment (in
    `pre_commit_home`); `try-repo` always builds a fresh one, so it is kept for the few
    tests that must run exactly `pre-commit try-repo`.
    """
    snapshot = tmp_path_factory.mktemp("hook-repo") / "claudio-ci"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    git(snapshot, "init", "-q", "-b", "main")
    sha = commit_all(snapshot, "snapshot for pre-commit tests")
    return snapshot, sha


@pytest.fixture
def try_repo(hook_repo: tuple[Path, str], pre_commit_home: Path) -> Iterator[object]:
    """`try_repo(cwd, hook_id, *files)`: the real `pre-commit try-repo` with this repo's hooks.

    try-repo builds its hook environment in a temporary store at every call (about 10 s,
    less with the shared pip cache): use it once per hook, not for every case.
    """
    snapshot, sha = hook_repo

    def run(cwd: Path, hook_id: str, *files: str, all_files: bool = False):
        args = ["try-repo", str(snapshot), hook_id, "--ref", sha, "--verbose"]
        args += ["--all-files"] if all_files else ["--files", *files]
        return run_pre_commit(cwd, *args, home=pre_commit_home)

    yield run


# --- a local server that answers like GitHub's REST API ---------------------------------


@pytest.fixture
def github_server() -> Iterator[object]:
    """A `tests.github_server.GitHubServer` on 127.0.0.1: seed it, run, assert its requests."""
    from tests.github_server import GitHubServer

    with GitHubServer() as server:
        yield server
