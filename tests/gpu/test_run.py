"""`claudio-ci gpu run`: exit codes and signals pass through, the ledger is kept current."""

from __future__ import annotations

import ctypes.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from claudio_ci.gpu.ledger import FILENAME
from claudio_ci.gpu.pricing import Pricing
from claudio_ci.gpu.runner import RunRequest, run
from tests.conftest import RunCli
from tests.gitutil import add_worktree, git
from tests.gpu.builders import SHIPPED_TRACES, steady_trace, write_trace
from tests.gpu.runs import CLAUDIO, claudio, rows

NO_DRIVER_LINE = (
    "claudio-ci gpu: no NVIDIA driver (libnvidia-ml.so.1 not found): GPU cost not measured "
    "(recorded as $0); running the command"
)
needs_no_driver = pytest.mark.skipif(
    ctypes.util.find_library("nvidia-ml") is not None, reason="an NVIDIA driver is installed here"
)
H100_TRACE = str(SHIPPED_TRACES / "h100-training.jsonl")
Claudio = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def claudio_here(run_cli: RunCli) -> Claudio:
    """`claudio(cwd, *args)` in this process, for replayed runs (no NVML, no signal from
    outside): what they test is the ledger, not the process around the command."""

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        code, out, err = run_cli(*args, cwd=cwd)
        return subprocess.CompletedProcess(["claudio-ci", *args], code, out, err)

    return run


WAIT_FOR_SIGNAL = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(42))\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@needs_no_driver
def test_without_a_driver_one_line_zero_cost_and_the_exit_code_passes(git_repo: Path) -> None:
    code = "print('training'); raise SystemExit(3)"
    proc = claudio(git_repo, "gpu", "run", "--", sys.executable, "-c", code)
    assert proc.returncode == 3
    assert proc.stdout == "training\n"
    assert proc.stderr.splitlines() == [NO_DRIVER_LINE]
    (row,) = rows(git_repo)
    assert (row["branch"], row["source"], row["cost"], row["gpu_seconds"]) == ("main", "none", 0, 0)
    assert (row["complete"], row["exit_code"]) == (1, 3)
    assert row["commit_sha"] == git(git_repo, "rev-parse", "HEAD").strip()
    assert row["command"].endswith("-c 'print('\"'\"'training'\"'\"'); raise SystemExit(3)'")


def test_a_command_killed_by_a_signal_exits_128_plus_the_signal(git_repo: Path) -> None:
    proc = claudio(git_repo, "gpu", "run", "--", "sh", "-c", "kill -TERM $$")
    assert proc.returncode == 128 + signal.SIGTERM
    assert rows(git_repo)[0]["exit_code"] == 128 + signal.SIGTERM


@pytest.mark.parametrize(
    ("sent", "expected"), [(signal.SIGTERM, 42), (signal.SIGINT, 128 + signal.SIGINT)]
)
def test_signals_to_claudio_ci_go_on_to_the_command(
    git_repo: Path, sent: signal.Signals, expected: int
) -> None:
    wrapper = subprocess.Popen(
        [*CLAUDIO, "gpu", "run", "--", sys.executable, "-c", WAIT_FOR_SIGNAL],
        cwd=git_repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wrapper.stdout.readline() == "ready\n"
    wrapper.send_signal(sent)
    assert wrapper.wait(timeout=30) == expected
    assert rows(git_repo)[0]["exit_code"] == expected


def test_a_killed_run_leaves_an_incomplete_record_as_of_its_last_sample(
    git_repo: Path, tmp_path: Path
) -> None:
    trace = write_trace(tmp_path / "long.jsonl", steady_trace(seconds=3000))  # 30 s at 100/s
    sleeper = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    fast = ["--set", "gpu.sample_interval_seconds=0.01"]
    wrapper = subprocess.Popen(
        [
            *CLAUDIO,
            "gpu",
            "run",
            "--replay",
            str(trace),
            *fast,
            "--",
            sys.executable,
            "-c",
            sleeper,
        ],
        cwd=git_repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    command_pid = int(wrapper.stdout.readline())
    try:
        while not rows(git_repo) or rows(git_repo)[0]["gpu_seconds"] < 5:
            time.sleep(0.01)  # polling: samples land every 10 ms
    finally:
        wrapper.kill()
        wrapper.wait()
        os.kill(command_pid, signal.SIGKILL)
    (row,) = rows(git_repo)
    assert (row["complete"], row["ended"], row["exit_code"]) == (0, None, None)
    # the steady trace uses its GPU from t=0: the record is exactly the usage at a sample
    assert row["gpu_seconds"] >= 5
    assert row["gpu_seconds"] == int(row["gpu_seconds"])
    assert row["cost"] == pytest.approx(row["gpu_seconds"] / 3600 * 3.95)
    assert row["last_sample"] > row["started"]
    report = claudio(git_repo, "gpu", "report")
    assert "incomplete" in report.stdout
    assert "main: GPU005 [notice] 1 run(s) did not finish" in report.stdout


def test_a_replayed_run_is_priced_labelled_and_checked_against_the_threshold(
    git_repo: Path, claudio_here: Claudio
) -> None:
    proc = claudio_here(
        git_repo,
        "gpu",
        "run",
        "--replay",
        H100_TRACE,
        "--set",
        "resources.cost_warning_threshold=1",
        "--",
        "true",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "claudio-ci gpu: main: 1 GPU (NVIDIA H100 80GB HBM3), 0.658 GPU-h, 0.394 kWh, $2.60; "
        "branch total $2.60 (claudio-ci gpu report)",
        "claudio-ci gpu: main: GPU002 [warning] GPU cost $2.60 is over "
        "resources.cost_warning_threshold ($1.00)",
    ]
    (row,) = rows(git_repo)
    assert (row["source"], row["note"]) == ("replay", "replay of h100-training.jsonl")


def test_a_recorded_trace_replays_to_the_same_figures(
    git_repo: Path, tmp_path: Path, claudio_here: Claudio
) -> None:
    claudio = claudio_here
    recorded = tmp_path / "recorded.jsonl"
    first = claudio(git_repo, "gpu", "run", "--replay", H100_TRACE, "--record", str(recorded))
    assert first.returncode == 2  # no command
    first = claudio(
        git_repo, "gpu", "run", "--replay", H100_TRACE, "--record", str(recorded), "--", "true"
    )
    second = claudio(git_repo, "gpu", "run", "--replay", str(recorded), "--", "true")
    assert first.returncode == second.returncode == 0
    a, b = rows(git_repo)
    assert (a["gpu_seconds"], a["energy_j"], a["cost"]) == (
        b["gpu_seconds"],
        b["energy_j"],
        b["cost"],
    )
    header = json.loads(recorded.read_text(encoding="utf-8").splitlines()[0])
    assert (header["origin"], header["note"]) == ("replay", "true")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--"], "gpu run: give the command after --"),
        (["--gpus", "0", "--", "true"], "--gpus 0: ask for at least one GPU"),
        (["--gpus", "1", "--replay", H100_TRACE, "--", "true"], "cannot be combined with --replay"),
        (["--replay", "missing.jsonl", "--", "true"], "missing.jsonl: no such trace file"),
    ],
)
def test_bad_requests_are_one_line_and_exit_2(
    git_repo: Path, args: list[str], message: str, run_cli: RunCli
) -> None:
    code, out, err = run_cli("gpu", "run", *args, cwd=git_repo)  # refused before running
    assert (code, out) == (2, "")
    assert message in err
    assert len(err.splitlines()) == 1


def test_a_command_that_does_not_exist_exits_127(git_repo: Path) -> None:
    proc = claudio(git_repo, "gpu", "run", "--replay", H100_TRACE, "--", "no-such-command-x")
    assert proc.returncode == 127
    assert proc.stderr.splitlines()[0] == (
        "claudio-ci gpu: cannot run no-such-command-x: No such file or directory"
    )


def test_gpus_reserves_a_free_gpu_and_sets_cuda_visible_devices(
    git_repo: Path, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    state = git_repo / ".git" / "claudio"
    request = RunRequest(
        command=["sh", "-c", f'printf %s "$CUDA_VISIBLE_DEVICES" > {seen}'],
        branch="b",
        worktree=git_repo,
        commit=None,
        ledger_path=state / FILENAME,
        state_dir=state,
        pricing=Pricing(),
        interval=0.01,
        gpus=1,
        replay=Path(H100_TRACE),
    )
    result = run(request)
    assert result.exit_code == 0
    # GPU 1 runs someone else's pid 999: GPU 0 is the free one
    assert seen.read_text() == "GPU-1d8c2f3a-8b47-4b5e-9b62-3f0c9d1e7a01"
    assert [g.usage.uuid for g in result.gpus] == ["GPU-1d8c2f3a-8b47-4b5e-9b62-3f0c9d1e7a01"]
    assert json.loads((state / "gpu-reservations.json").read_text()) == []


def test_every_worktree_writes_the_same_ledger(git_repo: Path) -> None:
    worktree = add_worktree(git_repo, "cd34", "claudio/cd34-attention")
    assert claudio(worktree, "gpu", "run", "--replay", H100_TRACE, "--", "true").returncode == 0
    assert claudio(git_repo, "gpu", "run", "--", "true").returncode == 0
    assert [r["branch"] for r in rows(git_repo)] == ["claudio/cd34-attention", "main"]
    assert rows(git_repo)[0]["worktree"] == str(worktree.resolve())


def test_a_relative_ledger_setting_is_shared_from_the_main_worktree(git_repo: Path) -> None:
    worktree = add_worktree(git_repo, "ef56", "claudio/ef56-optimizer")
    setting = ["--set", "gpu.ledger=costs/gpu.sqlite3"]
    assert claudio(worktree, "gpu", "run", *setting, "--", "true").returncode == 0
    assert (git_repo / "costs" / "gpu.sqlite3").is_file()
    report = claudio(git_repo, "gpu", "report", "--format", "json", *setting)
    assert [b["branch"] for b in json.loads(report.stdout)["branches"]] == [
        "claudio/ef56-optimizer"
    ]


def test_a_damaged_ledger_fails_the_report_but_never_the_training(git_repo: Path) -> None:
    for _ in range(2):
        assert claudio(git_repo, "gpu", "run", "--replay", H100_TRACE, "--", "true").returncode == 0
    path = git_repo / ".git" / "claudio" / FILENAME
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with path.open("r+b") as handle:  # scribble over the runs table's first page
        handle.seek((root - 1) * page)
        handle.write(b"\xff" * 100)
    damaged = f"{path}: GPU ledger: database disk image is malformed"
    report = claudio(git_repo, "gpu", "report")
    assert (report.returncode, report.stderr) == (2, f"claudio-ci: error: {damaged}\n")
    run = claudio(git_repo, "gpu", "run", "--replay", H100_TRACE, "--", "sh", "-c", "exit 3")
    assert run.returncode == 3  # the command ran, its exit code came back
    assert run.stderr.splitlines() == [
        f"claudio-ci gpu: {damaged}: GPU cost not recorded; running the command",
        "claudio-ci gpu: main: 1 GPU (NVIDIA H100 80GB HBM3), 0.658 GPU-h, 0.394 kWh, $2.60; "
        "not recorded in the ledger",
    ]


def test_a_ledger_path_sqlite_cannot_open_is_one_line(git_repo: Path) -> None:
    (git_repo / "costs").mkdir()
    setting = ["--set", "gpu.ledger=costs"]  # a directory
    run = claudio(git_repo, "gpu", "run", *setting, "--", "sh", "-c", "exit 4")
    assert run.returncode == 4
    assert run.stderr.splitlines()[-1] == (
        f"claudio-ci gpu: {git_repo / 'costs'}: GPU ledger: unable to open database file: "
        "GPU cost not recorded; running the command"
    )
    report = claudio(git_repo, "gpu", "report", *setting)
    assert (report.returncode, report.stderr) == (
        2,
        f"claudio-ci: error: {git_repo / 'costs'}: GPU ledger: unable to open database file\n",
    )
