"""`gpu report`: GPU-hours, kWh and cost per branch, the costliest runs, and the thresholds.

`resources.cost_warning_threshold` and `resources.cost_limit` (USD per branch, as in
Claudio's config; 0 turns either off) give GPU002 warnings and GPU001 errors.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from claudio_ci.adapters.procfs import is_alive
from claudio_ci.core import codes
from claudio_ci.core.errors import UsageError
from claudio_ci.core.findings import Finding, Severity, github_safe_line
from claudio_ci.core.report import Cell, Column, MarkdownOnly, Notes, Table, Text, render_report
from claudio_ci.core.report import Report as ShownReport
from claudio_ci.core.settings import ResourcesSection
from claudio_ci.gpu.ledger import BranchTotals, Ledger, RunRow
from claudio_ci.gpu.pricing import ShippedRates, shipped_rates
from claudio_ci.gpu.usage import MJ_PER_KWH

CODE_LIMIT = codes.GPU001
CODE_WARNING = codes.GPU002
CODE_UNPRICED = codes.GPU003
CODE_UNMEASURED = codes.GPU004
CODE_INCOMPLETE = codes.GPU005
CODE_OTHER_BOT = codes.GPU006  # written by `gpu comment`
COSTLIEST = 10
CHART_BARS = 12
_J_PER_KWH = MJ_PER_KWH / 1000
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_EARLIEST = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc).timestamp()
_LATEST = dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone.utc).timestamp()


def parse_since(value: str | None, now: float | None = None) -> float | None:
    """`7d`, `12h`, `30m`, `2w` ago, or an ISO date / date-time (UTC unless it says)."""
    if not value:
        return None
    relative = _RELATIVE.match(value.strip())
    if relative:
        reference = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
        since = reference - int(relative[1]) * _UNIT_SECONDS[relative[2]]
    else:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(
                f"--since {value!r}: expected 7d, 12h, 30m, 2w or an ISO date such as 2026-05-01"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        since = moment.timestamp()
    if not _EARLIEST <= since <= _LATEST:  # a UTC date-time could not show it
        raise UsageError(f"--since {value!r}: out of range (years 1 to 9999, UTC)")
    return since


def utc(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def kwh(joules: float | None) -> float | None:
    return None if joules is None else joules / _J_PER_KWH


def run_status(run: RunRow) -> str:
    if run.complete:
        return f"exit {run.exit_code}"
    if run.host == socket.gethostname() and is_alive(run.pid):
        return "running"
    return "incomplete"


def cost_findings(branch_costs: Mapping[str, float], resources: ResourcesSection) -> list[Finding]:
    """GPU001 over `resources.cost_limit`, else GPU002 over `cost_warning_threshold`."""
    limit = resources.cost_limit
    threshold = resources.cost_warning_threshold
    findings = []
    for branch, cost in branch_costs.items():
        if limit > 0 and cost > limit:
            message = f"GPU cost ${cost:.2f} is over resources.cost_limit (${limit:.2f})"
            findings.append(Finding(branch, CODE_LIMIT, message, 0, 0, CODE_LIMIT.severity))
        elif threshold > 0 and cost > threshold:
            message = (
                f"GPU cost ${cost:.2f} is over resources.cost_warning_threshold (${threshold:.2f})"
            )
            findings.append(Finding(branch, CODE_WARNING, message, 0, 0, CODE_WARNING.severity))
    return findings


@dataclass
class Report:
    ledger: str
    branch: str | None
    since: float | None
    branches: list[BranchTotals]
    costliest: list[RunRow]
    findings: list[Finding]
    rates: ShippedRates

    @property
    def exit_code(self) -> int:
        return int(any(f.severity is Severity.ERROR for f in self.findings))

    def total(self) -> BranchTotals:
        b = self.branches
        return BranchTotals(
            "total",
            sum(t.runs for t in b),
            sum(t.replayed for t in b),
            sum(t.incomplete for t in b),
            sum(t.gpu_seconds for t in b),
            sum(t.energy_j for t in b),
            sum(t.unmeasured for t in b),
            sum(t.cost for t in b),
            min((t.first_started for t in b), default=0.0),
            max((t.last_seen for t in b), default=0.0),
        )


def _notices(ledger: Ledger, report: Report) -> list[Finding]:
    findings = []
    for model in ledger.unpriced_models(report.branch, report.since):
        findings.append(
            Finding(
                ".claudio.yaml",
                CODE_UNPRICED,
                f"no hourly rate for {model}: its GPU time is counted at $0",
                0,
                0,
                CODE_UNPRICED.severity,
                hint=f'set gpu.hourly_rates: {{"{model}": USD}} or gpu.default_hourly_rate',
            )
        )
    for totals in report.branches:
        if totals.unmeasured:
            findings.append(
                Finding(
                    totals.branch,
                    CODE_UNMEASURED,
                    f"energy of {totals.unmeasured} run(s) is not measurable (MIG slices, or "
                    "GPUs with neither energy counter nor power reading); kWh leaves them out",
                    0,
                    0,
                    CODE_UNMEASURED.severity,
                )
            )
        if totals.incomplete:
            findings.append(
                Finding(
                    totals.branch,
                    CODE_INCOMPLETE,
                    f"{totals.incomplete} run(s) did not finish (still running, or killed): "
                    "their figures stop at their last sample",
                    0,
                    0,
                    CODE_INCOMPLETE.severity,
                )
            )
    return findings


def build_report(
    ledger: Ledger | None,
    ledger_label: str,
    resources: ResourcesSection,
    *,
    branch: str | None = None,
    since: float | None = None,
) -> Report:
    """The report of a ledger (None: no ledger yet, an empty report)."""
    report = Report(ledger_label, branch, since, [], [], [], shipped_rates())
    if ledger is None:
        return report
    report.branches = ledger.branch_totals(branch, since)
    report.costliest = ledger.runs(branch, since, costliest=COSTLIEST)
    costs = {t.branch: t.cost for t in report.branches}
    report.findings = cost_findings(costs, resources) + _notices(ledger, report)
    return report


# --- rendering --------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _kwh_cell(totals: BranchTotals) -> str:
    if totals.unmeasured and totals.unmeasured == totals.runs:
        return "n/a"
    return f"{kwh(totals.energy_j) or 0:.3f}"


def _runs_cell(totals: BranchTotals) -> str:
    return f"{totals.runs} ({totals.replayed} replayed)" if totals.replayed else str(totals.runs)


def _run_kwh(run: RunRow) -> str:
    value = kwh(run.energy_j)
    return "n/a" if value is None and run.gpu_seconds > 0 else f"{value or 0:.3f}"


def _run_status(run: RunRow) -> str:
    status = run_status(run)
    return f"{status}, {run.note}" if run.note else status


def _scope(report: Report) -> str:
    parts = [f"ledger {report.ledger}"]
    if report.branch:
        parts.append(f"branch {report.branch}")
    if report.since is not None:
        parts.append(f"since {utc(report.since)} UTC")
    return ", ".join(parts)


def _rates_line(report: Report) -> str:
    return (
        f"Rates: gpu.hourly_rates, else approximate on-demand list prices of {report.rates.date} "
        "(claudio_ci/gpu/rates.json); replayed runs come from recorded traces."
    )


def _nothing(report: Report) -> str:
    if report.branch is not None or report.since is not None:
        return "No GPU runs match."
    return "No GPU runs recorded yet: run a command under `claudio-ci gpu run -- CMD`."


def _chart(branches: Sequence[BranchTotals]) -> list[str]:
    """A mermaid bar chart of cost per branch, which GitHub renders in Markdown."""
    shown = list(branches[:CHART_BARS])
    labels = [t.branch for t in shown]
    values = [t.cost for t in shown]
    rest = branches[CHART_BARS:]
    if rest:
        labels.append(f"{len(rest)} other branches")
        values.append(sum(t.cost for t in rest))
    top = max(values, default=0) * 1.1 or 1.0
    # branch names are anyone's: no `"` to end the label, no `##[` for the Actions log
    quoted = ", ".join('"' + github_safe_line(label.replace('"', "'")) + '"' for label in labels)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "GPU cost per branch (USD)"',
        f"    x-axis [{quoted}]",
        f'    y-axis "USD" 0 --> {top:.2f}',
        f"    bar [{', '.join(f'{v:.2f}' for v in values)}]",
        "```",
    ]


def _totals_json(t: BranchTotals) -> dict[str, Any]:
    return {
        "branch": t.branch,
        "runs": t.runs,
        "replayed": t.replayed,
        "incomplete": t.incomplete,
        "gpu_hours": round(t.gpu_seconds / 3600, 6),
        "kwh": round(kwh(t.energy_j) or 0.0, 6),
        "energy_unmeasured_runs": t.unmeasured,
        "cost": round(t.cost, 4),
    }


def _run_json(r: RunRow) -> dict[str, Any]:
    energy = kwh(r.energy_j)
    return {
        "id": r.id,
        "run_key": r.run_key,
        "branch": r.branch,
        "worktree": r.worktree,
        "commit": r.commit,
        "command": r.command,
        "started": utc(r.started),
        "ended": utc(r.ended) or None,
        "gpus": r.models,
        "gpu_hours": round(r.gpu_seconds / 3600, 6),
        "kwh": None if energy is None else round(energy, 6),
        "peak_memory_bytes": r.peak_memory,
        "cost": round(r.cost, 4),
        "exit_code": r.exit_code,
        "status": run_status(r),
        "source": r.source,
        "note": r.note,
    }


def _data(report: Report) -> dict[str, Any]:
    return {
        "ledger": report.ledger,
        "branch": report.branch,
        "since": utc(report.since) or None,
        "rates": {"date": report.rates.date, "note": report.rates.note},
        "branches": [_totals_json(t) for t in report.branches],
        "total": _totals_json(report.total()),
        "costliest": [_run_json(r) for r in report.costliest],
    }


_BRANCH_COLUMNS = (
    Column("branch", markdown="code"),
    Column("runs", "right", "raw"),
    Column("GPU-hours", "right", "raw"),
    Column("kWh", "right", "raw"),
    Column("cost (USD)", "right", "raw"),
)
_RUN_COLUMNS = (
    Column("run", markdown="raw"),
    Column("branch", markdown="code"),
    Column("started (UTC)", markdown="raw"),
    Column("GPUs"),
    Column("GPU-h", "right", "raw"),
    Column("kWh", "right", "raw"),
    Column("cost", "right", "raw"),
    Column("status"),
)


def _branch_row(t: BranchTotals) -> list[Cell]:
    return [t.branch, _runs_cell(t), f"{t.gpu_seconds / 3600:.3f}", _kwh_cell(t), _money(t.cost)]


def _run_row(r: RunRow) -> list[Cell]:
    return [
        f"#{r.id}",
        r.branch,
        utc(r.started),
        r.models or "no GPU",
        f"{r.gpu_seconds / 3600:.3f}",
        _run_kwh(r),
        _money(r.cost),
        _run_status(r),
    ]


def as_report(report: Report) -> ShownReport:
    """The report as the shared model: the branches with their total, a chart of cost per
    branch (Markdown), the costliest runs, the rates' source, and the threshold findings."""
    shown = ShownReport(
        "GPU cost per branch",
        report.findings,
        subtitle=_scope(report),
        title_in_text=True,
        findings_title="GPU cost checks",
        data=_data(report),
    )
    if not report.branches:
        shown.sections.append(Notes([Text(_nothing(report), _nothing(report))]))
        return shown
    total = report.total()
    total_row: list[Cell] = [
        Text("total", "**Total**"),
        *_branch_row(total)[1:-1],
        Text(_money(total.cost), f"**{_money(total.cost)}**"),
    ]
    rates = _rates_line(report)
    shown.sections += [
        Table(_BRANCH_COLUMNS, [*map(_branch_row, report.branches), total_row]),
        MarkdownOnly("\n".join(_chart(report.branches))),
        Table(_RUN_COLUMNS, [_run_row(r) for r in report.costliest], title="Costliest runs"),
        Notes([Text(rates, f"<sub>{rates}</sub>")]),
    ]
    return shown


def render(report: Report, fmt: str) -> str:
    """The report in one of `core.report.FORMATS`."""
    return render_report(as_report(report), fmt)
