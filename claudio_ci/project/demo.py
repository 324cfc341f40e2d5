"""`claudio-ci demo`: a throw-away repository where three agents work in parallel.

It copies the example ML project, adds three worktrees on `claudio/*` branches as
Claudio would, makes the edits that collide in real teams, then runs every claudio-ci
command against them exactly as a user would (as subprocesses, in each worktree) and
prints what each one reports.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from claudio_ci.adapters import processes
from claudio_ci.adapters.git import scrubbed_environ
from claudio_ci.core.resources import example_project_dir

if TYPE_CHECKING:
    from claudio_ci.adapters.repo_builder import RepoBuilder

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

SHARED_DATA_README = "The team's dataset: one copy here, linked into every worktree.\n"
SHARED_DATA_LINE = "  shared_data: {data: data} # every worktree's data/ links to the main one's\n"


def with_shared_data(config_text: str) -> str:
    """`.claudio.yaml` with the demo's shared-data link, with or without a worktree section."""
    text, replaced = re.subn(r"(?m)^  shared_data:.*\n", SHARED_DATA_LINE, config_text)
    return text if replaced else f"{config_text}\nworktree:\n{SHARED_DATA_LINE}"


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
    main: RepoBuilder | None = None
    worktrees: dict[str, RepoBuilder] = field(default_factory=dict)
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
            handle.write(".claudio/\n/data/\n")
        from claudio_ci.adapters.repo_builder import (
            RepoBuilder,  # GitPython: only when the demo runs
        )

        self.main = RepoBuilder.init(self.root)
        self.main.commit_all("Example ML project")
        self.claudio("init", "Add claudio-ci to the project", where=self.main, expected="0")
        self.share_data()
        self.main.commit_all("Add claudio-ci hooks, workflow and config")
        self.claudio(
            "install-hooks",
            "Install the git hooks: post-checkout sets up every new worktree",
            where=self.main,
            expected="0",
        )
        for name, (instance_id, branch) in WORKTREES.items():
            path = self.root / ".claudio" / "worktrees" / instance_id
            self.worktrees[name] = self.main.add_worktree(path, branch)  # runs post-checkout
        self.heading("Three agents, three worktrees")
        for name, repo in self.worktrees.items():
            self.write(f"  {repo.reader().current_branch():<28} {self.rel(repo.root)}   ({name})")
        self.make_parallel_edits()

    def share_data(self) -> None:
        """The team's dataset lives once, in the main worktree; every worktree links to it."""
        (self.root / "data").mkdir(exist_ok=True)
        (self.root / "data" / "README.txt").write_text(SHARED_DATA_README, encoding="utf-8")
        config = self.root / ".claudio.yaml"
        config.write_text(with_shared_data(config.read_text(encoding="utf-8")), encoding="utf-8")

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

    def claudio(self, args: str, title: str, *, where: RepoBuilder, expected: str) -> StepResult:
        """Run `claudio-ci ARGS` in a worktree as a user would, and report it."""
        output = bytearray()
        proc = processes.start(
            [sys.executable, "-m", "claudio_ci", *args.split()],
            cwd=where.root,
            env={**scrubbed_environ(), "GITHUB_ACTIONS": "false", "NO_COLOR": "1"},
            output=output.extend,  # stdout and stderr in the order a terminal shows them
        )
        exit_code = proc.wait().returncode
        proc.close_output(processes.GRACE_SECONDS)
        result = StepResult(
            title,
            f"claudio-ci {args}",
            self.rel(where.root),
            exit_code,
            output.decode("utf-8", "replace").rstrip(),
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


def _reviewers_step(demo: Demo) -> None:
    for name in WORKTREES:
        demo.claudio(
            "reviewers --explain --base main",
            f"Who would review the {name} branch's PR (pr.reviewers.by_path, no GitHub needed)",
            where=demo.worktrees[name],
            expected="0",
        )


def _conflicts_step(demo: Demo) -> None:
    demo.claudio(
        "check conflicts",
        "Two branches change requirements.txt: the commit is stopped, with the merge predicted",
        where=demo.worktrees["attention"],
        expected="1",
    )


def _notebooks_step(demo: Demo) -> None:
    attention = demo.worktrees["attention"]
    demo.claudio(
        "check notebooks",
        "A cell added to the .py twin only: the notebook pair is out of sync",
        where=attention,
        expected="1",
    )
    demo.claudio(
        "check notebooks --fix",
        "--fix syncs the .ipynb from the staged .py twin",
        where=attention,
        expected="1",
    )
    demo.claudio("check notebooks", "The pair is in sync again", where=attention, expected="0")


def _experiments_step(demo: Demo) -> None:
    optimizer = demo.worktrees["optimizer"]
    demo.claudio(
        "check experiments experiments/adamw.yaml",
        "A misnamed experiment that would write into the baseline's outputs",
        where=optimizer,
        expected="1",
    )
    demo.claudio(
        "check experiments --fix experiments/adamw.yaml",
        "--fix names it after its file; the output directory is left for a human",
        where=optimizer,
        expected="1",
    )


def _worktree_step(demo: Demo) -> None:
    demo.claudio(
        "worktree status",
        "Each worktree set up by the hook: its own Jupyter port, the shared data linked",
        where=demo.worktrees["baseline"],
        expected="0",
    )


def _smoke_test_step(demo: Demo) -> None:
    if importlib.util.find_spec("torch") is None:
        demo.heading("Smoke test skipped: PyTorch is not installed (pip install claudio-ci[demo])")
        return
    demo.claudio(
        "smoke-test",
        "The baseline branch still trains: one CPU epoch of experiments/test.yaml, checked",
        where=demo.worktrees["baseline"],
        expected="0",
    )


def _gpu_step(demo: Demo) -> None:
    from claudio_ci.gpu.trace import example_trace

    train = f"-- {sys.executable} -c print('training')"
    demo.claudio(
        f"gpu run {train}",
        "Training under `gpu run` here, without a GPU: one line, $0, the command still runs",
        where=demo.worktrees["baseline"],
        expected="0",
    )
    for name, trace in (("attention", "h100-training.jsonl"), ("baseline", "a100-mig.jsonl")):
        demo.claudio(
            f"gpu run --replay {example_trace(trace)} {train}",
            f"The {name} branch trains on a GPU, replayed from a synthetic NVML trace",
            where=demo.worktrees[name],
            expected="0",
        )
    demo.claudio(
        "gpu report --set resources.cost_warning_threshold=1",
        "GPU cost per branch, from the ledger every worktree shares (warning over $1)",
        where=demo.worktrees["optimizer"],
        expected="0",
    )


STEPS: list[Callable[[Demo], None]] = [
    _config_step,
    _worktree_step,
    _conflicts_step,
    _notebooks_step,
    _experiments_step,
    _smoke_test_step,
    _reviewers_step,
    _gpu_step,
]
