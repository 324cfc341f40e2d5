"""The NVML source through NVIDIA's real bindings (nvidia-ml-py), with the driver's library
replaced by the fake one in tests/gpu/fake_driver (no GPU can be borrowed for these tests)."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import time
import types

import pytest

from claudio_ci.gpu.nvml import FOREIGN_PIDS, NvmlSource, load_nvml
from claudio_ci.gpu.readings import GpuUnavailable, ProcessUse
from tests.gpu.fake_driver import GIB, Machine, unused_pid

HAS_DRIVER = ctypes.util.find_library("nvidia-ml") is not None
A100 = "NVIDIA A100-SXM4-40GB"


@pytest.mark.skipif(HAS_DRIVER, reason="an NVIDIA driver is installed here")
def test_without_a_driver_the_real_bindings_give_one_clear_line() -> None:
    code = (
        "import pynvml\n"
        "from claudio_ci.gpu.nvml import NvmlSource\n"
        "from claudio_ci.gpu.readings import GpuUnavailable\n"
        "assert hasattr(pynvml, '_nvmlGetFunctionPointer')  # nvidia-ml-py, the official one\n"
        "try:\n"
        "    NvmlSource()\n"
        "except GpuUnavailable as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert proc.stdout == "no NVIDIA driver (libnvidia-ml.so.1 not found)\n"


def _machine(fake_nvml: Machine) -> Machine:
    return (
        fake_nvml.gpu("GPU-h100", energy=1_000, watts=300)
        .gpu("GPU-a100", A100, memory=40 * GIB, mig=True, private=True, watts=250)
        .mig("GPU-a100", 0, "MIG-a", f"{A100} MIG 3g.20gb", 20 * GIB, slices=3)
        .mig("GPU-a100", 3, "MIG-b", f"{A100} MIG 1g.5gb", 5 * GIB, slices=1)
        .gpu("GPU-v100", "Tesla V100-SXM2-16GB", energy=None, processes=False, watts=90)
        .proc("GPU-h100", os.getpid(), 4 * GIB)
        .proc("GPU-h100", os.getppid(), None)
        .proc("GPU-h100", os.getpid(), 5 * GIB, kind="graphics")
        .proc("GPU-h100", 1, 3 * GIB, kind="mps")  # an MPS client, listed only there
        .proc("MIG-a", os.getpid(), 1)
        .write()
    )


def test_boards_mig_slices_counters_and_processes_are_read_as_nvml_reports_them(
    fake_nvml: Machine,
) -> None:
    _machine(fake_nvml)
    source = NvmlSource()
    snapshot = source.read()
    h100, mig_a, mig_b, v100 = snapshot.devices
    assert (h100.index, h100.uuid, h100.name, h100.power_mw) == (
        0,
        "GPU-h100",
        "NVIDIA H100 80GB HBM3",
        300_000,
    )
    me, parent = os.getpid(), os.getppid()
    # one entry per pid, the larger of its compute and graphics memory; None: not known
    assert h100.processes == tuple(
        sorted(
            [ProcessUse(me, 5 * GIB), ProcessUse(parent, None), ProcessUse(1, 3 * GIB)],
            key=lambda p: p.pid,
        )
    )
    assert (h100.memory_used, h100.memory_total) == (12 * GIB, 80 * GIB)
    assert (mig_a.uuid, mig_a.index, mig_a.mig, mig_a.parent_uuid) == ("MIG-a", 1, True, "GPU-a100")
    assert (mig_a.name, mig_b.name) == (f"{A100} MIG 3g.20gb", f"{A100} MIG 1g.5gb")
    # compute slices out of the board's 7, though its totals and profiles need privileges
    assert (mig_a.share, mig_b.share) == (3 / 7, 1 / 7)
    assert (mig_a.energy_mj, mig_a.power_mw) == (None, None)  # not measurable per slice
    assert (mig_a.processes, mig_b.processes) == ((ProcessUse(me, 1),), ())
    assert (v100.energy_mj, v100.power_mw, v100.processes) == (None, 90_000, None)
    assert source.notices == []
    source.close()


@pytest.mark.parametrize(
    ("board_slices", "slices", "private", "share"),
    [
        (7, 3, False, 3 / 7),  # compute slices out of the largest GPU-instance profile
        (7, 3, True, 3 / 7),  # profiles need privileges: out of the most MIG devices
        (4, 1, False, 1 / 4),  # an A30-like board
        (7, 0, False, 5 / 40),  # compute slices unknown: its memory out of the board's
        (7, 0, True, 1.0),  # nothing known: the whole board
    ],
)
def test_a_mig_slice_is_charged_its_part_of_the_board(
    fake_nvml: Machine, board_slices: int, slices: int, private: bool, share: float
) -> None:
    fake_nvml.gpu("GPU-a", A100, memory=40 * GIB, mig=True, slices=board_slices, private=private)
    fake_nvml.mig("GPU-a", 0, "MIG-a", f"{A100} MIG", 5 * GIB, slices=slices).write()
    source = NvmlSource()
    assert [d.share for d in source.read().devices] == [pytest.approx(share)]
    source.close()


def test_the_energy_counter_is_read_in_millijoules_as_it_runs(fake_nvml: Machine) -> None:
    fake_nvml.gpu("GPU-h100", energy=1_000, watts=300).write()
    source = NvmlSource()
    first = source.read()
    time.sleep(0.2)
    (last,) = source.drain()
    joules = (last.devices[0].energy_mj - first.devices[0].energy_mj) / 1000
    assert joules == pytest.approx(300 * (last.time - first.time), rel=0.05, abs=1.0)
    assert first.devices[0].energy_mj >= 1_000
    source.close()


def test_a_gpu_that_falls_off_the_bus_leaves_empty_readings_not_an_error(
    fake_nvml: Machine,
) -> None:
    fake_nvml.gpu("GPU-h100", watts=300).proc("GPU-h100", os.getpid()).write()
    source = NvmlSource()
    assert source.read().devices[0].processes == (ProcessUse(os.getpid(), GIB),)
    fake_nvml.lines.clear()  # from now on NVML_ERROR_GPU_IS_LOST from every call on it
    fake_nvml.gpu("GPU-h100", watts=300, lost=True).write()
    (lost,) = source.read().devices
    assert (lost.uuid, lost.memory_used, lost.energy_mj, lost.power_mw, lost.processes) == (
        "GPU-h100",
        0,
        None,
        None,
        None,
    )
    source.close()


def test_host_pids_seen_from_a_container_count_as_no_process_list(fake_nvml: Machine) -> None:
    stranger = unused_pid()  # what a driver without pid namespaces lists in a container
    fake_nvml.gpu("GPU-0").proc("GPU-0", stranger).gpu("GPU-1").proc("GPU-1", stranger)
    fake_nvml.gpu("GPU-2").proc("GPU-2", stranger).proc("GPU-2", os.getpid()).write()
    source = NvmlSource()
    gpu0, gpu1, gpu2 = source.read().devices
    assert (gpu0.processes, gpu1.processes) == (None, None)
    assert (gpu0.foreign, gpu1.foreign, gpu2.foreign) == (1, 1, 0)
    assert gpu2.pids() == sorted([stranger, os.getpid()])  # one pid seen here: a real list
    assert source.notices == [FOREIGN_PIDS]  # once, however many GPUs and samples
    source.read()
    assert source.notices == [FOREIGN_PIDS]
    source.close()


def test_a_process_that_has_just_exited_but_is_still_listed_keeps_the_list(
    fake_nvml: Machine,
) -> None:
    worker = subprocess.Popen(["sleep", "30"])
    fake_nvml.gpu("GPU-0").proc("GPU-0", worker.pid).write()
    source = NvmlSource()
    assert source.read().devices[0].pids() == [worker.pid]
    worker.kill()
    worker.wait()  # gone, while the driver still tears its context down
    (last,) = source.drain()
    assert (last.devices[0].pids(), source.notices) == ([worker.pid], [])
    source.close()


def test_a_machine_without_gpus_is_unavailable_in_one_line(fake_nvml: Machine) -> None:
    import pynvml

    fake_nvml.write()
    with pytest.raises(GpuUnavailable, match=r"^no NVIDIA GPU found$"):
        NvmlSource()
    assert pynvml._nvmlLib_refcount == 0  # NVML was shut down again


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (None, "the NVIDIA driver is not loaded"),  # no machine file: NVML_ERROR_DRIVER_NOT_LOADED
        (4, "NVML did not start: Insufficient Permissions"),
        (999, "NVML did not start: Unknown Error"),
    ],
)
def test_nvml_that_does_not_start_is_named_in_one_line(
    fake_nvml: Machine, error: int | None, message: str
) -> None:
    if error is not None:
        fake_nvml.gpu("GPU-0").init_error(error).write()
    with pytest.raises(GpuUnavailable) as info:
        load_nvml()
    assert str(info.value) == message


def test_the_deprecated_pynvml_package_is_named_as_the_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=lambda: None))
    with pytest.raises(GpuUnavailable, match="deprecated `pynvml` package"):
        load_nvml()
