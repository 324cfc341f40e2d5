"""Put one experiment through the smoke test: run, read what it wrote, load its checkpoint."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudio_ci.checks import smoke
from claudio_ci.findings import Finding, Severity
from claudio_ci.smoke.plan import Job, Settings
from claudio_ci.smoke.runner import Limits, RunResult, run_process
from claudio_ci.smoke.tracebacks import last_traceback

PROBE = Path(__file__).with_name("probe.py")

Signature = tuple[int, int, int] | None


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

    @property
    def passed(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)

    def status(self, column: str) -> str:
        """`fail`, `pass` or `skip` (disabled, or not reached after an earlier failure)."""
        if any(f.code in smoke.COLUMNS[column] for f in self.findings):
            return "fail"
        return "pass" if column in self.checked else "skip"


def _signature(path: Path) -> Signature:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _state(path: Path, before: Signature) -> smoke.FileState:
    after = _signature(path)
    if after is None:
        return "missing"
    return "stale" if after == before else "written"


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


def _probe(settings: Settings, request: dict[str, str]) -> dict[str, Any]:
    """Ask the project's interpreter to load a checkpoint and/or import a class.

    Every part asked for gets an answer: a crash or a kill of the probe is one too.
    """
    with tempfile.TemporaryDirectory(prefix="claudio-smoke-") as tmp:
        answer = Path(tmp) / "answer.json"
        argv = [settings.python, str(PROBE), json.dumps(request), str(answer)]
        run = run_process(
            argv, cwd=settings.root, env=settings.environment(), limits=settings.limits
        )
        result = json.loads(answer.read_text(encoding="utf-8")) if answer.exists() else {}
    if run.timed_out:
        why = f"did not finish in {settings.limits.timeout_seconds:g} s"
    elif run.memory_exceeded:
        why = f"used more than {settings.limits.max_memory_mb} MB"
    else:
        said = next((line for line in reversed(run.tail) if line.strip()), "no output")
        why = f"{settings.python} exited with {run.exit_code}: {said.strip()}"
    for part in request:
        result.setdefault(part, {"ok": False, "error": why})
    return result


def import_check(settings: Settings, spec: str, configured_at: tuple[str, int]) -> list[Finding]:
    """The project-wide `import_check`, run once before the experiments."""
    answer = _probe(settings, {"import_check": spec})["import_check"]
    traceback = last_traceback(str(answer.get("error", "")).splitlines())
    site = traceback.project_frame(_roots(settings.root)) if traceback else None
    return smoke.check_import(spec, configured_at, answer, site)


def run_experiment(
    job: Job, settings: Settings, echo: Callable[[bytes], object] | None = None
) -> ExperimentResult:
    """Run the job, then check its metrics and checkpoint unless the run itself failed."""
    metrics_file = settings.root / job.metrics_path
    checkpoint_file = settings.root / job.checkpoint_path
    before = {path: _signature(path) for path in (metrics_file, checkpoint_file)}
    run = run_process(
        job.argv, cwd=settings.root, env=settings.environment(), limits=settings.limits, echo=echo
    )
    killed = run.timed_out or run.memory_exceeded  # then its exit code says nothing
    checked = {"time", "memory"} if killed else {"exit", "time", "memory"}
    result = ExperimentResult(job, run, settings.limits, checked=checked)
    result.findings = smoke.check_run(job.experiment, _run_facts(run, settings))
    if result.passed:
        state = _state(metrics_file, before[metrics_file])
        _check_metrics(result, settings.expect, state, metrics_file)
        _check_checkpoint(result, settings, _state(checkpoint_file, before[checkpoint_file]))
    return result


def _read_metrics(path: Path) -> tuple[Any, str | None]:
    try:
        return smoke.parse_metrics(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, str(exc)


def _check_metrics(
    result: ExperimentResult, expect: smoke.Expectations, state: smoke.FileState, file: Path
) -> None:
    job = result.job
    metrics, error = _read_metrics(file) if state == "written" else (None, None)
    result.findings += smoke.check_metrics(
        job.experiment, job.metrics_path, state, metrics, expect, error
    )
    if expect.metrics:
        result.checked.add("metrics")
    if not isinstance(metrics, dict | list):
        return
    result.final_loss = smoke.final_loss(metrics)
    result.loss_trend = smoke.loss_trend(smoke.loss_series(metrics))
    if expect.finite:
        result.checked.add("finite")
    if expect.loss_not_increasing and result.loss_trend is not None:
        result.checked.add("loss")


def _check_checkpoint(result: ExperimentResult, settings: Settings, state: smoke.FileState) -> None:
    job, expect = result.job, settings.expect
    loaded = None
    if expect.checkpoint_loads and state == "written":
        loaded = _probe(settings, {"checkpoint": job.checkpoint_path})["checkpoint"]
        result.checked.add("loads")
        result.checkpoint_arrays = loaded.get("arrays")
    result.findings += smoke.check_checkpoint(
        job.experiment, job.checkpoint_path, state, loaded, settings.python, expect.checkpoint
    )
    if expect.checkpoint:
        result.checked.add("checkpoint")
