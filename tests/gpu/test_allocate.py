"""`--gpus N`: free GPUs are reserved under a lock, so two worktrees never share one."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from claudio_ci.core.errors import UsageError
from claudio_ci.gpu import allocate
from tests.gpu.builders import gpu

FOUR = [gpu(0), gpu(1), gpu(2, procs=[(31337, 1)]), gpu(3)]  # GPU 2 is busy


def _reserve_one(state_dir: str, queue: multiprocessing.Queue, barrier) -> None:
    barrier.wait()
    try:
        chosen = allocate.reserve(
            Path(state_dir), FOUR, 1, branch=f"b{os.getpid()}", worktree="/wt", environ={}
        )
        queue.put(chosen[0])
        barrier.wait()  # hold the reservation (stay alive) until every process has tried
    except UsageError as exc:
        queue.put(str(exc))
        barrier.wait()


def test_concurrent_worktrees_never_get_the_same_gpu(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_reserve_one, args=(str(tmp_path), queue, barrier)) for _ in range(4)
    ]
    for process in processes:
        process.start()
    answers = sorted(queue.get(timeout=60) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    free = sorted(d.uuid for d in FOUR if not d.processes)
    assert [a for a in answers if a.startswith("GPU-")] == free  # three free GPUs, one each
    (refused,) = [a for a in answers if not a.startswith("GPU-")]
    assert refused.startswith("--gpus 1: only 0 of 4 GPUs are free")
    assert f"{FOUR[2].uuid} 1 process(es) on it" in refused
    assert refused.count("reserved by b") == 3


def test_reservations_of_dead_runs_are_dropped_and_release_gives_back(tmp_path: Path) -> None:
    dead = {"uuid": gpu(0).uuid, "pid": 2**22 + 12345, "pid_started": 1, "branch": "x"}
    (tmp_path / allocate.RESERVATIONS).write_text(json.dumps([{**dead, "worktree": "/w"}]))
    chosen = allocate.reserve(tmp_path, FOUR, 2, branch="mine", worktree="/wt", environ={})
    assert chosen == [gpu(0).uuid, gpu(1).uuid]
    held = json.loads((tmp_path / allocate.RESERVATIONS).read_text())
    assert [(r["uuid"], r["pid"], r["branch"]) for r in held] == [
        (gpu(0).uuid, os.getpid(), "mine"),
        (gpu(1).uuid, os.getpid(), "mine"),
    ]
    allocate.release(tmp_path)
    assert json.loads((tmp_path / allocate.RESERVATIONS).read_text()) == []


def test_only_gpus_visible_to_the_command_are_candidates(tmp_path: Path) -> None:
    environ = {"CUDA_VISIBLE_DEVICES": f"{gpu(3).uuid},{gpu(2).uuid}"}
    assert allocate.reserve(tmp_path, FOUR, 1, branch="b", worktree="/w", environ=environ) == [
        gpu(3).uuid
    ]
    with pytest.raises(UsageError, match="only 0 of 2 GPUs are free"):
        allocate.reserve(tmp_path, FOUR, 1, branch="b", worktree="/w", environ=environ)


def test_a_gpu_whose_processes_nvml_cannot_list_is_busy_when_its_memory_is_used(
    tmp_path: Path,
) -> None:
    idle = gpu(0, procs=None, memory_used=300 << 20)  # the driver's own few hundred MiB
    used = gpu(1, procs=None, memory_used=allocate.IDLE_MEMORY_BYTES + 1)
    assert allocate.reserve(tmp_path, [used, idle], 1, branch="b", worktree="/w", environ={}) == [
        idle.uuid
    ]
    with pytest.raises(UsageError, match=r"GiB in use by processes NVML cannot list"):
        allocate.reserve(tmp_path, [used], 1, branch="b", worktree="/w", environ={})


def test_a_gpu_listing_processes_from_outside_this_container_is_busy(tmp_path: Path) -> None:
    outside = gpu(0, procs=None, foreign=1)  # another tenant's fresh context, little memory
    with pytest.raises(UsageError, match=r"1 process\(es\) from outside this container on it"):
        allocate.reserve(tmp_path, [outside], 1, branch="b", worktree="/w", environ={})
