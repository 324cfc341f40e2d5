"""Commit-time cost of `claudio-ci check conflicts` on a long history, against `git status`
in every worktree (how a person looks for parallel edits by hand), measured in the same run.

The repository: 40,000 files and 20,000 commits, written by one `git fast-import`, with no
commit-graph (so every history walk goes by commit date, the slow way). 30 sibling worktrees
each forked from a recent commit, made a few commits, and left unstaged and untracked edits;
some changed requirements.txt (committed, uncommitted, or the very edit being committed),
one renamed a file being edited here, a third of them committed an edit to a file staged
here. The worktree that commits stages requirements.txt, model.py and three source files.
Measured with 10 siblings (the other 20 hidden from `git worktree list`) and with all 30.
Goal: under 1 s with 10 siblings, under 2 s with 30.

The repository is built once (a minute or two) and kept in /tmp between runs.
Run: python bench/bench_conflicts.py      (CLAUDIO_BENCH_BEFORE=/path/to/old/checkout adds
the same check run by another claudio-ci checkout, e.g. the main branch, for comparison)
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchlib import Row, command, installed_env, print_table

FILES = 40_000
COMMITS = 20_000
SIBLINGS = 30
RUNS = 5
CACHE = Path(tempfile.gettempdir()) / "claudio-bench-conflicts-v2"
GOALS = {10: 1.0, 30: 2.0}
ENV = {
    **installed_env(CACHE.with_name(CACHE.name + "-pycache")),  # bytecode compiled once
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}
REQUIREMENTS = "torch==2.13.0\nnumpy\nPyYAML\n"


def git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, input=stdin, capture_output=True, check=True
    )
    return proc.stdout.decode()


def _path(n: int) -> str:
    return f"src/pkg{n // 400:03d}/mod{n % 400:03d}.py"


def _history() -> bytes:
    """A base commit of FILES files, then COMMITS - 1 commits of one edited file each."""
    out = [b"commit refs/heads/main\ncommitter b <b@b> 1600000000 +0000\ndata 4\nbase\n"]
    files = {_path(n): f"x = {n}\n" for n in range(FILES)}
    files["requirements.txt"] = REQUIREMENTS
    files["model.py"] = "".join(f"layer_{n} = {n}\n" for n in range(20))
    for path, text in files.items():
        data = text.encode()
        out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    for n in range(1, COMMITS):
        data = f"x = {n} # edit {n}\n".encode()
        path = _path((n * 7919) % FILES)
        head = f"commit refs/heads/main\ncommitter b <b@b> {1600000000 + n * 60} +0000\n"
        edit = f"data 5\nedit\nM 100644 inline {path}\ndata {len(data)}\n"
        out.append((head + edit).encode() + data + b"\n")
    return b"".join(out)


def _write(root: Path, path: str, text: str) -> None:
    """Write by replacing the file (a worktree may share nothing with another)."""
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _sibling(main: Path, n: int) -> Path:
    path = main / ".claudio" / "worktrees" / f"s{n:02d}"
    git(main, "worktree", "add", "-q", "-b", f"claudio/s{n:02d}", str(path), f"main~{n % 5}")
    for commit in range(3):
        _write(path, _path(n * 1000 + commit), f"sibling {n} commit {commit}\n")
        if n in (1, 2) and commit == 0:
            _write(path, "requirements.txt", REQUIREMENTS.replace("numpy\n", f"numpy=={n}.0\n"))
        if n % 3 == 0 and commit == 1:  # a third of the agents touch a file staged here
            _write(path, _path(39_000), f"sibling {n} was here too\n")
        if n == 4 and commit == 0:
            git(path, "mv", "model.py", "net.py")
            _write(
                path,
                "net.py",
                "layer_0 = 'renamed'\n" + "".join(f"layer_{k} = {k}\n" for k in range(1, 20)),
            )
        git(path, "commit", "-q", "-am", f"sibling {n} {commit}")
    _write(path, _path(n * 1000 + 500), f"unstaged {n}\n")
    _write(path, f"scratch/notes_{n}.md", "untracked\n")
    if n == 3:
        _write(path, "requirements.txt", REQUIREMENTS + "einops\n")  # uncommitted
    if n == 5:
        _write(path, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy<2\n"))  # same edit
    return path


def build() -> tuple[Path, list[Path]]:
    """The cached repository: the worktree that commits, and the siblings (main first)."""
    main = CACHE / "repo"
    here = main / ".claudio" / "worktrees" / "here"
    siblings = [main] + [main / ".claudio" / "worktrees" / f"s{n:02d}" for n in range(1, SIBLINGS)]
    if (CACHE / "complete").exists():
        return here, siblings
    shutil.rmtree(CACHE, ignore_errors=True)
    main.mkdir(parents=True)
    start = time.perf_counter()
    git(main, "init", "-q", "-b", "main")
    for key, value in (
        ("core.commitGraph", "false"),
        ("gc.auto", "0"),
        ("gc.writeCommitGraph", "false"),
    ):
        git(main, "config", key, value)
    git(main, "fast-import", "--quiet", stdin=_history())
    git(main, "reset", "-q", "--hard", "main")
    print(f"(fast-import of {COMMITS:,} commits and checkout: {time.perf_counter() - start:.1f} s)")
    _write(main, _path(500), "main: unstaged\n")
    for n in range(1, SIBLINGS):
        _sibling(main, n)
    git(main, "worktree", "add", "-q", "-b", "claudio/here", str(here))
    for path in (_path(3 * 1000 + 500), _path(39_000), _path(39_001)):
        _write(here, path, "staged here\n")
    _write(here, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy<2\n"))
    _write(
        here,
        "model.py",
        "layer_0 = 'edited here'\n" + "".join(f"layer_{k} = {k}\n" for k in range(1, 20)),
    )
    git(here, "add", "-A")
    (CACHE / "complete").write_text("", encoding="utf-8")
    print(f"(built {CACHE} in {time.perf_counter() - start:.1f} s)")
    return here, siblings


@contextmanager
def only(main: Path, count: int) -> Iterator[None]:
    """Hide the siblings after the first `count` from `git worktree list`."""
    admin, parked = main / ".git" / "worktrees", main / ".git" / "worktrees-parked"
    hidden = [admin / f"s{n:02d}" for n in range(count, SIBLINGS)]
    parked.mkdir(exist_ok=True)
    for path in hidden:
        path.rename(parked / path.name)
    try:
        yield
    finally:
        for path in hidden:
            (parked / path.name).rename(path)


def timings(fn: Callable[[], object], runs: int = RUNS) -> tuple[list[float], float]:
    """Sorted wall times of `runs` runs (after one warm-up), and the median CPU time the
    child processes took (user + system, every process of a run together)."""
    fn()  # warm the caches
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return sorted(walls), sorted(cpus)[len(cpus) // 2]


def _dates_matter(here: Path, tip: str) -> list[Row]:
    """`git merge-tree` of a child of HEAD with a sibling's tip: the child dated 1970 (what
    the prediction's temporary commits were) against dated like its parent (what they are)."""
    tree = git(here, "rev-parse", "HEAD^{tree}").strip()
    stamp = git(here, "log", "-1", "--format=%ct", "HEAD").strip()
    children = {}
    for name, when in (("dated 1970", "0"), ("dated like its parent", stamp)):
        env = {**ENV, "GIT_COMMITTER_DATE": f"@{when} +0000", "GIT_AUTHOR_DATE": f"@{when} +0000"}
        proc = subprocess.run(
            ["git", "commit-tree", tree, "-p", "HEAD", "-m", "child"],
            cwd=here,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        children[name] = proc.stdout.strip()
    merge = {
        name: command(["git", "merge-tree", "--write-tree", child, tip], str(here), ENV, (0, 1))
        for name, child in children.items()
    }
    slow, _ = timings(merge["dated 1970"])
    fast, _ = timings(merge["dated like its parent"])
    return [
        Row(
            "merge-tree, temporary commit dated like its parent",
            fast[len(fast) // 2],
            "the same, dated 1970",
            slow[len(slow) // 2],
            "",
            f"runs {fast[0] * 1000:.0f}-{fast[-1] * 1000:.0f} ms vs "
            f"{slow[0] * 1000:.0f}-{slow[-1] * 1000:.0f} ms",
        )
    ]


def _run_all(commands: list[Callable[[], None]]) -> None:
    for run in commands:
        run()


def main() -> None:
    here, siblings = build()
    main_root = siblings[0]
    before = os.environ.get("CLAUDIO_BENCH_BEFORE")
    env_before = {**ENV, "PYTHONPATH": before} if before else None
    rows, reports = [], []
    for count in (10, 30):
        with only(main_root, count):
            worktrees = [here, *siblings[:count]]
            check = command(
                [sys.executable, "-m", "claudio_ci", "check", "conflicts"], str(here), ENV, (0, 1)
            )
            statuses = [command(["git", "status", "--porcelain"], str(w), ENV) for w in worktrees]
            ours, ours_cpu = timings(check)
            status, status_cpu = timings(functools.partial(_run_all, statuses))
            goal = GOALS[count]
            note = (
                f"runs {ours[0]:.2f}-{ours[-1]:.2f} s, CPU {ours_cpu:.2f} s; "
                f"git status {status[0]:.2f}-{status[-1]:.2f} s, CPU {status_cpu:.2f} s"
            )
            verdict = "ok" if ours[len(ours) // 2] < goal else "over goal"
            rows.append(
                Row(
                    f"check conflicts, {count} siblings",
                    ours[len(ours) // 2],
                    f"git status in {count + 1} worktrees",
                    status[len(status) // 2],
                    f"< {goal:g} s",
                    f"{verdict}; {note}",
                )
            )
            if env_before:
                old = command(
                    [sys.executable, "-m", "claudio_ci", "check", "conflicts"],
                    str(here),
                    env_before,
                    (0, 1),
                )
                was, was_cpu = timings(old, runs=3)
                rows.append(
                    Row(
                        f"check conflicts, {count} siblings, {before}",
                        was[len(was) // 2],
                        f"git status in {count + 1} worktrees",
                        status[len(status) // 2],
                        "",
                        f"runs {was[0]:.2f}-{was[-1]:.2f} s, CPU {was_cpu:.2f} s",
                    )
                )
            reports.append(
                subprocess.run(
                    [sys.executable, "-m", "claudio_ci", "check", "conflicts"],
                    cwd=here,
                    env=ENV,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
            )
    rows += _dates_matter(here, git(here, "rev-parse", "claudio/s01").strip())
    load = os.getloadavg()[0]
    print_table(
        f"Conflict risk: {FILES:,} files, {COMMITS:,} commits, no commit-graph "
        f"(load average {load:.1f} on {os.cpu_count()} CPUs: a shared machine gives ranges)",
        rows,
    )
    print(f"\nWhat the check reported with {SIBLINGS} siblings:\n\n{reports[-1]}")


if __name__ == "__main__":
    main()
