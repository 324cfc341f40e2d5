"""From snapshots to what a command used: GPU-seconds held, energy, peak memory, per GPU.

A device counts as used at a snapshot when one of the command's processes has a context
on it (NVML's per-process lists). Between two snapshots the device is charged the interval
weighted by the trapezoid rule on that 0/1 signal: a full interval when used at both ends,
half when at one. Energy follows the practice of Zeus and codecarbon: the delta of the
total-energy counter (mJ, Volta and newer) where the device has one, else power (mW)
integrated with the trapezoid rule; a MIG slice's energy is not measurable (NVML reports
only the whole board), so it stays None, as does any device that reports neither.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass

from claudio_ci.gpu.readings import DeviceReading, ProcessUse, Snapshot
from claudio_ci.gpu.visible import Visibility, visibility

MJ_PER_KWH = 3.6e9


@dataclass
class GpuUsage:
    uuid: str
    name: str
    mig: bool = False
    share: float = 1.0
    seconds: float = 0.0
    energy_mj: float | None = 0.0  # None: not measurable
    peak_memory: int = 0

    @property
    def kwh(self) -> float | None:
        return None if self.energy_mj is None else self.energy_mj / MJ_PER_KWH


@dataclass(frozen=True)
class _Previous:
    time: float
    in_use: bool
    energy_mj: int | None
    power_mw: int | None


def _interval_energy(device: DeviceReading, before: _Previous, seconds: float) -> float | None:
    """Board energy over one interval in mJ, None when it cannot be measured."""
    if device.mig:
        return None
    if device.energy_mj is not None and before.energy_mj is not None:
        delta = device.energy_mj - before.energy_mj
        if delta >= 0:  # a negative delta is a driver reload: fall back to power
            return float(delta)
    if device.power_mw is not None and before.power_mw is not None:
        return (device.power_mw + before.power_mw) / 2 * seconds
    return None


class UsageMeter:
    """Accumulates the usage of one command's process tree over a run's snapshots."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(environ or {})
        self._visibility: Visibility | None = None
        self._previous: dict[str, _Previous] = {}
        self._usage: dict[str, GpuUsage] = {}

    def add(self, snapshot: Snapshot, tree: Container[int]) -> frozenset[int]:
        """Account for one snapshot; the command's pids seen on a GPU in it."""
        if self._visibility is None:
            self._visibility = visibility(self._environ, snapshot.devices)
        ours: set[int] = set()
        for device in snapshot.devices:
            if self._visibility.admits(device):
                ours |= self._add_device(snapshot.time, device, tree, self._visibility)
        return frozenset(ours)

    def _add_device(
        self, time: float, device: DeviceReading, tree: Container[int], visible: Visibility
    ) -> set[int]:
        if device.processes is None:
            ours: list[ProcessUse] = []
            in_use = visible.names(device)
            memory = device.memory_used
        else:
            ours = [p for p in device.processes if p.pid in tree]
            in_use = bool(ours)
            known = [p.memory for p in ours if p.memory is not None]
            memory = sum(known) if len(known) == len(ours) else device.memory_used
        before = self._previous.get(device.uuid)
        self._previous[device.uuid] = _Previous(time, in_use, device.energy_mj, device.power_mw)
        if in_use:
            usage = self._usage_of(device)
            usage.peak_memory = max(usage.peak_memory, memory)
        weight = 0.0 if before is None else (before.in_use + in_use) / 2
        if before is not None and weight:
            seconds = time - before.time
            usage = self._usage_of(device)
            usage.seconds += seconds * weight
            energy = _interval_energy(device, before, seconds)
            if energy is None or usage.energy_mj is None:
                usage.energy_mj = None
            else:
                usage.energy_mj += energy * weight
        return {p.pid for p in ours}

    def _usage_of(self, device: DeviceReading) -> GpuUsage:
        if device.uuid not in self._usage:
            self._usage[device.uuid] = GpuUsage(
                device.uuid,
                device.name,
                device.mig,
                device.share,
                energy_mj=None if device.mig else 0.0,
            )
        return self._usage[device.uuid]

    def usage(self) -> list[GpuUsage]:
        """The GPUs the command used, in the order it first used them."""
        return list(self._usage.values())
