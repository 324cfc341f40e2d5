"""Processes as Linux shows them in /proc: one process, every process, a command's tree.

The process supervisor (`processes.py`) measures and stops a command's whole tree with it;
the GPU sampler tells the command's processes from others on the same GPU. Elsewhere (macOS)
nothing is found here: the supervisor reads trees through psutil there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

PROC = "/proc"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    group: int
    session: int
    rss_bytes: int
    name: str


def available() -> bool:
    return os.path.isfile(f"{PROC}/self/stat")


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """The command name and the fields after it of `/proc/<pid>/stat`; None when gone.

    The name may hold spaces and parentheses: it ends at the last ')'.
    """
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    return raw[raw.find("(") + 1 : raw.rfind(")")], raw[raw.rfind(")") + 2 :].split()


def read_process(pid: int) -> ProcessInfo | None:
    """One process; None when it is gone or already a zombie."""
    stat = _stat(pid)
    if stat is None:
        return None
    name, fields = stat
    if len(fields) < 22 or fields[0] in ("Z", "X"):
        return None
    return ProcessInfo(
        pid=pid,
        ppid=int(fields[1]),
        group=int(fields[2]),
        session=int(fields[3]),
        rss_bytes=int(fields[21]) * PAGE_BYTES,
        name=name,
    )


def parent_pid(pid: int) -> int | None:
    stat = _stat(pid)
    return int(stat[1][1]) if stat else None


def start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot: tells a pid from its reuse."""
    stat = _stat(pid)
    return int(stat[1][19]) if stat and len(stat[1]) > 19 else None


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


def all_processes() -> list[ProcessInfo]:
    """Every live process; none where there is no /proc."""
    if not available():
        return []
    found = []
    for entry in os.scandir(PROC):
        if entry.name.isdigit():
            info = read_process(int(entry.name))
            if info is not None:
                found.append(info)
    return found


def has_environment(pid: int, marker: bytes) -> bool:
    """Whether the process was started with `marker` (`NAME=value`) in its environment;
    False when it is gone or not ours to read."""
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as handle:
            return marker in handle.read().split(b"\0")
    except OSError:
        return False


def members(
    leader: int, marker: bytes | None = None, known: Iterable[int] = ()
) -> list[ProcessInfo]:
    """The live processes of the tree started as `leader` (a session and group leader).

    A member is in the leader's session or process group, or descends from one by parent
    pid: that covers children that set up a group of their own, and orphans re-parented to
    init, which keep their session. A double-forked daemon that also calls `setsid()` is
    found only by `marker`, a `NAME=value` the leader's environment passed on to it, or
    when it is among the `known` members found before, with its descendants.
    """
    processes = all_processes()
    seen = set(known)
    inside = {
        p.pid
        for p in processes
        if leader in (p.session, p.group) or p.pid == leader or p.pid in seen
    }
    if marker is not None:
        inside |= {
            p.pid for p in processes if p.pid not in inside and has_environment(p.pid, marker)
        }
    children: dict[int, list[int]] = {}
    for p in processes:
        children.setdefault(p.ppid, []).append(p.pid)
    pending = list(inside)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in inside:
                inside.add(child)
                pending.append(child)
    return [p for p in processes if p.pid in inside]


def total_rss_bytes(tree: list[ProcessInfo]) -> int:
    """The sum of the members' resident sets (pages they share are counted in each)."""
    return sum(p.rss_bytes for p in tree)


def pss_bytes(pid: int) -> int | None:
    """The process's proportional set size: its private pages plus its share of each
    shared one, from `/proc/<pid>/smaps_rollup` (Linux 4.14+); None where the kernel has no
    smaps_rollup or it cannot be read. A process that exited between the listing and this
    read (a DataLoader worker ending) holds no pages: 0, not its last RSS."""
    try:
        with open(f"{PROC}/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except ProcessLookupError:
        return 0
    except FileNotFoundError:
        return None if os.path.isdir(f"{PROC}/{pid}") else 0
    except (OSError, ValueError, IndexError):
        return None
    return 0  # readable but empty: a zombie, whose pages are already freed


def total_memory_bytes(tree: list[ProcessInfo]) -> int:
    """The memory the tree really uses: the sum of the members' PSS, so that the pages a
    forked DataLoader worker shares with its parent count once; a member's RSS where its
    PSS cannot be read."""
    total = 0
    for process in tree:
        pss = pss_bytes(process.pid)
        total += process.rss_bytes if pss is None else pss
    return total


class ProcessTree:
    """Answers "is this pid the command or one of its descendants?" by walking up ppids.

    Only the few pids NVML lists are looked up, never all of /proc, and an answer is kept
    while its pid stays listed from one sample to the next (a listed process cannot die and
    have its pid reused in between without leaving the list), so a steady run reads /proc
    only when a process appears: reading it costs more than the rest of a sample.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self._known: dict[int, bool] = {}

    def refresh(self, listed: Iterable[int] = ()) -> None:
        """Forget every answer but those about pids still `listed`."""
        keep = set(listed)
        self._known = {pid: inside for pid, inside in self._known.items() if pid in keep}

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
