"""Commit-time cost of `claudio-ci check conflicts` in a repository of 5,000 files with 10
sibling worktrees, against what it replaces, measured in the same run:

- `git status` in every worktree (how a person looks for parallel edits by hand);
- `git merge-tree --write-tree` of HEAD with every sibling's branch, one after another
  (a naive prediction, and it sees committed work only).

Three of the siblings changed requirements.txt (committed or not), every sibling has
uncommitted and untracked edits, and the commit being checked stages requirements.txt
and three source files. Goal: under 1 s.
Run: python bench/bench_conflicts.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import Row, best_of, command, print_table

GOAL = "< 1 s"
FILES = 5000
SIBLINGS = 10  # the main worktree and nine agents' worktrees
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, input=stdin, capture_output=True, check=True
    )
    return proc.stdout.decode()


def _base_commit(repo: Path) -> None:
    """5,000 files in 50 directories, written by one `git fast-import`."""
    files = {f"src/pkg{n // 100:02d}/module{n % 100:02d}.py": f"x = {n}\n" for n in range(FILES)}
    files["requirements.txt"] = "torch==2.13.0\nnumpy\nPyYAML\n"
    files["pyproject.toml"] = "[project]\nname = 'bench'\n"
    stream = [b"commit refs/heads/main\ncommitter b <b@b> 0 +0000\ndata 4\nbase\n"]
    for path, text in files.items():
        data = text.encode()
        stream.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    git(repo, "fast-import", "--quiet", stdin=b"".join(stream))
    git(repo, "reset", "-q", "--hard", "main")


def _edit(root: Path, path: str, text: str) -> None:
    (root / path).write_text(text, encoding="utf-8")


def build(tmp: Path) -> tuple[Path, list[Path]]:
    """The repository, its siblings (main first) and the worktree that commits."""
    main = tmp / "repo"
    main.mkdir()
    git(main, "init", "-q", "-b", "main")
    _base_commit(main)
    siblings = [main]
    for n in range(1, SIBLINGS):
        path = main / ".claudio" / "worktrees" / f"a{n:03d}"
        git(main, "worktree", "add", "-q", "-b", f"claudio/a{n:03d}", str(path))
        siblings.append(path)
    here = main / ".claudio" / "worktrees" / "here"
    git(main, "worktree", "add", "-q", "-b", "claudio/here", str(here))
    for n, root in enumerate(siblings):
        _edit(root, f"src/pkg{n:02d}/module00.py", f"committed = {n}\n")
        if n in (1, 2):
            _edit(root, "requirements.txt", f"torch==2.13.0\nnumpy=={n}.0\nPyYAML\n")
        git(root, "commit", "-q", "-am", f"sibling {n}")
        _edit(root, f"src/pkg{n:02d}/module01.py", f"unstaged = {n}\n")
        _edit(root, f"src/pkg{n:02d}/scratch_{n}.py", "untracked\n")
        if n == 3:
            _edit(root, "requirements.txt", "torch==2.13.0\nnumpy\nPyYAML\neinops\n")
    for path in ("src/pkg03/module01.py", "src/pkg40/module00.py", "src/pkg41/module00.py"):
        _edit(here, path, "staged here\n")
    _edit(here, "requirements.txt", "torch==2.13.0\nnumpy<2\nPyYAML\n")
    git(here, "add", "-A")
    return here, siblings


def main() -> None:
    python = sys.executable
    script = shutil.which("claudio-ci", path=str(Path(python).parent))
    claudio = [script] if script else [python, "-m", "claudio_ci"]
    with tempfile.TemporaryDirectory() as tmp:
        here, siblings = build(Path(tmp))
        check = command([*claudio, "check", "conflicts"], cwd=str(here), env=ENV, ok_codes=(1,))
        quiet = command(
            [*claudio, "check", "conflicts", "src/pkg41/module00.py"], cwd=str(here), env=ENV
        )
        check_seconds = best_of(check)
        quiet_seconds = best_of(quiet)
        statuses = [
            command(["git", "status", "--porcelain"], cwd=str(w), env=ENV) for w in siblings
        ]
        status_seconds = best_of(lambda: [run() for run in statuses])
        branches = ["main", *(f"claudio/a{n:03d}" for n in range(1, SIBLINGS))]
        merges = [
            command(["git", "merge-tree", "--write-tree", "HEAD", b], str(here), ENV, (0, 1))
            for b in branches
        ]
        merge_seconds = best_of(lambda: [run() for run in merges])
        found = subprocess.run(
            [*claudio, "check", "conflicts"],
            cwd=here,
            env=ENV,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    status_anchor = f"git status in {SIBLINGS} worktrees"
    merge_anchor = f"git merge-tree HEAD x{SIBLINGS} branches"
    verdict = "ok" if check_seconds < 1 else "over goal"
    rows = [
        Row(
            "check conflicts, 4 staged files",
            check_seconds,
            status_anchor,
            status_seconds,
            GOAL,
            verdict,
        ),
        Row(
            "check conflicts, 4 staged files",
            check_seconds,
            merge_anchor,
            merge_seconds,
            GOAL,
            verdict,
        ),
        Row(
            "check conflicts, 1 file nobody shares",
            quiet_seconds,
            status_anchor,
            status_seconds,
            GOAL,
            "ok" if quiet_seconds < 1 else "over goal",
        ),
    ]
    print_table(f"Conflict risk: {FILES} files, {SIBLINGS} sibling worktrees", rows)
    print(f"\nWhat the check reported ({found.count(chr(10) + '  hint:')} findings):\n")
    print(found)


if __name__ == "__main__":
    main()
