"""From snapshots to what a command used: GPU-seconds held, energy, peak memory, per GPU.

A device counts as used at a snapshot when one of the command's processes has a context
on it (NVML's per-process lists are the evidence, whatever `CUDA_VISIBLE_DEVICES` says:
a child may set its own). Where NVML cannot list a device's processes, the device counts
as used when `CUDA_VISIBLE_DEVICES` names it, or, after a list failed only this once, as it
was at the previous snapshot. Between two snapshots the device is charged the interval
weighted by the trapezoid rule on that 0/1 signal: a full interval when used at both ends,
half when at one.

Energy follows the practice of Zeus and codecarbon: the delta of the total-energy counter
(mJ, Volta and newer) where the device has one, else power (mW) integrated with the
trapezoid rule. A reading that failed is bridged: the next good one measures the whole gap,
and the command is charged its held share of it. Held time no pair of good readings covers
(before the first, after the last, across a counter reset without a power reading) is
charged at the average power measured over the rest. A MIG slice's energy is not measurable
(NVML reports only the whole board), so it stays None, as does that of a device held while
no energy could ever be measured.
"""

from __future__ import annotations

import dataclasses
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
    listed: bool  # NVML listed the device's processes


@dataclass
class _EnergyMark:
    """The last reading with an energy counter or a power draw, and the GPU-seconds the
    command has held since (more than one interval when readings in between failed)."""

    time: float
    energy_mj: int | None
    power_mw: int | None
    held: float = 0.0


def _energy_between(device: DeviceReading, mark: _EnergyMark, seconds: float) -> float | None:
    """Board energy over the `seconds` from `mark` to `device` in mJ; None: not measurable."""
    if device.energy_mj is not None and mark.energy_mj is not None:
        delta = device.energy_mj - mark.energy_mj
        if delta >= 0:  # a negative delta is a driver reload: fall back to power
            return float(delta)
    if device.power_mw is not None and mark.power_mw is not None:
        return (device.power_mw + mark.power_mw) / 2 * seconds
    return None


class UsageMeter:
    """Accumulates the usage of one command's process tree over a run's snapshots."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = dict(environ or {})
        self._visibility: Visibility | None = None
        self._previous: dict[str, _Previous] = {}
        self._marks: dict[str, _EnergyMark] = {}
        self._covered: dict[str, float] = {}  # held seconds whose energy was measured
        self._usage: dict[str, GpuUsage] = {}

    def add(self, snapshot: Snapshot, tree: Container[int]) -> frozenset[int]:
        """Account for one snapshot; the command's pids seen on a GPU in it."""
        if self._visibility is None:
            self._visibility = visibility(self._environ, snapshot.devices)
        ours: set[int] = set()
        for device in snapshot.devices:
            ours |= self._add_device(snapshot.time, device, tree, self._visibility)
        return frozenset(ours)

    def _add_device(
        self, time: float, device: DeviceReading, tree: Container[int], visible: Visibility
    ) -> set[int]:
        before = self._previous.get(device.uuid)
        if device.processes is None:
            ours: list[ProcessUse] = []
            in_use = before.in_use if before and before.listed else visible.names(device)
            memory = device.memory_used
        else:
            ours = [p for p in device.processes if p.pid in tree]
            in_use = bool(ours)
            known = [p.memory for p in ours if p.memory is not None]
            memory = sum(known) if len(known) == len(ours) else device.memory_used
        self._previous[device.uuid] = _Previous(time, in_use, device.processes is not None)
        if in_use:
            usage = self._usage_of(device)
            usage.peak_memory = max(usage.peak_memory, memory)
        held = 0.0
        if before is not None and (before.in_use or in_use):
            held = (time - before.time) * (before.in_use + in_use) / 2
            self._usage_of(device).seconds += held
        if not device.mig:
            self._add_energy(time, device, held)
        return {p.pid for p in ours}

    def _add_energy(self, time: float, device: DeviceReading, held: float) -> None:
        mark = self._marks.get(device.uuid)
        if mark is not None:
            mark.held += held
        if device.energy_mj is None and device.power_mw is None:
            return  # a failed reading: the next good one measures across the gap
        if mark is not None and mark.held and time > mark.time:
            energy = _energy_between(device, mark, time - mark.time)
            usage = self._usage_of(device)
            if energy is not None and usage.energy_mj is not None:
                usage.energy_mj += energy * mark.held / (time - mark.time)
                self._covered[device.uuid] = self._covered.get(device.uuid, 0.0) + mark.held
        self._marks[device.uuid] = _EnergyMark(time, device.energy_mj, device.power_mw)

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
        return [self._with_uncovered_time(u) for u in self._usage.values()]

    def _with_uncovered_time(self, usage: GpuUsage) -> GpuUsage:
        """Held time no energy reading covered, charged at the average power measured over
        the rest; energy None when none of the held time was measured."""
        covered = self._covered.get(usage.uuid, 0.0)
        if usage.energy_mj is None or usage.seconds <= covered:
            return usage
        if not covered:
            return dataclasses.replace(usage, energy_mj=None)
        return dataclasses.replace(usage, energy_mj=usage.energy_mj * usage.seconds / covered)
