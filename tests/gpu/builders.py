"""Recorded-style NVML readings for the tests, built in a line each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from claudio_ci.gpu.ledger import Ledger, PricedGpu, RunStart
from claudio_ci.gpu.pricing import Pricing
from claudio_ci.gpu.readings import DeviceReading, ProcessUse, Snapshot
from claudio_ci.gpu.trace import EXAMPLES, FORMAT_KEY, FORMAT_VERSION, snapshot_to_json
from claudio_ci.gpu.usage import GpuUsage

GIB = 1 << 30
ROOT = 4242  # the recorded command's pid
H100 = "NVIDIA H100 80GB HBM3"
SHIPPED_TRACES = EXAMPLES


def gpu(
    index: int = 0,
    *,
    uuid: str | None = None,
    name: str = H100,
    procs: Sequence[tuple[int, int | None]] | None = (),
    energy: int | None = None,
    power: int | None = None,
    memory_used: int = 0,
    mig: bool = False,
    parent: str | None = None,
    share: float = 1.0,
    foreign: int = 0,
) -> DeviceReading:
    return DeviceReading(
        index=index,
        uuid=uuid or f"GPU-{index:08d}-aaaa-bbbb-cccc-000000000000",
        name=name,
        memory_used=memory_used,
        memory_total=80 * GIB,
        energy_mj=energy,
        power_mw=power,
        processes=None if procs is None else tuple(ProcessUse(p, m) for p, m in procs),
        mig=mig,
        parent_uuid=parent,
        share=share,
        foreign=foreign,
    )


def snap(t: float, *devices: DeviceReading, tree: Iterable[int] | None = (ROOT,)) -> Snapshot:
    return Snapshot(t, tuple(devices), None if tree is None else frozenset(tree))


def write_trace(path: Path, snapshots: Iterable[Snapshot]) -> Path:
    import json

    lines = [json.dumps({FORMAT_KEY: FORMAT_VERSION, "origin": "test"})]
    lines += [json.dumps(snapshot_to_json(s)) for s in snapshots]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def steady_trace(seconds: int, step: float = 1.0, power: int = 300_000) -> list[Snapshot]:
    """One H100 the command uses from t=0 on, energy counter and power at `power` mW."""
    return [
        snap(
            k * step,
            gpu(procs=[(ROOT, 4 * GIB)], energy=int(power * k * step), power=power),
        )
        for k in range(int(seconds / step) + 1)
    ]


def add_run(
    ledger: Ledger,
    branch: str,
    usage: list[GpuUsage],
    *,
    started: float,
    source: str = "nvml",
    complete: bool = True,
    key: str | None = None,
) -> None:
    """A finished (or killed) run in the ledger, priced with the shipped rates."""
    note = "replay of t.jsonl" if source == "replay" else ""
    run_id = ledger.start(
        RunStart(
            key or f"{branch}-{started}",
            branch,
            "/wt",
            "abc1234",
            "python train.py",
            started,
            "elsewhere",
            1,
            source,
            note,
        )
    )
    priced = [PricedGpu(u, Pricing().cost(u)) for u in usage]
    ledger.record(
        run_id, priced, started + 60, exit_code=0 if complete else None, complete=complete
    )
