"""`claudio-ci check notebooks` against `jupytext --sync --pre-commit-mode` on the same 200
paired notebooks, both files of every pair passed, as pre-commit passes them.

Both read every pair and compare it with what jupytext would write. "cold" runs delete
claudio-ci's verdicts in the common git dir before every run; "warm" runs find every
unchanged pair there, as every hook run after the first does, in any worktree.
"one CPU" pins both tools to CPU 0 (`taskset -c 0`): jupytext is single-threaded, claudio-ci
spreads pairs over the CPUs it may use, so this is the ratio a one-core CI runner sees.
Goals: cold at least 10x faster than jupytext, on all CPUs and on one; warm under 0.3 s.
Run: `python bench/bench_notebooks.py [--rounds N]` (about a minute a round; jupytext takes
most of it). On a shared machine, run several rounds: each prints its table, then the range
of every ratio over the rounds.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat
from benchlib import Row, best_of, command, print_table
from jupytext.cli import jupytext as jupytext_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

Runner = Callable[[], None]

N_PAIRS = 200
BIN = Path(sys.executable).parent
PNG = (  # a 1x1 image
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
    "hgGAWjR9awAAAABJRU5ErkJggg=="
)
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def _notebook(index: int) -> nbformat.NotebookNode:
    rng = random.Random(index)
    cells = []
    for step in range(rng.randint(3, 20)):
        cells.append(new_markdown_cell(f"## Step {step}\n\nWhat notebook {index} looks at."))
        outputs = [new_output("stream", name="stdout", text=f"{index * step}\n")]
        if step % 4 == 0:
            outputs.append(new_output("display_data", data={"image/png": PNG}))
        source = f"import math\nvalue = math.sqrt({index + step})\nprint(value)"
        cells.append(new_code_cell(source, outputs=outputs, execution_count=step + 1))
    return new_notebook(
        cells=cells,
        metadata={"kernelspec": KERNEL, "jupytext": {"formats": "ipynb,py:percent"}},
    )


def build_repo(root: Path) -> list[str]:
    """A repository with N_PAIRS committed pairs, each made by `jupytext --sync` itself."""
    folder = root / "notebooks" / "exploration"
    folder.mkdir(parents=True)
    notebooks = []
    for index in range(N_PAIRS):
        path = folder / f"analysis_{index:03d}.ipynb"
        nbformat.write(_notebook(index), path)
        notebooks.append(str(path))
    if jupytext_cli(["--sync", "--quiet", *notebooks]) != 0:
        raise SystemExit("jupytext could not pair the benchmark notebooks")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "notebooks")
    return sorted(p.relative_to(root).as_posix() for p in folder.iterdir())


def cpu_seconds(run: Runner, repeat: int) -> float:
    """Median CPU time (user + system, of every process it starts) of `run`: unlike wall
    time, it hardly moves when other work shares the machine."""
    times = []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times)


def cold(run: Runner, cache: Path) -> Runner:
    def without_cache() -> None:
        cache.unlink(missing_ok=True)
        run()

    return without_cache


def measure(repo: Path, files: list[str]) -> list[Row]:
    """One round: every row of the table, each anchor measured in the same round."""
    tmp = str(repo)
    cache = repo / ".git" / "claudio" / "notebooks-cache.json"
    check = [str(BIN / "claudio-ci"), "check", "notebooks", *files]
    theirs = [str(BIN / "jupytext"), "--sync", "--pre-commit-mode", *files]
    ours_cold = best_of(cold(command(check, cwd=tmp), cache), repeat=5)
    ours_warm = best_of(command(check, cwd=tmp), repeat=9)
    # jupytext takes about 20 s here: one run each, after ours warmed the file cache.
    anchor = best_of(command(theirs, cwd=tmp), repeat=1, warmup=0)
    name = "jupytext --sync --pre-commit-mode"
    pairs = f"{N_PAIRS} pairs, {len(files)} files"
    rows = [
        Row(pairs, ours_cold, name, anchor, ">= 10x", "cold: no cached verdicts"),
        Row(pairs, ours_warm, name, anchor, "< 300 ms", "warm: every verdict cached"),
    ]
    taskset = shutil.which("taskset")
    if taskset:  # both tools on CPU 0 only
        pin = [taskset, "-c", "0"]
        ours_pinned = cold(command([*pin, *check], cwd=tmp), cache)
        theirs_pinned = command([*pin, *theirs], cwd=tmp)
        pinned = best_of(ours_pinned, repeat=5)
        anchor_pinned = best_of(theirs_pinned, repeat=1, warmup=0)
        rows.insert(
            1, Row(pairs, pinned, f"{name}, one CPU", anchor_pinned, ">= 10x", "cold, one CPU")
        )
        rows.insert(
            2,
            Row(
                pairs,
                cpu_seconds(ours_pinned, repeat=5),
                f"{name}, CPU time",
                cpu_seconds(theirs_pinned, repeat=1),
                ">= 10x",
                "cold, one CPU, CPU seconds (user + sys): steady under load",
            ),
        )
    if _git(repo, "status", "--porcelain"):
        raise SystemExit("a benchmark run changed the notebooks: the pairs were not in sync")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds to run (default 1)")
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        files = build_repo(repo)
        tables = []
        for number in range(1, rounds + 1):
            rows = measure(repo, files)
            print_table(f"jupytext-pairing: {N_PAIRS} paired notebooks, round {number}", rows)
            tables.append(rows)
    if rounds > 1:
        print(f"\nspeed-up over {rounds} rounds (min-max):")
        for index, row in enumerate(tables[0]):
            ratios = [table[index].ratio for table in tables]
            print(f"- {row.note}: {min(ratios):.1f}x-{max(ratios):.1f}x (goal {row.goal})")


if __name__ == "__main__":
    main()
