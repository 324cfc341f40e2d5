"""Helpers for tests: run git and pre-commit for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from claudio_ci.adapters.git import scrubbed_environ

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PROJECT = REPO_ROOT / "templates" / "ml-project"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}


def run_git(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """git with its output (and its hooks', which git sends to stderr) captured."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def fast_import(repo: Path, stream: bytes, env: dict[str, str]) -> None:
    """Build history fast: `stream` through `git fast-import`, then check out main."""
    subprocess.run(
        ["git", "fast-import", "--quiet"],
        cwd=repo,
        input=stream,
        check=True,
        env={**scrubbed_environ(), **env},
    )
    git(repo, "reset", "-q", "--hard", "main")


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git for a test; fails the test with git's own message."""
    proc = run_git(cwd, *args, env=env)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def commit_all(repo: Path, message: str = "commit") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def add_worktree(repo: Path, name: str, branch: str | None = None) -> Path:
    """`git worktree add` under .claudio/worktrees/<name>, as Claudio does."""
    path = repo / ".claudio" / "worktrees" / name
    args = ["worktree", "add", "-q"]
    args += ["-b", branch, str(path)] if branch else ["--detach", str(path)]
    git(repo, *args)
    return path


def run_pre_commit(
    cwd: Path, *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `pre-commit` CLI with the shared PRE_COMMIT_HOME (and pip cache)."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PRE_COMMIT_HOME": str(home),
            "PRE_COMMIT_COLOR": "never",
            "PIP_CACHE_DIR": str(home / "pip-cache"),
            **(env or {}),
        },
        check=False,
    )
