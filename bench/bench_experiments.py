"""`claudio-ci check experiments` against `check-jsonschema` on the same 1,000 configs.

Both validate every file against the built-in experiment schema; claudio-ci also checks
names, `${...}` references, output-dir collisions and two sibling worktrees, so the
comparison is conservative. "cold" runs delete claudio-ci's cache in the common git dir
before every run; "warm" runs find every unchanged config there, as a hook run after the
first one does. The note gives the CPU time (user + sys) of the same runs, a ratio that a
busy machine disturbs less than wall time. Run: `python bench/bench_experiments.py`.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import Row, best_of, command, installed_env, print_table

Runner = Callable[[], None]

N_CONFIGS = 1_000
BIN = Path(sys.executable).parent
SCHEMA = (
    Path(__file__).resolve().parents[1]
    / "claudio_ci"
    / "core"
    / "schemas"
    / "experiment.schema.json"
)

CONFIG = """\
# experiments/{name}.yaml
model:
  name: {name}
  hidden_size: {hidden}
  layers: {layers}

training:
  epochs: {epochs}
  batch_size: 32
  learning_rate: 0.001

output:
  dir: outputs/${{experiment_name}}
  checkpoint_freq: 10
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _write(directory: Path, name: str, i: int) -> None:
    text = CONFIG.format(name=name, hidden=64 + i % 512, layers=1 + i % 8, epochs=1 + i % 100)
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")


def build_repo(root: Path) -> list[str]:
    """A repository with N_CONFIGS committed configs and two sibling worktrees."""
    repo = root / "repo"
    experiments = repo / "experiments"
    experiments.mkdir(parents=True)
    for i in range(N_CONFIGS):
        _write(experiments, f"exp_{i:04d}", i)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "configs")
    for n in (1, 2):
        sibling = root / f"sibling{n}"
        _git(repo, "worktree", "add", "-q", "-b", f"claudio/s{n}", str(sibling))
        _write(sibling / "experiments", f"sibling_{n}", n)
    return sorted(f"experiments/{p.name}" for p in experiments.iterdir())


class CpuMeter:
    """Wraps a runner and records the CPU time its child processes used, call by call."""

    def __init__(self, run: Runner) -> None:
        self.run = run
        self.samples: list[float] = []

    def __call__(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.run()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.samples.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    @property
    def median(self) -> float:
        return statistics.median(self.samples[1:])  # the first call is best_of's warm-up


def cold(run: Runner, cache: Path) -> Runner:
    def without_cache() -> None:
        cache.unlink(missing_ok=True)
        run()

    return without_cache


def edited(run: Runner, config: Path) -> Runner:
    """Change one config before every run, as a commit does: it misses the cache."""
    original = config.read_text(encoding="utf-8")
    runs = iter(range(1_000_000))

    def after_an_edit() -> None:
        config.write_text(f"{original}# edit {next(runs)}\n", encoding="utf-8")
        run()

    return after_an_edit


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = build_repo(Path(tmp))
        repo = Path(tmp) / "repo"
        env = installed_env(Path(tmp) / "pycache")  # both tools start from bytecode
        cache = repo / ".git" / "claudio" / "experiments-cache.json"
        ours = [str(BIN / "claudio-ci"), "check", "experiments"]
        anchor = [str(BIN / "check-jsonschema"), "--schemafile", str(SCHEMA)]

        def row(name: str, mine: Runner, theirs: list[str], goal: str, note: str) -> Row:
            ours_cpu = CpuMeter(mine)
            anchor_cpu = CpuMeter(command(theirs, cwd=str(repo), env=env))
            seconds = best_of(ours_cpu, repeat=5)
            anchor_seconds = best_of(anchor_cpu, repeat=5)
            cpu = (
                f"CPU {ours_cpu.median * 1000:.0f} ms vs {anchor_cpu.median * 1000:.0f} ms "
                f"= {anchor_cpu.median / ours_cpu.median:.2f}x"
            )
            return Row(name, seconds, "check-jsonschema", anchor_seconds, goal, f"{note}; {cpu}")

        def run(*args: str) -> Runner:
            return command([*ours, *args], cwd=str(repo), env=env)

        every = [*anchor, *files]
        rows = [
            row("1,000 configs as FILES", cold(run(*files), cache), every, ">= 3x", "cold cache"),
            row("1,000 configs as FILES", run(*files), every, ">= 3x", "warm cache"),
            row("no FILES: every config", cold(run(), cache), every, ">= 3x", "cold cache"),
            row(
                "1 edited config as FILE, 999 others read",
                edited(run(files[0]), repo / files[0]),
                [*anchor, files[0]],
                "",
                "the others from the cache",
            ),
            row("no config among FILES", run("README.md"), [*anchor, files[0]], "", "early exit"),
        ]
    print_table(f"experiment-config: {N_CONFIGS:,} configs, 2 sibling worktrees", rows)
    hydra_mode()


# --- Hydra mode ---------------------------------------------------------------------------------

N_HYDRA = 48
COMPOSE_ALL = """\
import sys, warnings
warnings.simplefilter("ignore")
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
with initialize_config_dir(config_dir=sys.argv[1], version_base=None):
    for name in sys.argv[2:]:
        OmegaConf.to_container(compose(config_name="train", overrides=[f"experiment={name}"]))
"""


def build_hydra_repo(root: Path, count: int) -> list[str]:
    """The lightning-hydra-template-shaped project of the tests, with `count` experiments."""
    import textwrap

    from tests.experiments.test_rules import HYDRA_CONFIG, HYDRA_FILES, hydra_experiments

    experiments = hydra_experiments()
    template = next(iter(experiments.values()))
    files = dict(HYDRA_FILES)
    for i in range(count):
        files[f"configs/experiment/exp_{i:03d}.yaml"] = template.replace(
            "seed: 12345", f"seed: {i}"
        )
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text), encoding="utf-8")
    (root / ".claudio.yaml").write_text(
        HYDRA_CONFIG + "  hydra:\n    config_dir: configs\n    config_name: train\n"
    )
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "configs")
    return [f"exp_{i:03d}" for i in range(count)]


def hydra_mode() -> None:
    """Hydra mode's cost per experiment, against Hydra composing the same experiments
    (what `train.py experiment=NAME --cfg job` does for each), cold cache: the figure per
    experiment is (t(N experiments) - t(1 experiment)) / (N - 1), start-up taken out."""
    with tempfile.TemporaryDirectory() as tmp:
        env = installed_env(Path(tmp) / "pycache")
        ours = [str(BIN / "claudio-ci"), "check", "experiments"]
        timings = {}
        for count in (N_HYDRA, 1):
            repo = Path(tmp) / f"hydra{count}"
            names = build_hydra_repo(repo, count)
            cache = repo / ".git" / "claudio" / "experiments-cache.json"
            anchor = [sys.executable, "-c", COMPOSE_ALL, str(repo / "configs"), *names]
            timings[count] = (
                best_of(cold(command(ours, cwd=str(repo), env=env), cache), repeat=3),
                best_of(command(anchor, env=env), repeat=3),
            )
            if count == N_HYDRA:  # one experiment edited: only it is composed again
                edit = repo / "configs" / "experiment" / f"{names[0]}.yaml"
                warm = best_of(edited(command(ours, cwd=str(repo), env=env), edit), repeat=3)
        (many, hydra_many), (one, hydra_one) = timings[N_HYDRA], timings[1]
        per, hydra_per = (many - one) / (N_HYDRA - 1), (hydra_many - hydra_one) / (N_HYDRA - 1)
        rows = [
            Row(f"{N_HYDRA} experiments composed", many, "hydra compose", hydra_many, "", "cold"),
            Row("1 experiment composed", one, "hydra compose", hydra_one, "", "start-up"),
            Row("per experiment", per, "hydra compose", hydra_per, "", "(t(N) - t(1)) / (N - 1)"),
            Row("1 of 48 edited", warm, "hydra compose", hydra_one, "", "the 47 others cached"),
        ]
    print_table("experiment-config, Hydra mode (lightning-hydra-template layout)", rows)


if __name__ == "__main__":
    main()
