"""`claudio-ci demo`: a throw-away repository where three agents work in parallel.

It copies the example ML project, adds three worktrees on `claudio/*` branches as
Claudio would, makes the edits that collide in real teams, then runs every claudio-ci
command against them exactly as a user would (as subprocesses, in each worktree) and
prints what each one reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.git import Repository, init_repository, scrubbed_environ
from claudio_ci.resources import example_project_dir

NOTEBOOK_TWIN = "notebooks/exploration/data_eda.py"
ATTENTION_CELL = """
# %% [markdown]
# ## Attention weights
# Where does the attention model look? Plot the weights of one validation batch.

# %%
print("attention weights: to do")
"""
ADAMW_CONFIG = """\
# AdamW instead of Adam; copied from baseline.yaml
model:
  name: adam_w
  hidden_size: 256
  layers: 4

training:
  epochs: 100
  batch_size: 32
  learning_rate: 0.001

output:
  dir: outputs/baseline
  checkpoint_freq: 10
"""

WORKTREES = {
    "baseline": ("ab12", "claudio/ab12-baseline"),
    "attention": ("cd34", "claudio/cd34-attention"),
    "optimizer": ("ef56", "claudio/ef56-optimizer"),
}


@dataclass
class StepResult:
    title: str
    command: str
    where: str
    exit_code: int
    output: str
    expected: str

    @property
    def ok(self) -> bool:
        return str(self.exit_code) == self.expected


@dataclass
class Demo:
    root: Path
    write: Callable[[str], object] = print
    main: Repository | None = None
    worktrees: dict[str, Repository] = field(default_factory=dict)
    results: list[StepResult] = field(default_factory=list)

    # --- building the scenario ----------------------------------------------------------

    def build(self) -> None:
        shutil.copytree(
            example_project_dir(),
            self.root,
            ignore=shutil.ignore_patterns("outputs", "__pycache__", ".pytest_cache"),
            dirs_exist_ok=True,
        )
        with (self.root / ".gitignore").open("a", encoding="utf-8") as handle:
            handle.write(".claudio/\n")
        self.main = init_repository(self.root)
        self.main.commit_all("Example ML project")
        self.claudio("init", "Add claudio-ci to the project", where=self.main, expected="0")
        self.main.commit_all("Add claudio-ci hooks, workflow and config")
        for name, (instance_id, branch) in WORKTREES.items():
            path = self.root / ".claudio" / "worktrees" / instance_id
            self.worktrees[name] = self.main.add_worktree(path, branch)
        self.heading("Three agents, three worktrees")
        for name, repo in self.worktrees.items():
            self.write(f"  {repo.current_branch():<28} {self.rel(repo.root)}   ({name})")
        self.make_parallel_edits()

    def make_parallel_edits(self) -> None:
        """The edits that collide in real teams; the checks below catch each one."""
        self.heading("Parallel edits")
        baseline, attention, optimizer = (self.worktrees[n] for n in WORKTREES)

        self.edit("baseline", "requirements.txt", lambda t: t.replace("numpy\n", "numpy==2.1.3\n"))
        self.edit("baseline", "experiments/baseline.yaml", lambda t: t.replace("0.001", "0.0005"))
        baseline.stage("requirements.txt", "experiments/baseline.yaml")
        baseline.commit_staged("Pin numpy, lower the baseline learning rate")
        self.write("  baseline:  committed a numpy pin in requirements.txt")

        self.edit("attention", "requirements.txt", lambda t: t + "einops==0.8.0\n")
        self.edit("attention", NOTEBOOK_TWIN, lambda t: t + ATTENTION_CELL)
        attention.stage("requirements.txt", NOTEBOOK_TWIN)
        self.write("  attention: staged einops in requirements.txt, and a notebook cell added")
        self.write("             to the .py twin only (the .ipynb is now out of sync)")

        self.edit("optimizer", "experiments/adamw.yaml", lambda _: ADAMW_CONFIG)
        optimizer.stage("experiments/adamw.yaml")
        self.write("  optimizer: staged experiments/adamw.yaml, named `adam_w` inside and")
        self.write("             writing to outputs/baseline (the baseline's checkpoints)")

    def edit(self, name: str, path: str, change: Callable[[str], str]) -> None:
        target = self.worktrees[name].root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.read_text(encoding="utf-8") if target.exists() else ""
        target.write_text(change(old), encoding="utf-8")

    # --- running claudio-ci ---------------------------------------------------------------

    def claudio(self, args: str, title: str, *, where: Repository, expected: str) -> StepResult:
        """Run `claudio-ci ARGS` in a worktree as a user would, and report it."""
        proc = subprocess.run(
            [sys.executable, "-m", "claudio_ci", *args.split()],
            cwd=where.root,
            env={**scrubbed_environ(), "GITHUB_ACTIONS": "false", "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            check=False,
        )
        result = StepResult(
            title,
            f"claudio-ci {args}",
            self.rel(where.root),
            proc.returncode,
            (proc.stdout + proc.stderr).rstrip(),
            expected,
        )
        self.results.append(result)
        self.heading(title)
        self.write(f"  $ cd {result.where} && {result.command}")
        for line in result.output.splitlines():
            self.write(f"    {line}")
        self.write(f"  -> exit {result.exit_code}")
        return result

    # --- output ---------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        try:
            relative = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)
        return relative if relative != "." else "."

    def heading(self, text: str) -> None:
        self.write(f"\n== {text}")

    def summary(self) -> None:
        self.heading("Summary")
        width = max(len(r.title) for r in self.results)
        for r in self.results:
            verdict = "as expected" if r.ok else f"UNEXPECTED (expected exit {r.expected})"
            self.write(f"  {r.title:<{width}}  exit {r.exit_code}  {verdict}")
        self.write(f"\nDemo repository: {self.root}")


def run_demo(root: Path, write: Callable[[str], object] = print) -> Demo:
    """Build the scenario in `root` (empty or missing) and run every step against it."""
    demo = Demo(root=root, write=write)
    write(f"claudio-ci demo: an ML project with three parallel agents, in {root}")
    demo.build()
    for step in STEPS:
        step(demo)
    demo.summary()
    return demo


def _config_step(demo: Demo) -> None:
    demo.claudio(
        "config validate",
        "The committed .claudio.yaml is valid",
        where=demo.worktrees["baseline"],
        expected="0",
    )


STEPS: list[Callable[[Demo], None]] = [_config_step]
