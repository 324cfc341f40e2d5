"""A ledger writer that the concurrency test runs in eight processes at once."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier
from pathlib import Path

from claudio_ci.gpu.ledger import Ledger, PricedGpu, RunStart
from claudio_ci.gpu.pricing import GpuCost
from claudio_ci.gpu.usage import GpuUsage

RUNS_EACH = 25
UPDATES = 5


def start(key: str, branch: str = "claudio/ab12-baseline", started: float = 1_700_000_000.0):
    return RunStart(key, branch, "/wt", "c" * 40, "python train.py", started, "host", 1, "nvml")


def priced(seconds: float, cost: float, energy_mj: float | None = 1000.0) -> list[PricedGpu]:
    usage = GpuUsage("GPU-1", "NVIDIA H100 80GB HBM3", seconds=seconds, energy_mj=energy_mj)
    return [PricedGpu(usage, GpuCost(3.95, "shipped", cost))]


def write_runs(path: str, writer: int, barrier: Barrier) -> None:
    """RUNS_EACH runs on branch b<writer>, each updated UPDATES times, then closed at $1."""
    with Ledger(Path(path)) as ledger:
        barrier.wait()
        for run in range(RUNS_EACH):
            run_id = ledger.start(start(f"w{writer}r{run}", branch=f"b{writer}"))
            for update in range(1, UPDATES + 1):
                ledger.record(run_id, priced(update, 0.01 * update), 1_700_000_100.0)
            ledger.record(run_id, priced(10, 1.0), 1_700_000_200.0, exit_code=0, complete=True)
