"""Run one command under a wall-clock and a memory limit, and kill its whole tree on breach.

The command starts in its own session and process group, with stdin closed and stdout and
stderr merged into one pipe. A reader thread echoes the output as it comes (raw bytes, so
progress bars keep working) and keeps the last lines; a waiter thread reaps the command
with `wait4`, whose peak RSS catches spikes between samples; the calling thread samples
the RSS of the whole tree from /proc and ends it (SIGTERM, then SIGKILL after a grace
period) when a limit is crossed, or when the command exits and leaves processes behind.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.adapters import procfs

MB = 1024 * 1024
RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024  # getrusage's unit
SAMPLE_SECONDS = 0.1
GRACE_SECONDS = 5.0
# In the command's environment, passed on to every process it starts: finds the daemons
# that double-fork and `setsid()` out of its session.
MARKER = "CLAUDIO_SMOKE_RUN"
TAIL_LINES = 200
KEPT_LINES = 100_000


class StartError(Exception):
    """The command could not be started: not found, not executable, no such directory."""


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    max_memory_mb: int = 0  # 0: no limit


@dataclass
class RunResult:
    exit_code: int  # negative: killed by that signal
    wall_seconds: float
    peak_rss_mb: float
    timed_out: bool = False
    memory_exceeded: bool = False
    tail: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # "name (pid)" still running at exit
    kept: list[str] = field(default_factory=list)  # the lines `keep` matched, in order


class _Tail:
    """The last lines of a byte stream as a terminal shows them (`\\r` rewrites a line)."""

    def __init__(self, size: int, keep: re.Pattern[str] | None = None) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=size)
        self.kept: list[str] = []
        self._keep = keep
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        *complete, self._partial = (self._partial + chunk).split(b"\n")
        for line in complete:
            self._add(line)

    def _add(self, raw: bytes) -> None:
        line = self._shown(raw)
        self.lines.append(line)
        if self._keep and len(self.kept) < KEPT_LINES:
            # every `\r`-separated part: a progress bar rewrites its line with each step
            self.kept += [
                part
                for part in raw.decode("utf-8", "replace").split("\r")
                if self._keep.search(part)
            ]

    def close(self) -> list[str]:
        if self._partial:
            self._add(self._partial)
            self._partial = b""
        return list(self.lines)

    @staticmethod
    def _shown(line: bytes) -> str:
        return line.rstrip(b"\r").rsplit(b"\r", 1)[-1].decode("utf-8", "replace")


def _pump(fd: int, echo: Callable[[bytes], object] | None, tail: _Tail) -> None:
    """Drain the pipe to its end, even when echoing fails (a closed terminal)."""
    while chunk := os.read(fd, 65536):
        if echo is not None:
            try:
                echo(chunk)
            except OSError:
                echo = None
        tail.feed(chunk)


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    limits: Limits,
    echo: Callable[[bytes], object] | None = None,
    grace_seconds: float = GRACE_SECONDS,
    keep: re.Pattern[str] | None = None,
) -> RunResult:
    """Run `argv` to its end or to a limit; StartError when it cannot be started.
    The lines `keep` matches are kept whole, not only in the tail."""
    start = time.perf_counter()
    marker_value = secrets.token_hex(8)
    marker = f"{MARKER}={marker_value}".encode()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**env, MARKER: marker_value},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        raise StartError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    assert proc.stdout is not None
    tail = _Tail(TAIL_LINES, keep)
    reader = threading.Thread(target=_pump, args=(proc.stdout.fileno(), echo, tail), daemon=True)
    reader.start()
    reaped: list[tuple[int, int]] = []  # (wait status, peak RSS in KiB) once the leader exits
    done = threading.Event()

    def wait() -> None:
        _, status, usage = os.wait4(proc.pid, 0)
        reaped.append((status, usage.ru_maxrss))
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    try:
        peak_bytes, timed_out, memory_exceeded = _watch(proc.pid, done, start, limits)
    except BaseException:  # Ctrl-C: the tree is in its own session and did not get SIGINT
        _terminate(proc.pid, 0, marker)
        raise
    if timed_out or memory_exceeded:
        _terminate(proc.pid, grace_seconds, marker)
        done.wait()
    wall = time.perf_counter() - start
    status, max_rss = reaped[0]
    leftovers = [f"{p.name} ({p.pid})" for p in procfs.members(proc.pid, marker)]
    _terminate(proc.pid, grace_seconds, marker)  # what the command left behind holds our pipe
    reader.join(grace_seconds)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    if not reader.is_alive():  # else an escaped daemon still holds the pipe: leave it be
        proc.stdout.close()
    return RunResult(
        exit_code=proc.returncode,
        wall_seconds=wall,
        peak_rss_mb=_peak_bytes(peak_bytes, max_rss) / MB,
        timed_out=timed_out,
        memory_exceeded=memory_exceeded,
        tail=tail.close(),
        leftovers=leftovers,
        kept=tail.kept,
    )


class Waiting:
    """A command started ahead of need that prepares, then waits for its input on stdin: the
    checkpoint probe imports torch while the training runs, off the training's process tree
    (so off its memory limit), and costs no wall time when it is ready before the training.
    """

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self.proc = None  # the caller runs the command the usual way

    def finish(self, data: bytes, timeout_seconds: float) -> RunResult | None:
        """Hand it its input and wait for it to exit; None when it was never started."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        start = time.perf_counter()
        timed_out = False
        try:
            out, _ = proc.communicate(data, timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            timed_out = True
        lines = out.decode("utf-8", "replace").splitlines()[-TAIL_LINES:]
        return RunResult(
            exit_code=proc.returncode,
            wall_seconds=time.perf_counter() - start,
            peak_rss_mb=0.0,
            timed_out=timed_out,
            tail=lines,
        )

    def cancel(self) -> None:
        """Not needed after all: an empty input ends it (a kill if it does not)."""
        self.finish(b"", GRACE_SECONDS)


def _peak_bytes(sampled: int, leader_max_rss_kib: int) -> int:
    """The tree's peak memory: the sampled sum of PSS. The leader's `ru_maxrss` only stands in
    when no sample was taken (a command shorter than the interval): Linux starts an exec'd
    child's maximum at the RSS of the process it was forked from, so beside samples it would
    report claudio-ci's (or a test runner's) own size as the training's."""
    return sampled or leader_max_rss_kib * RU_MAXRSS_BYTES


def _watch(
    leader: int, done: threading.Event, start: float, limits: Limits
) -> tuple[int, bool, bool]:
    """Sample the tree until the leader exits or a limit is crossed:
    (peak RSS in bytes, timed out, over the memory limit)."""
    sampling = procfs.available()
    peak_bytes = 0
    while not done.wait(SAMPLE_SECONDS if sampling else 0.5):
        if sampling:
            peak_bytes = max(peak_bytes, procfs.total_memory_bytes(procfs.members(leader)))
        if time.perf_counter() - start > limits.timeout_seconds:
            return peak_bytes, True, False
        if limits.max_memory_mb and peak_bytes > limits.max_memory_mb * MB:
            return peak_bytes, False, True
    return peak_bytes, False, False


def _tree(leader: int, known: set[int], marker: bytes | None) -> set[int]:
    """The members now, plus those seen before that still live: a process that left the
    session is a member only through its parent, and stays one after its parent dies."""
    alive = {pid for pid in known if procfs.read_process(pid) is not None}
    return alive | {p.pid for p in procfs.members(leader, marker)}


def _alive(leader: int, pids: set[int]) -> bool:
    if procfs.available():
        return bool(pids)
    try:  # without /proc, the process group is all we know
        os.killpg(leader, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _signal(leader: int, pids: set[int], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, signum)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _terminate(leader: int, grace_seconds: float, marker: bytes | None = None) -> None:
    """SIGTERM the tree, then SIGKILL whatever is still alive after the grace period."""
    pids = _tree(leader, set(), marker)
    if not _alive(leader, pids):
        return
    _signal(leader, pids, signal.SIGTERM)
    deadline = time.perf_counter() + grace_seconds
    while time.perf_counter() < deadline:
        pids = _tree(leader, pids, marker)
        if not _alive(leader, pids):
            return
        time.sleep(0.05)
    _signal(leader, _tree(leader, pids, marker), signal.SIGKILL)
