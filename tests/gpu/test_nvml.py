"""The NVML source: the real bindings without a driver, and the sampling logic against a
stand-in that answers like nvidia-ml-py (no GPU can be borrowed for these tests)."""

from __future__ import annotations

import ctypes.util
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from claudio_ci.gpu.nvml import NvmlSource, load_nvml
from claudio_ci.gpu.readings import GpuUnavailable, ProcessUse

GIB = 1 << 30
HAS_DRIVER = ctypes.util.find_library("nvidia-ml") is not None


@pytest.mark.skipif(HAS_DRIVER, reason="an NVIDIA driver is installed here")
def test_without_a_driver_the_real_bindings_give_one_clear_line() -> None:
    import pynvml  # nvidia-ml-py, the official bindings

    assert hasattr(pynvml, "_nvmlGetFunctionPointer")
    with pytest.raises(GpuUnavailable) as info:
        NvmlSource()
    assert str(info.value) == "no NVIDIA driver (libnvidia-ml.so.1 not found)"


class NVMLError(Exception):
    pass


class NotSupported(NVMLError):
    pass


class NotFound(NVMLError):
    pass


class DriverNotLoaded(NVMLError):
    pass


@dataclass
class Slice:
    uuid: str
    name: str
    total: int
    used: int = 0
    compute: list[tuple[int, int | None]] = field(default_factory=list)


@dataclass
class Board:
    uuid: str
    name: str
    total: int = 80 * GIB
    used: int = 0
    energy: int | None = None  # None: NotSupported (before Volta)
    power: int | None = None
    compute: list[tuple[int, int | None]] | None = field(default_factory=list)
    graphics: list[tuple[int, int | None]] | None = field(default_factory=list)
    slices: dict[int, Slice] | None = None  # MIG enabled: slot -> slice


class FakeNvml:
    """Answers as nvidia-ml-py does, from the boards above."""

    NVMLError = NVMLError
    NVMLError_NotSupported = NotSupported
    NVMLError_NotFound = NotFound
    NVMLError_LibraryNotFound = type("NVMLError_LibraryNotFound", (NVMLError,), {})
    NVMLError_DriverNotLoaded = DriverNotLoaded
    NVML_DEVICE_MIG_ENABLE = 1

    def __init__(self, boards: list[Board]) -> None:
        self.boards = boards
        self.shut_down = False

    def _nvmlGetFunctionPointer(self, name: str) -> None:
        """Present in the official bindings only."""

    def _of(self, handle: tuple[int, int | None]) -> Board | Slice:
        board = self.boards[handle[0]]
        return board if handle[1] is None else board.slices[handle[1]]

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        self.shut_down = True

    def nvmlDeviceGetCount(self) -> int:
        return len(self.boards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> tuple[int, None]:
        return (index, None)

    def nvmlDeviceGetUUID(self, handle: Any) -> str:
        return self._of(handle).uuid

    def nvmlDeviceGetName(self, handle: Any) -> bytes:  # older bindings return bytes
        return self._of(handle).name.encode()

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        device = self._of(handle)
        return types.SimpleNamespace(total=device.total, used=device.used)

    def nvmlDeviceGetMigMode(self, handle: Any) -> list[int]:
        if self._of(handle).slices is None:
            raise NotSupported
        return [1, 1]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: Any) -> int:
        return 7

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: Any, slot: int) -> Any:
        if slot not in (self._of(handle).slices or {}):
            raise NotFound
        return (handle[0], slot)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: Any) -> int:
        energy = getattr(self._of(handle), "energy", None)
        if energy is None:
            raise NotSupported
        return energy

    def nvmlDeviceGetPowerUsage(self, handle: Any) -> int:
        power = getattr(self._of(handle), "power", None)
        if power is None:
            raise NotSupported
        return power

    @staticmethod
    def _procs(found: list[tuple[int, int | None]] | None) -> list[Any]:
        if found is None:
            raise NotSupported
        return [types.SimpleNamespace(pid=p, usedGpuMemory=m) for p, m in found]

    def nvmlDeviceGetComputeRunningProcesses(self, handle: Any) -> list[Any]:
        return self._procs(self._of(handle).compute)

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: Any) -> list[Any]:
        return self._procs(getattr(self._of(handle), "graphics", None))


def _machine() -> FakeNvml:
    return FakeNvml(
        [
            Board(
                "GPU-h100",
                "NVIDIA H100 80GB HBM3",
                used=5 * GIB,
                energy=1_000,
                power=300_000,
                compute=[(10, 4 * GIB), (11, None)],
                graphics=[(10, 5 * GIB)],
            ),
            Board(
                "GPU-a100",
                "NVIDIA A100-SXM4-40GB",
                total=40 * GIB,
                energy=5,
                slices={
                    0: Slice("MIG-a", "NVIDIA A100-SXM4-40GB MIG 3g.20gb", 20 * GIB, 1, [(12, 1)]),
                    3: Slice("MIG-b", "NVIDIA A100-SXM4-40GB MIG 1g.5gb", 5 * GIB),
                },
            ),
            Board("GPU-v100", "Tesla V100-SXM2-16GB", power=90_000, compute=None, graphics=None),
        ]
    )


def test_boards_mig_slices_counters_and_processes_are_read_as_nvml_reports_them() -> None:
    nvml = _machine()
    source = NvmlSource(nvml)
    snapshot = source.read()
    h100, mig_a, mig_b, v100 = snapshot.devices
    assert (h100.uuid, h100.name, h100.energy_mj, h100.power_mw) == (
        "GPU-h100",
        "NVIDIA H100 80GB HBM3",
        1_000,
        300_000,
    )
    assert h100.processes == (ProcessUse(10, 5 * GIB), ProcessUse(11, None))  # merged by pid
    assert h100.memory_used == 5 * GIB
    assert (mig_a.uuid, mig_a.index, mig_a.mig, mig_a.parent_uuid) == ("MIG-a", 1, True, "GPU-a100")
    assert (mig_a.share, mig_b.share) == (0.5, 0.125)
    assert (mig_a.energy_mj, mig_a.power_mw) == (None, None)  # not measurable per slice
    assert mig_a.processes == (ProcessUse(12, 1),)
    assert (v100.energy_mj, v100.power_mw, v100.processes) == (None, 90_000, None)

    nvml.boards[0].energy = 61_000
    assert source.read().devices[0].energy_mj == 61_000
    assert [s.devices[0].energy_mj for s in source.drain()] == [61_000]
    source.close()
    assert nvml.shut_down


def test_a_machine_without_gpus_is_unavailable_in_one_line() -> None:
    nvml = FakeNvml([])
    with pytest.raises(GpuUnavailable, match=r"^no NVIDIA GPU found$"):
        NvmlSource(nvml)
    assert nvml.shut_down


def _install(monkeypatch: pytest.MonkeyPatch, module: object) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", module)


def test_the_deprecated_pynvml_package_is_named_as_the_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _install(monkeypatch, types.SimpleNamespace(nvmlInit=lambda: None))
    with pytest.raises(GpuUnavailable, match="deprecated `pynvml` package"):
        load_nvml()


def test_a_driver_that_is_not_loaded_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml([])

    def refuse() -> None:
        raise DriverNotLoaded

    nvml.nvmlInit = refuse  # type: ignore[method-assign]
    _install(monkeypatch, nvml)
    with pytest.raises(GpuUnavailable, match=r"^the NVIDIA driver is not loaded$"):
        load_nvml()
