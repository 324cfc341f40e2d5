"""The process tree of a command, read from /proc (Linux): its members and their memory.

A member is any process in the command's session or process group (the command is started
with `start_new_session=True`, so both ids are its pid), or a descendant of one by parent
pid: that covers children that set up a group of their own, and orphans re-parented to
init, which keep their session. Only a double-forked daemon that also calls `setsid()`
escapes, as it does from any tool without cgroups. Elsewhere (macOS) nothing is found and
callers fall back to the process group and `wait4`'s peak RSS.
"""

from __future__ import annotations

import os
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


def read_process(pid: int) -> ProcessInfo | None:
    """One process from `/proc/<pid>/stat`; None when it is gone or already a zombie."""
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as handle:
            raw = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    # "pid (name) state ppid pgrp session ...": the name may hold spaces and parentheses.
    name = raw[raw.find("(") + 1 : raw.rfind(")")]
    fields = raw[raw.rfind(")") + 2 :].split()
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


def members(leader: int) -> list[ProcessInfo]:
    """The live processes of the tree started as `leader` (a session and group leader)."""
    processes = all_processes()
    inside = {p.pid for p in processes if leader in (p.session, p.group) or p.pid == leader}
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
