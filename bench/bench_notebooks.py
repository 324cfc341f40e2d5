"""`claudio-ci check notebooks` against `jupytext --sync --pre-commit-mode` on the same 200
paired notebooks, both files of every pair passed, as pre-commit passes them.

Both read every pair and compare it with what jupytext would write. "cold" runs delete
claudio-ci's verdicts in the common git dir before every run; "warm" runs find every
unchanged pair there, as every hook run after the first does, in any worktree.
Goals: cold at least 10x faster than jupytext; warm under 0.3 s.
Run: `python bench/bench_notebooks.py` (about a minute; jupytext takes most of it).
"""

from __future__ import annotations

import random
import shutil
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


def cold(run: Runner, cache: Path) -> Runner:
    def without_cache() -> None:
        cache.unlink(missing_ok=True)
        run()

    return without_cache


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        files = build_repo(repo)
        cache = repo / ".git" / "claudio" / "notebooks-cache.json"
        check = [str(BIN / "claudio-ci"), "check", "notebooks", *files]
        ours = command(check, cwd=tmp)
        theirs = command([str(BIN / "jupytext"), "--sync", "--pre-commit-mode", *files], cwd=tmp)
        # jupytext takes about 20 s here: one run, after ours warmed the file cache.
        ours_cold = best_of(cold(ours, cache), repeat=5)
        one_cpu = shutil.which("taskset")
        if one_cpu:  # the same cold run without the second CPU: what one core does
            pinned = best_of(cold(command([one_cpu, "-c", "0", *check], cwd=tmp), cache), 5)
        ours_warm = best_of(ours, repeat=9)
        anchor = best_of(theirs, repeat=1, warmup=0)
        if _git(repo, "status", "--porcelain"):
            raise SystemExit("a benchmark run changed the notebooks: the pairs were not in sync")
        name = "jupytext --sync --pre-commit-mode"
        pairs = f"{N_PAIRS} pairs, {len(files)} files"
        rows = [
            Row(pairs, ours_cold, name, anchor, ">= 10x", "cold: no cached verdicts"),
            Row(pairs, ours_warm, name, anchor, "< 300 ms", "warm: every verdict cached"),
        ]
        if one_cpu:
            rows.insert(1, Row(pairs, pinned, name, anchor, ">= 10x", "cold, on one CPU"))
    print_table(f"jupytext-pairing: {N_PAIRS} paired notebooks", rows)


if __name__ == "__main__":
    main()
