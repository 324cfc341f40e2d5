"""`claudio-ci gpu report`: every format, the thresholds, the filters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.core.errors import UsageError
from claudio_ci.gpu.ledger import FILENAME, Ledger
from claudio_ci.gpu.report import CHART_BARS, parse_since
from claudio_ci.gpu.usage import MJ_PER_KWH, GpuUsage
from tests.gpu.builders import add_run

DAY = 86400.0
NOW = dt.datetime.now(dt.timezone.utc).timestamp()
H100 = "NVIDIA H100 80GB HBM3"
MIG = "NVIDIA A100-SXM4-40GB MIG 3g.20gb"


@pytest.fixture
def seeded(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    with Ledger(git_repo / ".git" / "claudio" / FILENAME) as ledger:
        baseline, attention = "claudio/ab12-baseline", "claudio/cd34-attention"
        add_run(
            ledger,
            baseline,
            [GpuUsage("GPU-a", H100, seconds=3600, energy_mj=0.5 * MJ_PER_KWH)],
            started=NOW - 3 * DAY,
        )
        add_run(
            ledger,
            baseline,
            [GpuUsage("MIG-b", MIG, True, 0.5, 3600, None)],
            started=NOW - 2 * DAY,
            source="replay",
        )
        add_run(
            ledger,
            attention,
            [GpuUsage("GPU-a", H100, seconds=7200, energy_mj=MJ_PER_KWH)],
            started=NOW - DAY,
        )
        add_run(
            ledger,
            "main",
            [GpuUsage("GPU-z", "NVIDIA B200", seconds=600, energy_mj=0.0)],
            started=NOW - DAY / 2,
            complete=False,
        )
    return git_repo


def test_text_report(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "report"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "GPU cost per branch (ledger .git/claudio/gpu-ledger.sqlite3)"
    table = lines[2:7]
    assert table[0].split() == ["branch", "runs", "GPU-hours", "kWh", "cost", "(USD)"]
    assert table[1].split() == ["claudio/cd34-attention", "1", "2.000", "1.000", "$7.90"]
    assert table[2].split() == [
        "claudio/ab12-baseline",
        "2",
        "(1",
        "replayed)",
        "1.500",
        "0.500",
        "$4.69",
    ]
    assert table[3].split() == ["main", "1", "0.167", "0.000", "$0.00"]
    assert table[4].split() == ["total", "4", "(1", "replayed)", "3.667", "1.500", "$12.59"]
    costliest = out.split("Costliest runs\n")[1]
    assert costliest.index("$7.90") < costliest.index("$3.95") < costliest.index("$0.74")
    assert "exit 0, replay of t.jsonl" in costliest
    assert "incomplete" in costliest
    assert "approximate on-demand list prices of 2026-05-07" in out
    assert (
        "claudio/cd34-attention: GPU002 [warning] GPU cost $7.90 is over "
        "resources.cost_warning_threshold ($5.00)"
    ) in out
    assert ".claudio.yaml: GPU003 [notice] no hourly rate for NVIDIA B200" in out
    assert "claudio/ab12-baseline: GPU004 [notice] energy of 1 run(s) is not measurable" in out
    assert "main: GPU005 [notice] 1 run(s) did not finish" in out
    assert "GPU001" not in out


def test_over_the_cost_limit_is_an_error_and_exit_1(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("text", "markdown", "json"):
        assert main(["gpu", "report", "--format", fmt, "--set", "resources.cost_limit=5"]) == 1
        out = capsys.readouterr().out
        assert "GPU001" in out
    assert "GPU cost $7.90 is over resources.cost_limit ($5.00)" in out
    (seeded / ".claudio.yaml").write_text("resources:\n  cost_limit: 100\n", encoding="utf-8")
    assert main(["gpu", "report"]) == 0


def test_markdown_report_has_a_chart_github_renders(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gpu", "report", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### GPU cost per branch\n")
    assert "| `claudio/cd34-attention` | 1 | 2.000 | 1.000 | $7.90 |" in out
    assert "| **Total** | 4 (1 replayed) | 3.667 | 1.500 | **$12.59** |" in out
    chart = out.split("```mermaid\n")[1].split("```")[0].splitlines()
    assert chart == [
        "xychart-beta",
        '    title "GPU cost per branch (USD)"',
        '    x-axis ["claudio/cd34-attention", "claudio/ab12-baseline", "main"]',
        '    y-axis "USD" 0 --> 8.69',
        "    bar [7.90, 4.69, 0.00]",
    ]
    assert "#### Costliest runs" in out
    assert "| ⚠️ | `GPU002` | `claudio/cd34-attention` |" in out


def test_json_report(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "report", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["branch"] for b in data["branches"]] == [
        "claudio/cd34-attention",
        "claudio/ab12-baseline",
        "main",
    ]
    assert data["total"] == {
        "branch": "total",
        "runs": 4,
        "replayed": 1,
        "incomplete": 1,
        "gpu_hours": 3.666667,
        "kwh": 1.5,
        "energy_unmeasured_runs": 1,
        "cost": 12.59,
    }
    top = data["costliest"][0]
    assert (top["branch"], top["gpus"], top["cost"], top["status"]) == (
        "claudio/cd34-attention",
        H100,
        7.9,
        "exit 0",
    )
    mig = next(r for r in data["costliest"] if r["source"] == "replay")
    assert (mig["kwh"], mig["note"]) == (None, "replay of t.jsonl")
    assert sorted(f["code"] for f in data["findings"]) == ["GPU002", "GPU003", "GPU004", "GPU005"]
    assert data["rates"]["date"] == "2026-05-07"


def test_branch_and_since_filters(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "report", "--format", "json", "--branch", "claudio/ab12-baseline"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["branch"] for b in data["branches"]] == ["claudio/ab12-baseline"]
    assert main(["gpu", "report", "--format", "json", "--since", "36h"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [b["branch"] for b in data["branches"]] == ["claudio/cd34-attention", "main"]
    assert main(["gpu", "report", "--since", "2099-01-01"]) == 0
    assert "No GPU runs match." in capsys.readouterr().out


def test_no_ledger_yet_says_how_to_start_and_creates_nothing(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    assert main(["gpu", "report"]) == 0
    assert "No GPU runs recorded yet: run a command under `claudio-ci gpu run -- CMD`." in (
        capsys.readouterr().out
    )
    assert not (git_repo / ".git" / "claudio" / FILENAME).exists()


def test_a_state_dir_that_cannot_be_created_is_no_ledger_yet(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / ".git" / "claudio").write_text("", encoding="utf-8")  # as on a read-only disk
    monkeypatch.chdir(git_repo)
    assert main(["gpu", "report"]) == 0
    assert "No GPU runs recorded yet" in capsys.readouterr().out


def test_many_branches_fold_into_one_bar(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    with Ledger(git_repo / ".git" / "claudio" / FILENAME) as ledger:
        for n in range(CHART_BARS + 3):
            add_run(ledger, f"b{n:02d}", [GpuUsage("G", H100, seconds=36 * (n + 1))], started=NOW)
    assert main(["gpu", "report", "--format", "markdown"]) == 0
    chart = capsys.readouterr().out.split("```mermaid\n")[1]
    assert '"3 other branches"]' in chart
    assert "bar [0.59, 0.55, 0.51" in chart
    assert chart.split("bar [")[1].split("]")[0].endswith(", 0.24")  # 0.04 + 0.08 + 0.12


def test_since_accepts_relative_and_iso_times() -> None:
    assert parse_since("7d", now=1_000_000.0) == 1_000_000.0 - 7 * DAY
    assert parse_since("12h", now=100_000.0) == 100_000.0 - 12 * 3600
    assert parse_since("2026-05-01") == dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc).timestamp()
    assert parse_since("2026-05-01T02:00:00+02:00") == parse_since("2026-05-01")
    assert parse_since(None) is None
    with pytest.raises(UsageError, match="--since 'yesterday': expected 7d, 12h"):
        parse_since("yesterday")


@pytest.mark.parametrize("value", ["99999999999d", "0001-01-01T00:00+01:00", "9999-12-31T23:59-05"])
def test_since_beyond_what_a_date_can_show_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match=r"out of range \(years 1 to 9999, UTC\)"):
        parse_since(value, now=1_000_000.0)
