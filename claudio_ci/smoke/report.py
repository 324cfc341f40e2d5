"""Show smoke-test results: the live log as it comes, then one report (`core.report`): a
table row per experiment, the notes, the log tails of failures and the findings."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import BinaryIO

from claudio_ci.core import findings as fmt
from claudio_ci.core.findings import Finding, markdown_text
from claudio_ci.core.report import Cell, Column, MarkdownOnly, Notes, Report, Table, Text
from claudio_ci.smoke.plan import Job
from claudio_ci.smoke.rules import LOSS_NOT_FOUND
from claudio_ci.smoke.session import ExperimentResult

TITLE = "claudio-ci smoke test"
CHECKS = ("exit", "metrics", "finite", "loss", "checkpoint", "loads")
HEADERS = (
    "experiment",
    "result",
    "wall time",
    "peak memory",
    "final loss",
    "exit",
    "metrics",
    "finite",
    "loss trend",
    "checkpoint",
    "loads",
)
TEXT_MARKS = {"pass": "ok", "fail": "FAIL", "skip": "-"}
ICONS = {"pass": "✅", "fail": "❌", "skip": "➖"}
TAIL_LINES = 30


class LiveLog:
    """The training output as it comes, under a header per experiment.

    On GitHub it is a collapsed group, with workflow commands switched off inside it so that
    no line of the log turns into an annotation or a masked secret.
    """

    def __init__(self, stream: BinaryIO, github: bool) -> None:
        self.stream = stream
        self.github = github
        self._token = ""
        self._at_line_start = True

    def _put(self, text: str) -> None:
        self.stream.write(text.encode("utf-8"))
        self.stream.flush()

    def begin(self, job: Job) -> None:
        experiment = job.experiment
        if self.github:
            self._token = secrets.token_hex(16)
            title = fmt.escape_data(f"smoke test {experiment.name}: {experiment.command}")
            self._put(f"::group::{title}\n")
            self._put(f"::stop-commands::{self._token}\n")
        else:
            self._put(f"==> smoke test {experiment.name}: {experiment.command}\n")
        self._at_line_start = True

    def write(self, chunk: bytes) -> None:
        self.stream.write(chunk)
        self.stream.flush()
        self._at_line_start = chunk.endswith(b"\n")

    def end(self, result: ExperimentResult) -> None:
        if not self._at_line_start:
            self._put("\n")
        verdict = "passed" if result.passed else "FAILED"
        done = f"<== {result.job.experiment.name}: {verdict} in {result.run.wall_seconds:.1f} s\n"
        if not self.github:
            self._put(done)
            return
        # The verdict names the experiment (a file name): still inside the inert block.
        self._put(f"{done}::{self._token}::\n::endgroup::\n")
        if not result.passed:  # the group is collapsed: show its end, inert too
            tail = result.run.tail[-TAIL_LINES:]
            self._put(inert("".join(f"{line}\n" for line in tail)))


def inert(text: str) -> str:
    """`text` for a GitHub Actions log with no workflow command in it taking effect: between
    `::stop-commands::` and a random token the text cannot know. The runner reads lines
    split at `\r` as well as `\n` and trims their indentation; inside the block neither
    matters."""
    if not text:
        return ""
    token = secrets.token_hex(16)
    end = "" if text.endswith("\n") else "\n"
    return f"::stop-commands::{token}\n{text}{end}::{token}::\n"


# --- one row per experiment ------------------------------------------------------------


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _detail(result: ExperimentResult, check: str) -> str:
    if check == "exit":
        return str(result.run.exit_code)
    if check == "loss" and result.loss_trend is not None:
        _, first, last = result.loss_trend
        return f"{first:.4g} → {last:.4g}"
    source = result.metrics_source
    if check == "metrics" and source and source != result.job.metrics_path:
        return "log" if source == "the training log" else PurePosixPath(source).name
    if check == "loads" and result.checkpoint_arrays is not None:
        return f"{result.checkpoint_arrays} arrays"
    return ""


def _limit(text: str, status: str, limit: str, marks: dict[str, str]) -> str:
    return f"{text} {marks['fail']} (limit {limit})" if status == "fail" else text


def row(result: ExperimentResult, marks: dict[str, str]) -> list[str]:
    run, limits = result.run, result.limits
    memory_limit = f"{limits.max_memory_mb} MB" if limits.max_memory_mb else "none"
    cells = [
        result.job.experiment.name,
        "passed" if result.passed else "failed",
        _limit(
            f"{run.wall_seconds:.1f} s",
            result.status("time"),
            f"{limits.timeout_seconds:g} s",
            marks,
        ),
        _limit(f"{run.peak_rss_mb:.0f} MB", result.status("memory"), memory_limit, marks),
        _number(result.final_loss),
    ]
    for check in CHECKS:
        status = result.status(check)
        detail = _detail(result, check) if status != "skip" else ""
        if check == "loss" and any(f.code == LOSS_NOT_FOUND for f in result.findings):
            detail = "no loss found"
        elif check == "loss" and status == "skip" and result.loss_count == 1:
            detail = "one value, no trend"
        cells.append(f"{marks[status]} {detail}".strip())
    return cells


def _fence(lines: Sequence[str]) -> str:
    """A code fence longer than any run of backticks in the text."""
    longest = max((len(run) for run in re.findall("`+", "\n".join(lines))), default=0)
    ticks = "`" * max(3, longest + 1)
    return "\n".join([ticks + "text", *lines, ticks])


def _json_number(value: float | None) -> float | str | None:
    """JSON has no NaN: a non-finite loss is reported as its text."""
    return value if value is None or math.isfinite(value) else str(value)


def _data(
    results: Sequence[ExperimentResult], notes: Sequence[Cell], passed: bool
) -> dict[str, object]:
    experiments = [
        {
            "experiment": r.job.experiment.name,
            "config": r.job.experiment.config,
            "command": r.job.experiment.command,
            "passed": r.passed,
            "exit_code": r.run.exit_code,
            "wall_seconds": round(r.run.wall_seconds, 3),
            "peak_rss_mb": round(r.run.peak_rss_mb, 1),
            "final_loss": _json_number(r.final_loss),
            "loss_trend": list(r.loss_trend) if r.loss_trend else None,
            "metrics_source": r.metrics_source,
            "checks": {check: r.status(check) for check in ("time", "memory", *CHECKS)},
        }
        for r in results
    ]
    shown_notes = [note.plain if isinstance(note, Text) else note for note in notes]
    return {"passed": passed, "experiments": experiments, "notes": shown_notes}


def _row_cells(result: ExperimentResult) -> list[Cell]:
    """The text marks (`ok`, `FAIL`) in a terminal, the icons in Markdown."""
    plain, icons = row(result, TEXT_MARKS), row(result, ICONS)
    return [
        plain[0],
        *(Text(p, markdown_text(i)) for p, i in zip(plain[1:], icons[1:], strict=True)),
    ]


def _tails(results: Sequence[ExperimentResult]) -> str:
    """The end of each failed experiment's output, collapsed (the log shows it in full)."""
    parts: list[str] = []
    for result in results:
        if not result.passed:
            tail = result.run.tail[-TAIL_LINES:]
            name = markdown_text(result.job.experiment.name)
            parts += [f"<details><summary>{name}: last {len(tail)} lines of output</summary>"]
            parts += ["", _fence(tail), "", "</details>", ""]
    return "\n".join(parts)


def as_report(
    results: Sequence[ExperimentResult],
    findings: Sequence[Finding],
    notes: Sequence[Cell],
    passed: bool,
) -> Report:
    """The notes, one row per experiment, the log tails of failures (Markdown), the findings."""
    shown = Report(TITLE, findings, data=_data(results, notes, passed))
    shown.sections.append(Notes(notes))
    if results:
        columns = [Column(HEADERS[0], markdown="code"), *(Column(h) for h in HEADERS[1:])]
        shown.sections.append(Table(columns, [_row_cells(r) for r in results]))
    tails = _tails(results)
    if tails:
        shown.sections.append(MarkdownOnly(tails))
    return shown
