"""What one NVML sample holds, whichever source it came from (a live GPU or a trace)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ProcessUse:
    """A process with a context on a GPU; `memory` in bytes, None when NVML cannot tell."""

    pid: int
    memory: int | None = None


@dataclass(frozen=True)
class DeviceReading:
    """One GPU (or one MIG slice of it) at one instant.

    `energy_mj` is the total-energy counter (Volta and newer), `power_mw` the power draw;
    either is None when the device does not report it. A MIG slice reports neither:
    NVML cannot split a board's energy between its slices. `processes` is None when NVML
    cannot list the device's processes, or lists only pids of another pid namespace (a
    container's host): `foreign` counts those. `share` is the fraction of the physical
    board (1.0 for a whole GPU, its compute slices' part for a MIG slice).
    """

    index: int
    uuid: str
    name: str
    memory_used: int = 0
    memory_total: int = 0
    energy_mj: int | None = None
    power_mw: int | None = None
    processes: tuple[ProcessUse, ...] | None = ()
    mig: bool = False
    parent_uuid: str | None = None
    share: float = 1.0
    foreign: int = 0

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes or ()]


@dataclass(frozen=True)
class Snapshot:
    """Every device at one instant. `time` is in seconds on any monotonic clock.

    `tree` is the set of the command's own processes when the snapshot was recorded
    (a replayed trace); None for a live snapshot, whose processes are looked up in /proc.
    """

    time: float
    devices: tuple[DeviceReading, ...]
    tree: frozenset[int] | None = None


class Source(Protocol):
    """Where snapshots come from: NVML (`nvml.NvmlSource`) or a trace (`trace.ReplaySource`)."""

    label: str
    kind: str  # "nvml" or "replay"
    notices: list[str]  # one line each, for the user once the run ends

    def read(self) -> Snapshot | None:
        """The next snapshot; None when a replayed trace has nothing more."""

    def drain(self) -> Iterable[Snapshot]:
        """The readings that close a run: one last live sample, or the rest of a trace."""

    def close(self) -> None: ...


class GpuUnavailable(Exception):
    """No GPU can be measured here; the message says why in one line."""
