"""The only module that reads NVML, through NVIDIA's own bindings (nvidia-ml-py, `import pynvml`).

Device facts (UUID, name, MIG layout, which counters exist) are read once; a sample reads
memory, the total-energy counter (mJ, Volta and newer) or else the power draw (mW), and
the compute, graphics and MPS process lists. Any NVML error on one reading leaves that reading
None instead of stopping the run.

In a container with its own pid namespace, older drivers list the host's pids, which the
container cannot see: such a list cannot tell the command's processes from others, so it
is read as no list at all (the GPUs `CUDA_VISIBLE_DEVICES` names are then charged), and
`notices` says so once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from claudio_ci.adapters.procfs import is_alive
from claudio_ci.gpu.readings import DeviceReading, GpuUnavailable, ProcessUse, Snapshot

FOREIGN_PIDS = (
    "NVML lists processes by ids this machine's /proc does not show (a container without "
    "--pid=host?): GPU time goes to the GPUs CUDA_VISIBLE_DEVICES names (claudio-ci gpu run "
    "--gpus N sets it)"
)


# Each process list through its newest call first; MPS clients appear only in the last.
PROCESS_LISTS = {
    kind: (f"nvmlDeviceGet{name}RunningProcesses_v3", f"nvmlDeviceGet{name}RunningProcesses_v2")
    for kind, name in (("compute", "Compute"), ("graphics", "Graphics"), ("mps", "MPSCompute"))
}


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def load_nvml() -> Any:
    """The initialised `pynvml` module, or GpuUnavailable with the reason in one line."""
    try:
        import pynvml
    except ImportError:
        raise GpuUnavailable(
            "nvidia-ml-py is not installed (pip install 'claudio-ci[gpu]')"
        ) from None
    if not hasattr(pynvml, "_nvmlGetFunctionPointer"):
        raise GpuUnavailable(
            "the deprecated `pynvml` package hides NVIDIA's nvidia-ml-py: "
            "pip uninstall pynvml && pip install nvidia-ml-py"
        )
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        raise GpuUnavailable("no NVIDIA driver (libnvidia-ml.so.1 not found)") from None
    except pynvml.NVMLError_DriverNotLoaded:
        raise GpuUnavailable("the NVIDIA driver is not loaded") from None
    except pynvml.NVMLError as exc:
        raise GpuUnavailable(f"NVML did not start: {exc}") from None
    return pynvml


@dataclass(frozen=True)
class _Device:
    handle: Any
    index: int
    uuid: str
    name: str
    memory_total: int
    has_energy: bool = False
    has_power: bool = False
    mig: bool = False
    parent_uuid: str | None = None
    share: float = 1.0


class NvmlSource:
    """Live readings of every GPU (or MIG slice) this machine's NVML can see."""

    kind = "nvml"
    label = "NVML"

    def __init__(self) -> None:
        self._nvml = load_nvml()
        self.notices: list[str] = []
        self._seen_alive: set[int] = set()  # listed pids this machine's /proc has shown
        self._list_calls = {kind: list(calls) for kind, calls in PROCESS_LISTS.items()}
        try:
            self.devices = self._enumerate()
        except self._nvml.NVMLError as exc:
            self.close()
            raise GpuUnavailable(f"NVML could not list the GPUs: {exc}") from None
        if not self.devices:
            self.close()
            raise GpuUnavailable("no NVIDIA GPU found")

    # --- device facts, read once --------------------------------------------------------

    def _enumerate(self) -> list[_Device]:
        nvml = self._nvml
        devices: list[_Device] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = _text(nvml.nvmlDeviceGetUUID(handle))
            if self._mig_enabled(handle):
                devices += self._mig_slices(handle, index, uuid)
                continue
            devices.append(
                _Device(
                    handle,
                    index,
                    uuid,
                    _text(nvml.nvmlDeviceGetName(handle)),
                    int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                    has_energy=self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
                    is not None,
                    has_power=self._call(nvml.nvmlDeviceGetPowerUsage, handle) is not None,
                )
            )
        return devices

    def _mig_enabled(self, handle: Any) -> bool:
        mode = self._call(self._nvml.nvmlDeviceGetMigMode, handle)
        return bool(mode) and mode[0] == self._nvml.NVML_DEVICE_MIG_ENABLE

    def _mig_slices(self, parent: Any, index: int, parent_uuid: str) -> list[_Device]:
        nvml = self._nvml
        profiles = (
            self._call(nvml.nvmlDeviceGetGpuInstanceProfileInfo, parent, profile)
            for profile in range(nvml.NVML_GPU_INSTANCE_PROFILE_COUNT)
        )  # the largest GPU-instance profile spans the whole board; listing the profiles
        # may need privileges, and then the most 1-slice devices the board can hold is it
        slots = nvml.nvmlDeviceGetMaxMigDeviceCount(parent)
        board_slices = max((p.sliceCount for p in profiles if p is not None), default=0) or slots
        slices = []
        for slot in range(slots):
            try:
                handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(parent, slot)
            except nvml.NVMLError_NotFound:
                continue  # an empty slot
            memory = int(nvml.nvmlDeviceGetMemoryInfo(handle).total)
            slices.append(
                _Device(
                    handle,
                    index,
                    _text(nvml.nvmlDeviceGetUUID(handle)),
                    _text(nvml.nvmlDeviceGetName(handle)),
                    memory,
                    mig=True,
                    parent_uuid=parent_uuid,
                    share=self._slice_share(parent, handle, memory, board_slices),
                )
            )
        return slices

    def _slice_share(self, parent: Any, handle: Any, memory: int, board_slices: int) -> float:
        """The slice's part of the board: its compute slices out of the board's (a 1g slice
        of an H100 is 1/7), else its memory out of the board's, else the whole board."""
        nvml = self._nvml
        attributes = self._call(nvml.nvmlDeviceGetAttributes_v2, handle)
        if attributes is not None and attributes.computeInstanceSliceCount and board_slices:
            slices: int = attributes.computeInstanceSliceCount
            return min(1.0, slices / board_slices)
        board = self._call(nvml.nvmlDeviceGetMemoryInfo, parent)  # may need privileges
        return min(1.0, memory / board.total) if board is not None and board.total else 1.0

    # --- samples -------------------------------------------------------------------------

    def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except self._nvml.NVMLError:
            return None

    def _process_list(self, kind: str, handle: Any) -> list[Any] | None:
        """One of the device's process lists through the newest version of the call this
        driver exports (older drivers lack the `_v3` ones); None when NVML cannot tell."""
        versions = self._list_calls[kind]
        while versions:
            try:
                processes: list[Any] = getattr(self._nvml, versions[0])(handle)
                return processes
            except self._nvml.NVMLError_FunctionNotFound:
                versions.pop(0)
            except self._nvml.NVMLError:
                return None
        return None

    def _processes(self, handle: Any) -> tuple[tuple[ProcessUse, ...] | None, int]:
        """The device's processes (None: not known), and how many foreign pids it lists."""
        compute = self._process_list("compute", handle)
        if compute is None:  # the list that matters for training: unknown, not empty
            return None, 0
        others = [self._process_list(kind, handle) or [] for kind in ("graphics", "mps")]
        memory: dict[int, int | None] = {}
        for process in (p for found in (compute, *others) for p in found):
            used, known = process.usedGpuMemory, memory.get(process.pid)
            memory[process.pid] = used if known is None else max(known, used or 0)
        seen = {pid for pid in memory if pid in self._seen_alive or is_alive(pid)}
        self._seen_alive |= seen
        if memory and not seen:  # none ever seen here; one that has since exited was
            if FOREIGN_PIDS not in self.notices:
                self.notices.append(FOREIGN_PIDS)
            return None, len(memory)
        return tuple(ProcessUse(pid, used) for pid, used in sorted(memory.items())), 0

    def _reading(self, device: _Device) -> DeviceReading:
        nvml = self._nvml
        memory = self._call(nvml.nvmlDeviceGetMemoryInfo, device.handle)
        processes, foreign = self._processes(device.handle)
        return DeviceReading(
            index=device.index,
            uuid=device.uuid,
            name=device.name,
            memory_used=int(memory.used) if memory is not None else 0,
            memory_total=device.memory_total,
            energy_mj=self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, device.handle)
            if device.has_energy
            else None,
            power_mw=self._call(nvml.nvmlDeviceGetPowerUsage, device.handle)
            if device.has_power
            else None,
            processes=processes,
            mig=device.mig,
            parent_uuid=device.parent_uuid,
            share=device.share,
            foreign=foreign,
        )

    def read(self) -> Snapshot:
        return Snapshot(time.monotonic(), tuple(self._reading(d) for d in self.devices))

    def drain(self) -> Iterable[Snapshot]:
        return [self.read()]

    def close(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()
