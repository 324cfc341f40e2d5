"""Run one command under a wall-clock and a memory limit, and kill its whole tree on breach.

The command starts through the process supervisor (`adapters/processes.py`): in its own
session, with stdin closed and stdout and stderr merged into one pipe. Its output is echoed
as it comes (raw bytes, so progress bars keep working) and the last lines are kept; the
supervisor samples the memory of the whole tree and ends it (SIGTERM, then SIGKILL after a
grace period) when a limit is crossed, or when the command exits and leaves processes behind.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.adapters import processes

MB = 1024 * 1024
SAMPLE_SECONDS = 0.1
GRACE_SECONDS = processes.GRACE_SECONDS
# In the command's environment, passed on to every process it starts: finds the daemons
# that double-fork and `setsid()` out of its session.
MARKER = "CLAUDIO_SMOKE_RUN"
TAIL_LINES = 200
KEPT_LINES = 100_000

StartError = processes.StartError  # the command could not be started


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


def _output(echo: Callable[[bytes], object] | None, tail: _Tail) -> processes.Output:
    """What takes each chunk of output: echoed (until echoing fails: a closed terminal) and
    kept in the tail; the pipe is drained to its end either way."""

    def take(chunk: bytes) -> None:
        nonlocal echo
        if echo is not None:
            try:
                echo(chunk)
            except OSError:
                echo = None
        tail.feed(chunk)

    return take


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
    tail = _Tail(TAIL_LINES, keep)
    proc = processes.start(argv, cwd=cwd, env=env, output=_output(echo, tail), marker=MARKER)
    try:
        watched = proc.watch(limits.timeout_seconds, limits.max_memory_mb * MB, SAMPLE_SECONDS)
    except BaseException:  # Ctrl-C: the tree is in its own session and did not get SIGINT
        proc.terminate(0)
        raise
    if watched.timed_out or watched.memory_exceeded:
        proc.terminate(grace_seconds)
    ended = proc.wait()
    wall = time.perf_counter() - start
    leftovers = [f"{member.name} ({member.pid})" for member in proc.members()]
    proc.terminate(grace_seconds)  # what the command left behind holds our pipe
    proc.close_output(grace_seconds)
    return RunResult(
        exit_code=ended.returncode,
        wall_seconds=wall,
        peak_rss_mb=_peak_bytes(watched.peak_bytes, ended.max_rss_bytes) / MB,
        timed_out=watched.timed_out,
        memory_exceeded=watched.memory_exceeded,
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
        self._output = bytearray()
        try:
            self.proc: processes.Process | None = processes.start(
                argv,
                cwd=cwd,
                env=env,
                own_session=False,  # a Ctrl-C at the terminal ends it with claudio-ci
                stdin="pipe",
                output=self._output.extend,
            )
        except StartError:
            self.proc = None  # the caller runs the command the usual way

    def finish(self, data: bytes, timeout_seconds: float) -> RunResult | None:
        """Hand it its input and wait for it to exit; None when it was never started."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        start = time.perf_counter()
        proc.send_input(data)
        ended = proc.wait(timeout_seconds)
        timed_out = ended is None
        if ended is None:
            proc.terminate(0)
            ended = proc.wait()
        proc.close_output(GRACE_SECONDS)
        lines = self._output.decode("utf-8", "replace").splitlines()[-TAIL_LINES:]
        return RunResult(
            exit_code=ended.returncode,
            wall_seconds=time.perf_counter() - start,
            peak_rss_mb=0.0,
            timed_out=timed_out,
            tail=lines,
        )

    def cancel(self) -> None:
        """Not needed after all: an empty input ends it (a kill if it does not)."""
        self.finish(b"", GRACE_SECONDS)


def _peak_bytes(sampled: int, leader_max_rss_bytes: int) -> int:
    """The tree's peak memory: the sampled sum of PSS. The leader's `ru_maxrss` only stands in
    when no sample was taken (a command shorter than the interval): Linux starts an exec'd
    child's maximum at the RSS of the process it was forked from, so beside samples it would
    report claudio-ci's (or a test runner's) own size as the training's."""
    return sampled or leader_max_rss_bytes
