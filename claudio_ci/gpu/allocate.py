"""`gpu run --gpus N`: pick N free GPUs so that two worktrees never take the same one.

Under an `flock` in the common git dir, reservations of dead runs are dropped, the GPUs
that no reservation holds and no process uses are free, the first N of them are reserved
for this run, and the lock is let go. The run releases its reservations when it ends; a
killed run's are dropped by the next allocation (its pid is gone, or is another process).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from claudio_ci.adapters.procfs import is_alive, start_ticks
from claudio_ci.core.errors import UsageError
from claudio_ci.core.fileio import write_atomic
from claudio_ci.gpu.locks import file_lock
from claudio_ci.gpu.readings import DeviceReading
from claudio_ci.gpu.visible import visibility

RESERVATIONS = "gpu-reservations.json"
GIB = 1 << 30
# A GPU whose processes NVML cannot list counts as busy above this much memory in use
# (an idle board shows a few hundred MiB at most).
IDLE_MEMORY_BYTES = GIB


@dataclass(frozen=True)
class Reservation:
    uuid: str
    pid: int
    pid_started: int | None
    branch: str
    worktree: str


def _path(state_dir: Path) -> Path:
    return state_dir / RESERVATIONS


def _live(state_dir: Path) -> list[Reservation]:
    try:
        data = json.loads(_path(state_dir).read_text(encoding="utf-8"))
        held = [Reservation(**item) for item in data]
    except (FileNotFoundError, ValueError, TypeError):
        return []  # missing, or torn by hand: reservations are rebuilt from live runs
    return [r for r in held if is_alive(r.pid, r.pid_started)]


def _save(state_dir: Path, held: Sequence[Reservation]) -> None:
    write_atomic(_path(state_dir), json.dumps([asdict(r) for r in held], indent=1) + "\n")


def _busy_reason(device: DeviceReading, held: Mapping[str, Reservation]) -> str | None:
    if device.uuid in held:
        holder = held[device.uuid]
        return f"reserved by {holder.branch} (pid {holder.pid})"
    if device.processes:
        return f"{len(device.processes)} process(es) on it"
    if device.foreign:
        return f"{device.foreign} process(es) from outside this container on it"
    if device.processes is None and device.memory_used > IDLE_MEMORY_BYTES:
        return f"{device.memory_used / GIB:.1f} GiB in use by processes NVML cannot list"
    return None


def reserve(
    state_dir: Path,
    devices: Sequence[DeviceReading],
    count: int,
    *,
    branch: str,
    worktree: str,
    environ: Mapping[str, str],
) -> list[str]:
    """Reserve `count` free GPUs for this process; their UUIDs, in NVML order."""
    candidates = [d for d in devices if visibility(environ, devices).admits(d)]
    pid = os.getpid()
    with file_lock(state_dir / (RESERVATIONS + ".lock")):
        held = _live(state_dir)
        by_uuid = {r.uuid: r for r in held}
        free = [d for d in candidates if _busy_reason(d, by_uuid) is None]
        if len(free) < count:
            busy = "; ".join(
                f"{d.uuid} {_busy_reason(d, by_uuid)}"
                for d in candidates
                if _busy_reason(d, by_uuid) is not None
            )
            raise UsageError(
                f"--gpus {count}: only {len(free)} of {len(candidates)} GPUs are free"
                + (f" ({busy})" if busy else "")
            )
        chosen = [d.uuid for d in free[:count]]
        started = start_ticks(pid)
        _save(state_dir, held + [Reservation(u, pid, started, branch, worktree) for u in chosen])
    return chosen


def release(state_dir: Path) -> None:
    """Give back every GPU this process reserved."""
    pid = os.getpid()
    with file_lock(state_dir / (RESERVATIONS + ".lock")):
        _save(state_dir, [r for r in _live(state_dir) if r.pid != pid])
