"""The smoke test's checks: did one short training run run, learn, and leave a usable model?

Plain data in, findings out. `claudio_ci.smoke.session` runs the command, reads the
files and loads the checkpoint; this module decides. Findings sit on the experiment's config
file, except a crash, which sits at the project line its traceback ends in.

Codes: the SMK family, in claudio_ci/core/codes.py (`claudio-ci explain SMK` lists them).

Loss rule (SMK104): with n >= 2 losses logged (the records are `steps`, else `epochs`, else
`log_history`, else the list itself; the loss is the first of `loss_key` they hold),
compare the mean of the first k = max(1, n // 4) with the mean of the last k. The run fails
when `last - first > loss_tolerance * |first|`. Means over quarters smooth out the
step-to-step noise of tiny batches; the tolerance keeps a flat loss (a run too short to
learn) from failing on noise, while a diverging one still fails.
"""

from __future__ import annotations

import json
import math
import signal
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from claudio_ci.core import codes
from claudio_ci.core.findings import Finding
from claudio_ci.core.yamlfile import json_path

RUN_FAILED = codes.SMK001
TIMED_OUT = codes.SMK002
OVER_MEMORY = codes.SMK003
LEFT_RUNNING = codes.SMK004
CONFIGS_UNMATCHED = codes.SMK005
METRICS_MISSING = codes.SMK101
METRICS_INVALID = codes.SMK102
METRICS_NOT_FINITE = codes.SMK103
LOSS_ROSE = codes.SMK104
LOSS_NOT_FOUND = codes.SMK105
CHECKPOINT_MISSING = codes.SMK201
CHECKPOINT_UNLOADABLE = codes.SMK202
CHECKPOINT_NOT_FINITE = codes.SMK203
IMPORT_FAILED = codes.SMK301

FileState = Literal["written", "missing", "stale"]

# The report's columns, and the codes that fail each.
COLUMNS: dict[str, tuple[str, ...]] = {
    "exit": (RUN_FAILED,),
    "time": (TIMED_OUT,),
    "memory": (OVER_MEMORY,),
    "metrics": (METRICS_MISSING, METRICS_INVALID),
    "finite": (METRICS_NOT_FINITE,),
    "loss": (LOSS_ROSE,),
    "checkpoint": (CHECKPOINT_MISSING,),
    "loads": (CHECKPOINT_UNLOADABLE, CHECKPOINT_NOT_FINITE),
}
# Training losses first: a validation loss is read only when none is logged.
LOSS_KEYS = (
    "loss",
    "train_loss",
    "train/loss",
    "train_loss_step",
    "train_loss_epoch",
    "val_loss",
    "val/loss",
    "eval_loss",
)
_NON_FINITE_WORDS = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


@dataclass(frozen=True)
class Expectations:
    """Which checks apply after a run that exited 0 (`smoke_test.expect`)."""

    metrics: bool = True
    finite: bool = True
    loss_not_increasing: bool = True
    checkpoint: bool = True
    checkpoint_loads: bool = True
    loss_tolerance: float = 0.1
    loss_keys: tuple[str, ...] = LOSS_KEYS


@dataclass(frozen=True)
class Experiment:
    """One smoke-tested experiment: where its findings go and how to reproduce it."""

    name: str
    config: str  # repo-relative path of the experiment config
    command: str  # the command line, shell-quoted, to reproduce the run by hand


@dataclass(frozen=True)
class RunFacts:
    """What the runner saw: exit code, limits, memory, the end of the output."""

    exit_code: int
    peak_rss_mb: float
    timeout_seconds: float
    max_memory_mb: int
    timed_out: bool = False
    memory_exceeded: bool = False
    last_line: str = ""
    exception: str = ""  # "ValueError: boom" from the traceback, if any
    crash_site: tuple[str, int] | None = None  # (repo-relative file, line) in the project
    leftovers: tuple[str, ...] = ()


# --- the run ------------------------------------------------------------------------------


def _signal_name(exit_code: int) -> str:
    try:
        return signal.Signals(-exit_code).name
    except ValueError:
        return f"signal {-exit_code}"


def check_run(experiment: Experiment, run: RunFacts) -> list[Finding]:
    """Exit code, wall time and memory: the findings that end an experiment's checks."""
    name, config = experiment.name, experiment.config
    repro = f"reproduce with: CUDA_VISIBLE_DEVICES= {experiment.command}"
    said = run.exception or run.last_line
    findings = []
    if run.timed_out:
        findings.append(
            Finding(
                config,
                TIMED_OUT,
                f"{name}: still running after {run.timeout_seconds:g} s: stopped the process "
                "tree" + (f"; last output: {run.last_line}" if run.last_line else ""),
                0,
                0,
                hint="a smoke test should take minutes: shrink the smoke config (fewer steps, a "
                f"smaller model) or raise smoke_test.timeout_seconds; {repro}",
            )
        )
    elif run.memory_exceeded or (run.max_memory_mb and run.peak_rss_mb > run.max_memory_mb):
        verb = "used" if run.memory_exceeded else "peaked at"
        stopped = ": stopped the process tree" if run.memory_exceeded else ""
        findings.append(
            Finding(
                config,
                OVER_MEMORY,
                f"{name}: {verb} {run.peak_rss_mb:.0f} MB of memory, over max_memory_mb "
                f"{run.max_memory_mb}{stopped}",
                0,
                0,
                hint="a smaller batch or model for the smoke config, fewer DataLoader workers, "
                "or a higher smoke_test.max_memory_mb",
            )
        )
    elif run.exit_code != 0:
        how = (
            f"was killed by {_signal_name(run.exit_code)}"
            if run.exit_code < 0
            else f"exited with {run.exit_code}"
        )
        path, line = run.crash_site or (config, 0)
        findings.append(
            Finding(
                path,
                RUN_FAILED,
                f"{name}: the training command {how}" + (f": {said}" if said else ""),
                line,
                1 if line else 0,
                hint=repro,
                extra={"experiment": name},
            )
        )
    if run.leftovers:
        findings.append(
            Finding(
                config,
                LEFT_RUNNING,
                f"{name}: the training command exited but left {len(run.leftovers)} "
                f"process(es) running: {', '.join(run.leftovers)}; stopped them",
                0,
                0,
                LEFT_RUNNING.severity,
                hint="join or terminate worker processes before exiting "
                "(DataLoader workers, multiprocessing pools, servers)",
            )
        )
    return findings


def glob_matches_nothing(pattern: str, configured_at: tuple[str, int]) -> Finding:
    path, line = configured_at
    return Finding(
        path,
        CONFIGS_UNMATCHED,
        f"smoke_test.configs: {pattern} matches no file, so no experiment of it is tested",
        line,
        1 if line else 0,
        hint="fix the glob (it is relative to the repository root), or remove it",
    )


# --- metrics ------------------------------------------------------------------------------


def parse_metrics(text: str) -> Any:
    """A JSON document, or JSON Lines (one record per line); ValueError when neither."""
    try:
        return json.loads(text)
    except ValueError as exc:
        whole = str(exc)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    records = []
    for n, line in lines:
        try:
            records.append(json.loads(line))
        except ValueError as exc:  # JSON Lines if the first line parsed, else broken JSON
            raise ValueError(f"line {n}: {exc}" if records else whole) from None
    if len(records) < 2:
        raise ValueError(whole)
    return records


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def records(metrics: Any) -> list[Any]:
    """The logged records: `steps`, else `epochs` (the example project), else
    `log_history` (Hugging Face's trainer_state.json), else a list of records."""
    if isinstance(metrics, dict):
        for key in ("steps", "epochs", "log_history"):
            logged = metrics.get(key)
            if isinstance(logged, list) and logged:
                return logged
        return [metrics]
    return metrics if isinstance(metrics, list) else []


def _value(record: Any, key: str) -> Any:
    """`record[key]`, or for `train/loss` also `record["train"]["loss"]`."""
    if not isinstance(record, dict):
        return None
    if key in record:
        return record[key]
    head, _, rest = key.partition("/")
    return _value(record.get(head), rest) if rest else None


def loss_key(metrics: Any, keys: Sequence[str] = LOSS_KEYS) -> str | None:
    """The first of `keys` that some record holds a number for."""
    rows = records(metrics)
    for key in keys:
        if any(_number(_value(r, key)) for r in rows):
            return key
    return None


def loss_series(metrics: Any, keys: Sequence[str] = LOSS_KEYS) -> list[float]:
    """The logged losses, in order, under the first of `keys` the records use."""
    key = loss_key(metrics, keys)
    if key is None:
        return []
    values = (_value(r, key) for r in records(metrics))
    return [float(v) for v in values if _number(v)]


def final_loss(metrics: Any, keys: Sequence[str] = LOSS_KEYS) -> float | None:
    if isinstance(metrics, dict) and _number(metrics.get("final_loss")):
        return float(metrics["final_loss"])
    losses = loss_series(metrics, keys)
    return losses[-1] if losses else None


def loss_trend(losses: Sequence[float]) -> tuple[int, float, float] | None:
    """(k, mean of the first k losses, mean of the last k), k = a quarter; None below 2."""
    if len(losses) < 2 or not all(math.isfinite(x) for x in losses):
        return None
    k = max(1, len(losses) // 4)
    return k, statistics.fmean(losses[:k]), statistics.fmean(losses[-k:])


def non_finite(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(JSON path, value) of every NaN or infinity, as a number or as a word ("nan")."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from non_finite(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from non_finite(value, (*path, index))
    elif (isinstance(data, float) and not math.isfinite(data)) or (
        isinstance(data, str) and data.strip().lower() in _NON_FINITE_WORDS
    ):
        yield json_path(list(path)), data


def _file_finding(
    experiment: Experiment, code: str, what: str, path: str, state: FileState, looked: str = ""
) -> Finding:
    where = f"no {what} at {path}" + (f", {looked}" if looked else "")
    if state == "stale":
        where = f"{path} was not written by this run (it is left from an earlier one)"
    key = "metrics_path" if code == METRICS_MISSING else "checkpoint_path"
    return Finding(
        experiment.config,
        code,
        f"{experiment.name}: {where}",
        0,
        0,
        hint=f"the run exited 0 without writing it: save it there, or point "
        f"smoke_test.{key} at where it lands ({{name}} is the experiment, {{config}} its file)",
    )


def _unreadable_hint(reason: str) -> str:
    if "pip install" in reason:  # a reader that is not installed: the reason says which
        return "install what the message names, or point smoke_test.metrics_path elsewhere"
    return "write JSON, JSON Lines, CSV or TensorBoard event files with the losses logged"


def check_metrics(
    experiment: Experiment,
    path: str,
    state: FileState,
    metrics: Any,
    expect: Expectations,
    parse_error: str | None = None,
    looked: str = "",
) -> list[Finding]:
    """Metrics written and readable (`expect.metrics`), finite, and a loss that did not rise.
    `looked` says where else metrics were looked for, for the finding when there are none."""
    name, config = experiment.name, experiment.config
    if state != "written":
        missing = _file_finding(experiment, METRICS_MISSING, "metrics file", path, state, looked)
        if expect.metrics:
            return [missing]
        if not expect.loss_not_increasing:
            return []
        return [
            Finding(
                config,
                LOSS_NOT_FOUND,
                f"{missing.message}: the loss trend is not checked",
                0,
                0,
                LOSS_NOT_FOUND.severity,
                hint=missing.hint,
            )
        ]
    if parse_error is not None or not isinstance(metrics, dict | list):
        if not expect.metrics:
            return []
        reason = parse_error or "expected a JSON object or a list of records"
        return [
            Finding(
                config,
                METRICS_INVALID,
                f"{name}: {path} is not readable metrics: {reason}",
                0,
                0,
                hint=_unreadable_hint(reason),
            )
        ]
    findings = []
    bad = list(non_finite(metrics)) if expect.finite else []
    if bad:
        where, value = bad[0]
        findings.append(
            Finding(
                config,
                METRICS_NOT_FINITE,
                f"{name}: {path} holds {len(bad)} NaN or infinite value(s), first at "
                f"{where} = {value}",
                0,
                0,
                hint="the loss diverged: lower the learning rate, clip gradients, "
                "or look for NaN in the inputs",
            )
        )
    losses = loss_series(metrics, expect.loss_keys)
    if expect.loss_not_increasing and not losses:
        keys = ", ".join(expect.loss_keys)
        findings.append(
            Finding(
                config,
                LOSS_NOT_FOUND,
                f"{name}: no loss in {path} (looked for {keys}): the loss trend is not checked",
                0,
                0,
                LOSS_NOT_FOUND.severity,
                hint="set smoke_test.loss_key to the name your trainer logs the loss under",
            )
        )
    trend = loss_trend(losses) if expect.loss_not_increasing else None
    if trend is not None:
        k, first, last = trend
        if last - first > expect.loss_tolerance * abs(first):
            change = f" (+{(last - first) / abs(first):.0%})" if first else ""
            findings.append(
                Finding(
                    config,
                    LOSS_ROSE,
                    f"{name}: the loss rose: mean of the first {k} logged value(s) "
                    f"{first:.4g}, of the last {k} {last:.4g}{change}",
                    0,
                    0,
                    hint="often a too high learning rate or a sign error in the loss; "
                    "smoke_test.loss_tolerance sets how much rise is noise",
                )
            )
    return findings


# --- checkpoint and import ----------------------------------------------------------------


def check_checkpoint(
    experiment: Experiment,
    path: str,
    state: FileState,
    loaded: dict[str, Any] | None,
    python: str,
    required: bool = True,
) -> list[Finding]:
    """Checkpoint written (when `required`) and, when `loaded` holds the probe's answer,
    loadable and finite."""
    name, config = experiment.name, experiment.config
    if state != "written":
        missing = _file_finding(experiment, CHECKPOINT_MISSING, "checkpoint", path, state)
        return [missing] if required else []
    if loaded is None:
        return []
    if not loaded.get("ok"):
        return [
            Finding(
                config,
                CHECKPOINT_UNLOADABLE,
                f"{name}: {path} does not load with {python}: {loaded.get('error')}",
                0,
                0,
                hint="torch checkpoints load with torch.load(weights_only=True): save tensors "
                "and plain containers (state_dict(), numbers, strings), not whole objects; "
                "or, for your own checkpoints only, set smoke_test.trusted_checkpoints: true",
            )
        ]
    if loaded.get("nonfinite"):
        return [
            Finding(
                config,
                CHECKPOINT_NOT_FINITE,
                f"{name}: {path} holds NaN or infinite weights: {', '.join(loaded['nonfinite'])}",
                0,
                0,
                hint="training diverged before the checkpoint was saved",
            )
        ]
    return []


def check_import(
    spec: str,
    configured_at: tuple[str, int],
    result: dict[str, Any],
    crash_site: tuple[str, int] | None,
) -> list[Finding]:
    """The seed's "Model loads OK": `module:Class` imports and instantiates. The finding sits
    where the traceback ends in the project, else where `import_check` is configured."""
    if result.get("ok"):
        return []
    path, line = crash_site or configured_at
    module, _, attribute = spec.partition(":")
    lines = str(result.get("error", "")).strip().splitlines()
    return [
        Finding(
            path,
            IMPORT_FAILED,
            f"import check {spec} failed: {lines[-1] if lines else 'no result'}",
            line,
            1 if line else 0,
            hint=f'python -c "import {module} as m; m.{attribute}()" in the project root '
            "shows the same error",
        )
    ]
