"""The ledger: schema, concurrent writers in several processes, incomplete runs."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from claudio_ci.core.errors import UsageError
from claudio_ci.gpu.ledger import SCHEMA_VERSION, Ledger
from tests.gpu.ledger_writer import RUNS_EACH, priced, start, write_runs

WRITERS = 8


def test_eight_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    writers = [
        context.Process(target=write_runs, args=(str(path), n, barrier)) for n in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    with Ledger(path) as ledger:
        totals = {t.branch: t for t in ledger.branch_totals()}
        runs = ledger.runs()
    assert len(runs) == WRITERS * RUNS_EACH
    assert len({r.run_key for r in runs}) == WRITERS * RUNS_EACH
    assert all(r.complete and r.exit_code == 0 for r in runs)
    assert sorted(totals) == [f"b{n}" for n in range(WRITERS)]
    assert all(t.runs == RUNS_EACH and t.cost == pytest.approx(RUNS_EACH) for t in totals.values())
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM run_gpus").fetchone()[0] == WRITERS * RUNS_EACH


def test_a_run_is_incomplete_until_it_is_closed(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        run_id = ledger.start(start("k"))
        (row,) = ledger.runs()
        assert (row.complete, row.ended, row.exit_code, row.gpu_seconds) == (False, None, None, 0)
        ledger.record(run_id, priced(30, 0.5, energy_mj=None), 1_700_000_030.0)
        (row,) = ledger.runs()
        assert (row.complete, row.gpu_seconds, row.energy_j, row.last_sample) == (
            False,
            30,
            None,
            1_700_000_030.0,
        )
        ledger.record(run_id, priced(40, 0.7), 1_700_000_040.0, exit_code=3, complete=True)
        (row,) = ledger.runs()
        assert (row.complete, row.exit_code, row.ended, row.energy_j) == (
            True,
            3,
            1_700_000_040.0,
            1.0,
        )
        assert row.models == "NVIDIA H100 80GB HBM3"


def test_filters_and_the_costliest_runs(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite3") as ledger:
        for n, (branch, when, cost) in enumerate(
            [("a", 100.0, 1.0), ("b", 200.0, 5.0), ("a", 300.0, 3.0), ("b", 400.0, 0.5)]
        ):
            run_id = ledger.start(start(f"k{n}", branch, when))
            ledger.record(run_id, priced(60, cost), when + 60, exit_code=0, complete=True)
        assert [r.cost for r in ledger.runs(costliest=2)] == [5.0, 3.0]
        assert [r.run_key for r in ledger.runs("a")] == ["k0", "k2"]
        assert [r.run_key for r in ledger.runs(since=250.0)] == ["k2", "k3"]
        assert [(t.branch, t.cost) for t in ledger.branch_totals()] == [("b", 5.5), ("a", 4.0)]
        assert [t.runs for t in ledger.branch_totals("a", since=250.0)] == [1]


def test_a_ledger_from_a_newer_claudio_ci_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    Ledger(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(UsageError, match="newer than this claudio-ci understands"):
        Ledger(path)


def test_a_file_that_is_not_a_database_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a usable GPU ledger"):
        Ledger(path)
