"""The sticky PR comment: one per pull request, with the branch's cumulative GPU cost.

Like Infracost's and CML's comments, it is found again by a hidden marker and edited in
place, but only a comment written by the token's own identity: anyone can paste the marker
and forged figures into a comment of their own. The carried figures are validated too.
The figures of every run travel inside the comment itself (a hidden JSON block), so
a CI runner that starts from a fresh checkout each time still adds up the whole branch:
runs are keyed by their ledger `run_key`, so merging the same run twice counts it once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from claudio_ci.core.findings import Finding, markdown_code, markdown_text
from claudio_ci.core.report import render_markdown
from claudio_ci.gpu.ledger import RunRow
from claudio_ci.gpu.report import kwh, utc

MARKER = "<!-- claudio-ci:gpu-cost -->"
DATA_OPEN = "<!-- claudio-ci:gpu-cost-data "
DATA_CLOSE = " -->"
DATA_VERSION = 1
KEEP_RUNS = 100  # older runs are folded into one line of totals, keeping the comment small
KEEP_FOLDED_KEYS = 1500
KEY_PREFIX = 12  # of a folded run's key: enough to recognise it, short enough to keep many
SHOWN_RUNS = 10
CHART_POINTS = 30


@dataclass
class CarriedRun:
    key: str
    started: float
    commit: str
    gpus: str
    gpu_seconds: float
    kwh: float | None
    cost: float
    exit_code: int | None
    complete: bool
    source: str

    @classmethod
    def from_row(cls, row: RunRow) -> CarriedRun:
        energy = kwh(row.energy_j)
        return cls(
            row.run_key,
            round(row.started, 3),
            (row.commit or "")[:12],
            row.models,
            round(row.gpu_seconds, 3),
            None if energy is None else round(energy, 6),
            round(row.cost, 6),
            row.exit_code,
            row.complete,
            row.source,
        )


@dataclass
class Earlier:
    """The runs folded out of the comment's list: their totals only."""

    runs: int = 0
    gpu_seconds: float = 0.0
    kwh: float = 0.0
    unmeasured: int = 0
    cost: float = 0.0


@dataclass
class Carried:
    branch: str
    runs: list[CarriedRun] = field(default_factory=list)
    earlier: Earlier = field(default_factory=Earlier)
    folded: list[str] = field(default_factory=list)  # key prefixes of the folded runs

    @property
    def run_count(self) -> int:
        return self.earlier.runs + len(self.runs)

    @property
    def cost(self) -> float:
        return self.earlier.cost + sum(r.cost for r in self.runs)

    @property
    def gpu_seconds(self) -> float:
        return self.earlier.gpu_seconds + sum(r.gpu_seconds for r in self.runs)

    @property
    def kwh(self) -> float:
        return self.earlier.kwh + sum(r.kwh or 0.0 for r in self.runs)

    @property
    def unmeasured(self) -> int:
        measured_none = sum(1 for r in self.runs if r.kwh is None and r.gpu_seconds > 0)
        return self.earlier.unmeasured + measured_none


# --- finding the comment and reading its data ---------------------------------------------


def is_sticky(body: str) -> bool:
    return body.lstrip().startswith(MARKER)


def find_sticky(comments: Iterable[Any], author: str) -> Any | None:
    """The first comment (anything with a `body` and an `author`) that carries the marker
    and was written by `author`, the token's own login (GitHub compares logins without case)."""
    mine = author.lower()
    return next((c for c in comments if c.author.lower() == mine and is_sticky(c.body)), None)


def _amount(value: object) -> bool:
    """A finite, non-negative number (JSON also reads NaN and Infinity)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _valid_run(run: CarriedRun) -> bool:
    return (
        all(isinstance(v, str) for v in (run.key, run.commit, run.gpus, run.source))
        and all(_amount(v) for v in (run.started, run.gpu_seconds, run.cost))
        and (run.kwh is None or _amount(run.kwh))
        and (run.exit_code is None or isinstance(run.exit_code, int))
        and isinstance(run.complete, bool)
    )


def _valid(carried: Carried) -> bool:
    earlier = carried.earlier
    return (
        len(carried.runs) <= KEEP_RUNS
        and all(_valid_run(run) for run in carried.runs)
        and len({run.key for run in carried.runs}) == len(carried.runs)
        and _count(earlier.runs)
        and _count(earlier.unmeasured)
        and all(_amount(v) for v in (earlier.gpu_seconds, earlier.kwh, earlier.cost))
    )


def parse(body: str, branch: str) -> Carried:
    """The figures a comment carries; empty when it has none, or they are unreadable or
    impossible (a negative or non-finite cost, a wrong type, too many runs)."""
    start = body.rfind(DATA_OPEN)
    end = body.find(DATA_CLOSE, start + len(DATA_OPEN)) if start >= 0 else -1
    if start < 0 or end < 0:
        return Carried(branch)
    try:
        data = json.loads(body[start + len(DATA_OPEN) : end])
        if data.get("version") != DATA_VERSION or data.get("branch") != branch:
            return Carried(branch)
        carried = Carried(
            branch,
            [CarriedRun(**run) for run in data["runs"]],
            Earlier(**data["earlier"]),
            [str(key) for key in data["folded"]],
        )
        return carried if _valid(carried) else Carried(branch)
    except (ValueError, KeyError, TypeError, AttributeError):
        return Carried(branch)


def _data_block(carried: Carried) -> str:
    data = {"version": DATA_VERSION, **asdict(carried)}
    text = json.dumps(data, separators=(",", ":"), sort_keys=True)
    # '>' appears only inside JSON strings, where \u003e means the same: the block can then
    # never hold the "-->" that would end the HTML comment early.
    return DATA_OPEN + text.replace(">", "\\u003e") + DATA_CLOSE


# --- merging ----------------------------------------------------------------------------


def merge(carried: Carried, local: Sequence[RunRow]) -> Carried:
    """Add (or refresh) the ledger's runs, then fold the oldest beyond KEEP_RUNS."""
    folded = set(carried.folded)
    runs = {r.key: r for r in carried.runs}
    for row in local:
        if row.run_key[:KEY_PREFIX] not in folded:
            runs[row.run_key] = CarriedRun.from_row(row)
    ordered = sorted(runs.values(), key=lambda r: (r.started, r.key))
    merged = Carried(carried.branch, ordered, Earlier(**asdict(carried.earlier)), carried.folded)
    overflow = ordered[: max(0, len(ordered) - KEEP_RUNS)]
    for run in overflow:
        merged.earlier.runs += 1
        merged.earlier.gpu_seconds += run.gpu_seconds
        merged.earlier.kwh += run.kwh or 0.0
        merged.earlier.unmeasured += int(run.kwh is None and run.gpu_seconds > 0)
        merged.earlier.cost += run.cost
    merged.runs = ordered[len(overflow) :]
    keys = [*carried.folded, *(run.key[:KEY_PREFIX] for run in overflow)]
    merged.folded = keys[-KEEP_FOLDED_KEYS:]
    return merged


# --- rendering --------------------------------------------------------------------------


def _status(run: CarriedRun) -> str:
    status = f"exit {run.exit_code}" if run.complete else "incomplete"
    return f"{status}, replayed" if run.source == "replay" else status


def _chart(carried: Carried) -> list[str]:
    """Cumulative cost over the latest runs, as a mermaid line GitHub renders."""
    if len(carried.runs) < 2:
        return []
    total = carried.cost - sum(r.cost for r in carried.runs[-CHART_POINTS:])
    points = []
    for run in carried.runs[-CHART_POINTS:]:
        total += run.cost
        points.append(total)
    first = carried.run_count - len(points) + 1
    labels = ", ".join(str(first + i) for i in range(len(points)))
    return [
        "```mermaid",
        "xychart-beta",
        '    title "Cumulative GPU cost of the branch (USD) by run"',
        f"    x-axis [{labels}]",
        f'    y-axis "USD" 0 --> {max(points) * 1.1 or 1.0:.2f}',
        f"    line [{', '.join(f'{p:.2f}' for p in points)}]",
        "```",
        "",
    ]


def render(carried: Carried, findings: Sequence[Finding], rates_date: str) -> str:
    """The whole comment: marker, summary, latest runs, chart, checks, hidden data."""
    replayed = sum(1 for r in carried.runs if r.source == "replay")
    energy = f"{carried.kwh:.3f} kWh"
    if carried.unmeasured:
        energy += f" ({carried.unmeasured} run(s) not measurable)"
    lines = [
        MARKER,
        f"### GPU cost of {markdown_code(carried.branch, table=False)}",
        "",
        f"**${carried.cost:,.2f}** over {carried.run_count} run(s)"
        + (f" ({replayed} replayed from recorded traces)" if replayed else "")
        + f": {carried.gpu_seconds / 3600:.3f} GPU-hours, {energy}.",
        "",
    ]
    if findings:
        lines += [render_markdown(findings, "Thresholds").rstrip(), ""]
    lines += [
        "| Started (UTC) | Commit | GPUs | GPU-hours | kWh | Cost | Status |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for run in reversed(carried.runs[-SHOWN_RUNS:]):
        energy_cell = "n/a" if run.kwh is None and run.gpu_seconds > 0 else f"{run.kwh or 0:.3f}"
        lines.append(
            f"| {utc(run.started)} | {markdown_code(run.commit[:7])} "
            f"| {markdown_text(run.gpus or 'no GPU')} "
            f"| {run.gpu_seconds / 3600:.3f} | {energy_cell} | ${run.cost:,.2f} | {_status(run)} |"
        )
    hidden = carried.run_count - min(SHOWN_RUNS, len(carried.runs))
    if hidden:
        lines.append(f"\n*{hidden} earlier run(s) are counted in the totals above.*")
    lines += ["", *_chart(carried)]
    lines += [
        f"<sub>Updated by `claudio-ci gpu comment`. Cost = GPU-hours x hourly rate "
        f"(gpu.hourly_rates, else approximate on-demand list prices of {rates_date}). "
        "Every run's figures are carried in this comment, so no other store is needed.</sub>",
        _data_block(carried),
    ]
    return "\n".join(lines) + "\n"


def visible_part(body: str) -> str:
    """The comment without its hidden data, for the step summary."""
    start = body.rfind(DATA_OPEN)
    return body[:start].rstrip() + "\n" if start >= 0 else body
