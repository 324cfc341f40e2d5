"""The sampler's arithmetic on recorded NVML readings: time held, energy, peak memory."""

from __future__ import annotations

import pytest

from claudio_ci.gpu.trace import read_trace
from claudio_ci.gpu.usage import MJ_PER_KWH, UsageMeter
from tests.gpu.builders import GIB, ROOT, SHIPPED_TRACES, gpu, snap

OTHER = 999  # someone else's process


def _measure(snapshots, environ=None):
    meter = UsageMeter(environ or {})
    for s in snapshots:
        meter.add(s, s.tree)
    return {u.uuid: u for u in meter.usage()}


def test_energy_comes_from_the_counter_and_time_from_the_trapezoid_rule() -> None:
    usage = _measure(
        [
            snap(0, gpu(procs=[], energy=1_000_000, power=100_000)),
            snap(1, gpu(procs=[(ROOT, 2 * GIB)], energy=1_300_000, power=300_000)),
            snap(3, gpu(procs=[(ROOT, 3 * GIB)], energy=1_900_000, power=300_000)),
            snap(4, gpu(procs=[], energy=2_000_000, power=100_000)),
        ]
    )
    (only,) = usage.values()
    # used at t=1 and t=3: half of [0,1], all of [1,3], half of [3,4]
    assert only.seconds == pytest.approx(0.5 + 2 + 0.5)
    assert only.energy_mj == pytest.approx(0.5 * 300_000 + 600_000 + 0.5 * 100_000)
    assert only.peak_memory == 3 * GIB
    assert only.kwh == pytest.approx(only.energy_mj / MJ_PER_KWH)


def test_without_an_energy_counter_power_is_integrated() -> None:
    usage = _measure(
        [
            snap(0, gpu(procs=[(ROOT, 1)], power=200_000)),
            snap(2, gpu(procs=[(ROOT, 1)], power=400_000)),
        ]
    )
    (only,) = usage.values()
    assert only.energy_mj == pytest.approx((200_000 + 400_000) / 2 * 2)


def test_a_driver_reload_falls_back_to_power_for_that_interval() -> None:
    usage = _measure(
        [
            snap(0, gpu(procs=[(ROOT, 1)], energy=9_000_000, power=100_000)),
            snap(1, gpu(procs=[(ROOT, 1)], energy=50, power=100_000)),
        ]
    )
    assert next(iter(usage.values())).energy_mj == pytest.approx(100_000)


def test_a_gpu_with_neither_counter_nor_power_has_no_energy() -> None:
    usage = _measure([snap(0, gpu(procs=[(ROOT, 1)])), snap(5, gpu(procs=[(ROOT, 1)]))])
    (only,) = usage.values()
    assert only.seconds == 5
    assert only.energy_mj is None
    assert only.kwh is None


def test_a_mig_slice_records_time_and_share_but_no_energy() -> None:
    parent = "GPU-parent"
    mig = {"name": "NVIDIA A100-SXM4-40GB MIG 1g.5gb", "mig": True, "parent": parent}
    usage = _measure(
        [
            snap(0, gpu(uuid="MIG-1", procs=[(ROOT, GIB)], share=0.125, power=5, energy=5, **mig)),
            snap(10, gpu(uuid="MIG-1", procs=[(ROOT, GIB)], share=0.125, **mig)),
        ]
    )
    only = usage["MIG-1"]
    assert (only.seconds, only.share, only.mig, only.energy_mj) == (10, 0.125, True, None)


def test_processes_on_unrelated_gpus_are_ignored() -> None:
    usage = _measure(
        [
            snap(0, gpu(0, procs=[(ROOT, GIB)]), gpu(1, procs=[(OTHER, 9 * GIB)])),
            snap(2, gpu(0, procs=[(ROOT, GIB), (OTHER, 5)]), gpu(1, procs=[(OTHER, 9 * GIB)])),
        ]
    )
    assert [u.uuid for u in usage.values()] == [gpu(0).uuid]
    assert usage[gpu(0).uuid].peak_memory == GIB  # the other process's memory is not ours


def test_unknown_per_process_memory_falls_back_to_the_device_total() -> None:
    usage = _measure([snap(0, gpu(procs=[(ROOT, None)], memory_used=7 * GIB))])
    assert usage[gpu(0).uuid].peak_memory == 7 * GIB


def test_a_process_list_outranks_cuda_visible_devices() -> None:
    # NVML numbers GPUs in PCI order, CUDA fastest first; a child may set its own variable
    trace = [snap(0, gpu(0), gpu(1, procs=[(ROOT, 1)])), snap(2, gpu(0), gpu(1, procs=[(ROOT, 1)]))]
    usage = _measure(trace, {"CUDA_VISIBLE_DEVICES": "0"})
    assert list(usage) == [gpu(1).uuid]


UNLISTED = [  # NVML cannot list these GPUs' processes: CUDA_VISIBLE_DEVICES decides
    snap(0, gpu(0, procs=None), gpu(1, procs=None)),
    snap(4, gpu(0, procs=None), gpu(1, procs=None)),
]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        (None, []),
        ("1", [1]),
        (gpu(1).uuid, [1]),
        (gpu(1).uuid[:12], [1]),  # a unique UUID prefix, as CUDA accepts
        (f"{gpu(0).uuid},bogus,{gpu(1).uuid}", [0]),  # CUDA stops at the first bad entry
        ("GPU-0000", []),  # a prefix of both UUIDs names neither
        ("", []),
        ("-1", []),
    ],
)
def test_without_process_lists_cuda_visible_devices_names_the_gpus_charged(
    visible: str | None, expected: list[int]
) -> None:
    environ = {} if visible is None else {"CUDA_VISIBLE_DEVICES": visible}
    usage = _measure(UNLISTED, environ)
    assert sorted(usage) == [gpu(i).uuid for i in expected]
    assert all(u.seconds == 4 for u in usage.values())


def test_mig_slices_are_named_by_their_own_uuid_or_their_gpus() -> None:
    slices = [
        gpu(0, uuid="MIG-a", mig=True, parent="GPU-board", procs=None, share=0.5),
        gpu(0, uuid="MIG-b", mig=True, parent="GPU-board", procs=None, share=0.5),
    ]
    trace = [snap(0, *slices), snap(1, *slices)]
    assert sorted(_measure(trace, {"CUDA_VISIBLE_DEVICES": "MIG-b"})) == ["MIG-b"]
    assert sorted(_measure(trace, {"CUDA_VISIBLE_DEVICES": "GPU-board"})) == ["MIG-a", "MIG-b"]
    assert sorted(_measure(trace, {"CUDA_VISIBLE_DEVICES": "0"})) == ["MIG-a", "MIG-b"]


def test_a_process_list_that_fails_once_keeps_the_gpu_as_it_was() -> None:
    trace = [
        snap(0, gpu(procs=[(ROOT, 1)], energy=0)),
        snap(1, gpu(procs=None, energy=1_000)),
        snap(2, gpu(procs=[(ROOT, 1)], energy=2_000)),
    ]
    (only,) = _measure(trace).values()
    assert (only.seconds, only.energy_mj) == (2, 2_000)


def test_failed_energy_readings_are_bridged_by_the_next_good_one() -> None:
    trace = [
        snap(0, gpu(procs=[], energy=0)),
        snap(1, gpu(procs=[(ROOT, 1)], energy=1_000)),
        snap(2, gpu(procs=[(ROOT, 1)])),  # neither counter nor power this time
        snap(3, gpu(procs=[(ROOT, 1)])),
        snap(4, gpu(procs=[(ROOT, 1)], energy=4_000)),
    ]
    (only,) = _measure(trace).values()
    # [0,1] half held; [1,4] held throughout, measured by the counter across the gap
    assert only.seconds == 3.5
    assert only.energy_mj == pytest.approx(0.5 * 1_000 + 3_000)


def test_the_shipped_h100_trace_charges_gpu_0_only() -> None:
    _, snapshots = read_trace(SHIPPED_TRACES / "h100-training.jsonl")
    usage = _measure(snapshots)
    assert len(usage) == 1
    (only,) = usage.values()
    assert only.uuid.startswith("GPU-1d8c")
    assert only.seconds == pytest.approx(39.5 * 60)  # idle at t=0, then 40 minutes
    assert 0.38 < only.kwh < 0.41  # about 600 W for 39.5 minutes


def test_the_shipped_mig_trace_has_time_but_no_energy() -> None:
    _, snapshots = read_trace(SHIPPED_TRACES / "a100-mig.jsonl")
    (only,) = _measure(snapshots).values()
    assert (only.mig, only.share, only.energy_mj) == (True, 0.5, None)
    assert only.seconds == pytest.approx(29.5 * 60)


@pytest.mark.parametrize(
    "energies",
    [
        [0, 1_000, None, None],  # the last readings failed
        [None, None, 2_000, 3_000],  # the first ones did
        [5_000, 6_000, 10, 1_010],  # the counter was reset, and there is no power reading
    ],
)
def test_held_time_no_reading_covers_is_charged_at_the_measured_average_power(
    energies: list[int | None],
) -> None:
    trace = [snap(t, gpu(procs=[(ROOT, 1)], energy=e)) for t, e in enumerate(energies)]
    (only,) = _measure(trace).values()
    assert only.seconds == 3
    assert only.energy_mj == pytest.approx(3_000)  # 1 W throughout, 2 of 3 s measured
