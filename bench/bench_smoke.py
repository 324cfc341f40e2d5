"""Smoke test: what `claudio-ci smoke-test` adds over running the training command directly.

The anchor is the same command run directly, in the same run, interleaved with the harness
(A B A B ...) so both see the same machine load; each side's time is its fastest run (load
from other processes only ever adds time), and the overhead is the difference. Two commands:
a trivial one (`python -c`), which isolates the harness's fixed cost (start-up,
configuration, process-tree sampling, checks), and the example project's real smoke test
(one CPU epoch of experiments/test.yaml, batch size 2), without and with the checkpoint
load. The load runs in a second interpreter (the project's, which may not be claudio-ci's;
and the training's own process has exited by then): its cost is mostly `import torch`,
shown against a bare `import torch` on its own row; that interpreter is started with the
training and imports torch meanwhile, so the full run's overhead is what remains.
Goals: harness overhead < 0.5 s; the example project's whole smoke test < 30 s on 2 cores.
Run: python bench/bench_smoke.py
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import Row, command, print_table

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "templates" / "ml-project"
TRAIN = (
    "src/training/train.py --config experiments/test.yaml --epochs 1 --batch-size 2 --device cpu"
)
OVERHEAD_GOAL = 0.5
TOTAL_GOAL = 30.0
PROBE = HERE.parent / "claudio_ci" / "smoke" / "probe.py"


def _project(tmp: Path) -> Path:
    repo = tmp / "ml-project"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("outputs", "__pycache__"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=repo, check=True, env=env)
    return repo


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _paired(
    direct: Callable[[], None], harness: Callable[[], None], repeat: int
) -> tuple[float, float]:
    """Fastest direct time and fastest harness time, measured interleaved."""
    pairs = [(_timed(direct), _timed(harness)) for _ in range(repeat)]
    return min(d for d, _ in pairs), min(h for _, h in pairs)


def _verdict(overhead: float) -> str:
    state = "ok" if overhead < OVERHEAD_GOAL else "over goal"
    return f"overhead {overhead * 1000:+.0f} ms ({state})"


SLEEPER = """\
import json, pathlib, time
import torch
time.sleep(3)  # a training that leaves a core free (waiting on data, or on a GPU)
out = pathlib.Path("outputs/test")
out.mkdir(parents=True, exist_ok=True)
(out / "metrics.json").write_text(json.dumps({"steps": [{"loss": 1.0}, {"loss": 0.5}]}))
torch.save({"model": torch.nn.Linear(4, 4).state_dict()}, out / "model.pt")
"""


class _StartedAfter:
    """In place of `Waiting`: the probe starts only after the training, as it used to."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def finish(self, *args: object) -> None:
        return None

    def cancel(self) -> None:
        pass


def _started_ahead(tmp: Path) -> Row:
    """The checkpoint probe started with the training (it imports torch meanwhile) against
    started after it, in process, interleaved."""
    sys.path.insert(0, str(HERE.parent))
    from claudio_ci.cli import main as claudio_main
    from claudio_ci.smoke import session

    repo = tmp / "sleeper"
    (repo / "experiments").mkdir(parents=True)
    (repo / "experiments" / "test.yaml").write_text("a: 1\n", encoding="utf-8")
    (repo / "train.py").write_text(SLEEPER, encoding="utf-8")
    (repo / ".claudio.yaml").write_text("smoke_test:\n  command: python train.py\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    ahead = session.Waiting

    def run(waiting: type) -> Callable[[], None]:
        def go() -> None:
            session.Waiting = waiting  # type: ignore[misc]
            with contextlib.redirect_stdout(io.StringIO()):  # the JSON report; the log: stderr
                claudio_main(["smoke-test", "--format", "json"])

        return go

    here = Path.cwd()
    os.chdir(repo)
    try:
        after_time, ahead_time = _paired(run(_StartedAfter), run(ahead), repeat=3)
    finally:
        session.Waiting = ahead  # type: ignore[misc]
        os.chdir(here)
    return Row(
        "smoke-test, a 3 s training leaving a core free: probe started with it",
        ahead_time,
        "probe started after it",
        after_time,
        "",
        f"{(after_time - ahead_time) * 1000:+.0f} ms saved",
    )


def main() -> None:
    python = sys.executable
    script = shutil.which("claudio-ci", path=str(Path(python).parent))
    claudio = [script] if script else [python, "-m", "claudio_ci"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GITHUB_ACTIONS": "false"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(_project(Path(tmp)))
        trivial = [python, "-c", "print('step 1 loss=0.5')"]
        bare = [
            "--set",
            f"smoke_test.command={json.dumps(shlex.join(trivial))}",
            "--set",
            "smoke_test.expect={metrics: false, checkpoint: false, checkpoint_loads: false}",
        ]
        train = [python, *TRAIN.split()]
        command(train, cwd=repo, env=env)()  # warm the caches, torch included
        direct, harness = _paired(
            command(trivial, cwd=repo, env=env),
            command([*claudio, "smoke-test", *bare], cwd=repo, env=env),
            repeat=9,
        )
        rows.append(
            Row(
                "smoke-test, trivial command",
                harness,
                "the command",
                direct,
                "< 0.5 s",
                _verdict(harness - direct),
            )
        )
        no_probe = ["--set", "smoke_test.expect.checkpoint_loads=false"]
        direct, harness = _paired(
            command(train, cwd=repo, env=env),
            command([*claudio, "smoke-test", *no_probe], cwd=repo, env=env),
            repeat=4,
        )
        rows.append(
            Row(
                "smoke-test, example project, no checkpoint load",
                harness,
                "train.py",
                direct,
                "< 0.5 s",
                _verdict(harness - direct),
            )
        )
        # The overhead the issue asked to show: the checkpoint load included (a second
        # interpreter imports torch and loads outputs/test/model.pt with weights_only=True).
        direct, full = _paired(
            command(train, cwd=repo, env=env),
            command([*claudio, "smoke-test"], cwd=repo, env=env),
            repeat=3,
        )
        state = "ok" if full < TOTAL_GOAL else "over goal"
        rows.append(
            Row(
                "smoke-test, example project, full (checkpoint load included)",
                full,
                "train.py",
                direct,
                "< 30 s",
                f"overhead {(full - direct) * 1000:+.0f} ms, total {full:.1f} s ({state})",
            )
        )
        answer = str(Path(tmp) / "answer.json")
        request = json.dumps({"checkpoint": "outputs/test/model.pt", "answer": answer})
        probe = [python, str(PROBE), request]
        import_torch, load = _paired(
            command([python, "-c", "import torch"], cwd=repo, env=env),
            command(probe, cwd=repo, env=env),
            repeat=5,
        )
        rows.append(
            Row(
                "checkpoint load alone (probe.py)",
                load,
                "python -c 'import torch'",
                import_torch,
                "",
                f"the load beyond the import: {(load - import_torch) * 1000:+.0f} ms",
            )
        )
        rows.append(_started_ahead(Path(tmp)))
    print_table("Smoke test", rows)


if __name__ == "__main__":
    main()
