"""Put one experiment through the smoke test: run, read what it wrote, load its checkpoint."""

from __future__ import annotations

import fnmatch
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudio_ci.core.findings import Finding, Severity
from claudio_ci.smoke import metrics as metrics_io
from claudio_ci.smoke import rules as smoke
from claudio_ci.smoke.plan import Job, Settings
from claudio_ci.smoke.runner import Limits, RunResult, Waiting, run_process
from claudio_ci.smoke.tracebacks import last_traceback

PROBE = Path(__file__).with_name("probe.py")


@dataclass
class ExperimentResult:
    job: Job
    run: RunResult
    limits: Limits
    findings: list[Finding] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)  # columns of `smoke.COLUMNS` that ran
    final_loss: float | None = None
    loss_trend: tuple[int, float, float] | None = None
    checkpoint_arrays: int | None = None
    metrics_source: str | None = None  # where the metrics were read from
    loss_count: int = 0  # losses found in them

    @property
    def passed(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def status(self, column: str) -> str:
        """`fail`, `pass` or `skip` (disabled, or not reached after an earlier failure)."""
        if any(f.code in smoke.COLUMNS[column] for f in self.findings):
            return "fail"
        return "pass" if column in self.checked else "skip"


def _roots(root: Path) -> list[Path]:
    return list(dict.fromkeys([root, root.resolve()]))


def _run_facts(run: RunResult, settings: Settings) -> smoke.RunFacts:
    traceback = last_traceback(run.tail)
    last = next((line.strip() for line in reversed(run.tail) if line.strip()), "")
    return smoke.RunFacts(
        exit_code=run.exit_code,
        peak_rss_mb=run.peak_rss_mb,
        timeout_seconds=settings.limits.timeout_seconds,
        max_memory_mb=settings.limits.max_memory_mb,
        timed_out=run.timed_out,
        memory_exceeded=run.memory_exceeded,
        last_line=last,
        exception=traceback.exception if traceback else "",
        crash_site=traceback.project_frame(_roots(settings.root)) if traceback else None,
        leftovers=tuple(run.leftovers),
    )


def _probe(
    settings: Settings, request: dict[str, Any], warm: Waiting | None = None
) -> dict[str, Any]:
    """Ask the project's interpreter to load a checkpoint and/or import a class (the `warm`
    one, started with the training, when there is one).

    Every part asked for gets an answer: a crash or a kill of the probe is one too.
    """
    with tempfile.TemporaryDirectory(prefix="claudio-smoke-") as tmp:
        answer = Path(tmp) / "answer.json"
        text = json.dumps({**request, "answer": str(answer)})
        run = warm.finish(text.encode(), settings.limits.timeout_seconds) if warm else None
        if run is None:
            run = run_process(
                [settings.python, str(PROBE), text],
                cwd=settings.root,
                env=settings.environment(),
                limits=settings.limits,
            )
        result = json.loads(answer.read_text(encoding="utf-8")) if answer.exists() else {}
    if run.timed_out:
        why = f"did not finish in {settings.limits.timeout_seconds:g} s"
    elif run.memory_exceeded:
        why = f"used more than {settings.limits.max_memory_mb} MB"
    else:
        said = next((line for line in reversed(run.tail) if line.strip()), "no output")
        why = f"{settings.python} exited with {run.exit_code}: {said.strip()}"
    for part in ("checkpoint", "import_check"):
        if part in request:
            result.setdefault(part, {"ok": False, "error": why})
    return result


def import_check(settings: Settings, spec: str, configured_at: tuple[str, int]) -> list[Finding]:
    """The project-wide `import_check`, run once before the experiments."""
    request = {
        "import_check": spec,
        "import_kwargs": dict(settings.import_kwargs),
        "import_config": settings.import_config,
    }
    answer = _probe(settings, request)["import_check"]
    traceback = last_traceback(str(answer.get("error", "")).splitlines())
    site = traceback.project_frame(_roots(settings.root)) if traceback else None
    return smoke.check_import(spec, configured_at, answer, site)


@dataclass(frozen=True)
class _Before:
    """What the result paths held before the run: to tell what this run wrote."""

    metrics: dict[str, metrics_io.Signature]
    detected: dict[str, metrics_io.Signature]
    checkpoints: dict[str, metrics_io.Signature]

    @classmethod
    def take(cls, job: Job, settings: Settings) -> _Before:
        root = settings.root
        return cls(
            metrics_io.expand(root, [job.metrics_path]),
            metrics_io.walk(root, metrics_io.DETECTED),
            metrics_io.expand(root, [job.checkpoint_path]),
        )


def run_experiment(
    job: Job, settings: Settings, echo: Callable[[bytes], object] | None = None
) -> ExperimentResult:
    """Run the job, then check its metrics and checkpoint unless the run itself failed."""
    before = _Before.take(job, settings)
    warm = None
    if settings.expect.checkpoint_loads:
        argv = [settings.python, str(PROBE), "-"]
        warm = Waiting(argv, cwd=settings.root, env=settings.environment())
    try:
        run = run_process(
            job.argv,
            cwd=settings.root,
            env=settings.environment(),
            limits=settings.limits,
            echo=echo,
            keep=settings.loss_regex,
        )
        killed = run.timed_out or run.memory_exceeded  # then its exit code says nothing
        checked = {"time", "memory"} if killed else {"exit", "time", "memory"}
        result = ExperimentResult(job, run, settings.limits, checked=checked)
        result.findings = smoke.check_run(job.experiment, _run_facts(run, settings))
        if result.passed:
            _check_metrics(result, settings, before)
            _check_checkpoint(result, settings, before.checkpoints, warm)
    finally:
        if warm is not None:
            warm.cancel()
    return result


def _newest_detected(
    before: dict[str, metrics_io.Signature], after: dict[str, metrics_io.Signature]
) -> str | None:
    """Of the files trainers write on their own, the one this run wrote, by DETECTED's order."""
    for pattern in metrics_io.DETECTED:
        chosen = {p: s for p, s in after.items() if fnmatch.fnmatch(Path(p).name, pattern)}
        path, _ = metrics_io.newest_written(before, chosen)
        if path:
            return path
    return None


def _find_metrics(
    result: ExperimentResult, settings: Settings, before: _Before
) -> tuple[str, smoke.FileState, Any, str | None, str]:
    """(source, state, metrics, parse error, where else we looked): `metrics_path`, else a
    file a trainer writes on its own, else the losses the training printed."""
    root, job = settings.root, result.job
    after = metrics_io.expand(root, [job.metrics_path])
    path, matched = metrics_io.newest_written(before.metrics, after)
    chosen = before.metrics
    if path is None:
        path = _newest_detected(before.detected, metrics_io.walk(root, metrics_io.DETECTED))
        chosen = before.detected
    if path is not None:
        old = chosen.get(path)
        grew = old is not None and (root / path).stat().st_size > old[1]
        start = old[1] if old is not None and grew else None  # read only what was appended
        try:
            return path, "written", metrics_io.read(root / path, start), None, ""
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return path, "written", None, str(exc), ""
    logged = metrics_io.loss_lines(result.run.kept, settings.loss_pattern)
    if logged:
        return "the training log", "written", logged, None, ""
    looked = (
        f"nor a {', '.join(metrics_io.DETECTED)} written by this run, nor a line matching "
        f"`{settings.loss_pattern}` and a number in the training log"
    )
    return job.metrics_path, "stale" if matched else "missing", None, None, looked


def _check_metrics(result: ExperimentResult, settings: Settings, before: _Before) -> None:
    expect = settings.expect
    source, state, metrics, error, looked = _find_metrics(result, settings, before)
    result.metrics_source = source if state == "written" else None
    result.findings += smoke.check_metrics(
        result.job.experiment, source, state, metrics, expect, error, looked
    )
    if expect.metrics:
        result.checked.add("metrics")
    if not isinstance(metrics, dict | list):
        return
    result.final_loss = smoke.final_loss(metrics, expect.loss_keys)
    losses = smoke.loss_series(metrics, expect.loss_keys)
    result.loss_count = len(losses)
    result.loss_trend = smoke.loss_trend(losses)
    if expect.finite:
        result.checked.add("finite")
    if expect.loss_not_increasing and result.loss_trend is not None:
        result.checked.add("loss")


def _script_dirs(job: Job) -> list[str]:
    """Where the training found its modules: the project root and the directory of a
    `python dir/train.py` script, so that a trusted load finds the classes it pickled."""
    scripts = [word for word in job.argv[1:2] if word.endswith(".py")]
    return ["."] + [str(Path(script).parent) for script in scripts if Path(script).parent.parts]


def _check_checkpoint(
    result: ExperimentResult,
    settings: Settings,
    before: dict[str, metrics_io.Signature],
    warm: Waiting | None = None,
) -> None:
    job, expect = result.job, settings.expect
    after = metrics_io.expand(settings.root, [job.checkpoint_path])
    path, matched = metrics_io.newest_written(before, after)
    state: smoke.FileState = "written" if path else "stale" if matched else "missing"
    loaded = None
    if expect.checkpoint_loads and path:
        request = {
            "checkpoint": path,
            "trusted": settings.trusted_checkpoints,
            "sys_path": _script_dirs(job),
        }
        loaded = _probe(settings, request, warm)["checkpoint"]
        result.checked.add("loads")
        result.checkpoint_arrays = loaded.get("arrays")
    result.findings += smoke.check_checkpoint(
        job.experiment,
        path or job.checkpoint_path,
        state,
        loaded,
        settings.python,
        expect.checkpoint,
    )
    if expect.checkpoint:
        result.checked.add("checkpoint")
