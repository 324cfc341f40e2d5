"""What the plain git hooks add to git: `git worktree add` with the post-checkout setup, and a
branch switch (which the hook must leave alone), each against the same git command in a
repository without hooks. Goals: setup adds < 300 ms to `git worktree add`; a branch switch
pays only the hook's shell start (< 10 ms).
Run: python bench/bench_worktree.py
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import Row, best_of, command, installed_env, print_table

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
}
ENV: dict[str, str] = {}
CLAUDIO = [sys.executable, "-m", "claudio_ci"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)


def _repo(path: Path, hooks: bool) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# bench\n", encoding="utf-8")
    (path / ".claudio.yaml").write_text(
        "worktree:\n  jupyter_ports: 47800-47999\n", encoding="utf-8"
    )
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "init")
    _git(path, "branch", "other")
    if hooks:
        subprocess.run(
            [*CLAUDIO, "install-hooks"], cwd=path, env=ENV, check=True, capture_output=True
        )
    return path


def _add_and_remove(repo: Path) -> Callable[[], None]:
    counter = itertools.count()

    def run() -> None:
        path = repo.parent / f"{repo.name}-wt{next(counter)}"
        _git(repo, "worktree", "add", "-q", "-b", path.name, str(path))
        _git(repo, "worktree", "remove", "--force", str(path))

    return run


def _switch_twice(repo: Path) -> Callable[[], None]:
    def run() -> None:
        _git(repo, "checkout", "-q", "other")
        _git(repo, "checkout", "-q", "main")

    return run


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # The hook's Python starts from bytecode, as it does when claudio-ci is installed.
        ENV.update(installed_env(Path(tmp) / "pycache"), **GIT_IDENTITY)
        plain = _repo(Path(tmp) / "plain", hooks=False)
        hooked = _repo(Path(tmp) / "hooked", hooks=True)
        worktree = Path(tmp) / "set-up"
        _git(hooked, "worktree", "add", "-q", "-b", "set-up", str(worktree))

        add_plain = best_of(_add_and_remove(plain), repeat=7)
        add_hooked = best_of(_add_and_remove(hooked), repeat=7)
        switch_plain = best_of(_switch_twice(plain), repeat=15)
        switch_hooked = best_of(_switch_twice(hooked), repeat=15)
        python = best_of(command([sys.executable, "-c", "pass"], env=ENV), repeat=15)
        setup_again = best_of(command([*CLAUDIO, "worktree", "setup"], cwd=str(worktree), env=ENV))

    def added(seconds: float, anchor: float) -> str:
        return f"+{(seconds - anchor) * 1000:.0f} ms"

    rows = [
        Row(
            "git worktree add + remove, post-checkout setup",
            add_hooked,
            "same, no hooks",
            add_plain,
            "< 300 ms added",
            added(add_hooked, add_plain),
        ),
        Row(
            "git checkout x2 (branch switch), hooks installed",
            switch_hooked,
            "same, no hooks",
            switch_plain,
            "< 10 ms added",
            added(switch_hooked, switch_plain),
        ),
        Row(
            "claudio-ci worktree setup (already set up)",
            setup_again,
            "python -c pass",
            python,
            "",
            added(setup_again, python),
        ),
    ]
    print_table("Worktree hooks", rows)


if __name__ == "__main__":
    main()
