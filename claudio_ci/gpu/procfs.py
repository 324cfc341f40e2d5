"""Which processes belong to a command: its process tree, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces or ')')."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode("ascii", "replace").split()


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot: tells a pid from its reuse."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def is_alive(pid: int, started: int | None = None) -> bool:
    """The process exists (and, when `started` is given, is the same process)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return started is None or start_ticks(pid) == started


class ProcessTree:
    """Answers "is this pid the command or one of its descendants?" by walking up ppids.

    Only the few pids NVML lists are looked up, never all of /proc, so a sample stays cheap.
    Answers are cached for one snapshot (`refresh()` forgets them: pids get reused).
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self._known: dict[int, bool] = {}

    def refresh(self) -> None:
        self._known.clear()

    def __contains__(self, pid: object) -> bool:
        if not isinstance(pid, int):
            return False
        if pid not in self._known:
            self._known[pid] = self._descends(pid)
        return self._known[pid]

    def _descends(self, pid: int) -> bool:
        seen: set[int] = set()
        current: int | None = pid
        while current and current not in seen:
            if current == self.root:
                return True
            if current in self._known:
                return self._known[current]
            seen.add(current)
            current = parent_pid(current)
        return False
