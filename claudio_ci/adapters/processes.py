"""The one supervisor of the commands claudio-ci runs for the user: a training under limits
(`smoke-test`), a metered command (`gpu run`), worktree setup commands.

A command starts in a session of its own (so its own process group, and no terminal to read
from), unless it must stay in the terminal's foreground group as a wrapper like `time` keeps
it (`gpu run`). A reaper thread waits for it with `wait4`, so that every wait can be bounded
and the leader's peak RSS comes with its exit status. Its output is inherited, or stdout and
stderr are merged into one pipe whose chunks a reader thread hands to a callback.

Its tree: its session and process group, their descendants by parent pid (children that set
up a group of their own, orphans re-parented to init), the members seen before that still
live, and, with a marker variable in its environment, double-forked daemons that left the
session. On Linux it is read from /proc (`procfs`), elsewhere from psutil (the descendants of
the leader and of the members seen before; without psutil, the process group alone). Its
memory is the sum of its members' PSS on Linux, of their RSS elsewhere (pages the members
share count in each: an upper bound).

psutil is imported only where there is no /proc, and only when a tree is looked at: a hook
on Linux never imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from claudio_ci.adapters import procfs

if TYPE_CHECKING:
    import psutil

GRACE_SECONDS = 5.0
SAMPLE_SECONDS = 0.1
POLL_SECONDS = 0.05
RU_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024  # getrusage's unit

Output = Callable[[bytes], object]
Stdin = Literal["closed", "inherit", "pipe"]
_STDIN = {"closed": subprocess.DEVNULL, "inherit": None, "pipe": subprocess.PIPE}


class StartError(Exception):
    """The command could not be started: not found, not executable, no such directory."""

    def __init__(self, program: str, error: OSError) -> None:
        self.reason = error.strerror or str(error)
        self.not_found = isinstance(error, FileNotFoundError)
        super().__init__(f"cannot run {program!r}: {self.reason}")

    @property
    def shell_status(self) -> int:
        """What a shell (or `env`, `timeout`) exits with: 127 not found, 126 cannot run."""
        return 127 if self.not_found else 126


@dataclass(frozen=True)
class Exit:
    returncode: int  # as subprocess gives it: -N when killed by signal N
    max_rss_bytes: int  # the leader's peak RSS; Linux starts it at the forking process's size

    @property
    def signum(self) -> int | None:
        """The signal that killed it; None when it exited."""
        return -self.returncode if self.returncode < 0 else None

    @property
    def shell_status(self) -> int:
        """The exit code, or 128 + N for a death by signal N, as a shell reports it."""
        return 128 - self.returncode if self.returncode < 0 else self.returncode

    def describe(self) -> str:
        if self.signum is None:
            return f"exited {self.returncode}"
        try:
            return f"killed by {signal.Signals(self.signum).name}"
        except ValueError:
            return f"killed by signal {self.signum}"


@dataclass(frozen=True)
class Member:
    """A live process of a command's tree."""

    pid: int
    name: str


@dataclass(frozen=True)
class Watched:
    """How `Process.watch` ended, and the tree's peak memory it saw (0: none sampled)."""

    peak_bytes: int
    timed_out: bool = False
    memory_exceeded: bool = False


def start(
    argv: Sequence[str] | str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    shell: bool = False,
    own_session: bool = True,
    stdin: Stdin = "closed",
    output: Output | None = None,
    marker: str | None = None,
) -> Process:
    """Start `argv` (a shell command line when `shell`); StartError when it cannot start.

    `output`: None inherits stdout and stderr, else both go, merged, to this callback on a
    reader thread, chunk by chunk (raw bytes: progress bars keep their `\\r`). `marker`: the
    name of a variable set to a random value in the command's environment, which every
    process it starts inherits: it finds the daemons that double-fork out of its session.
    """
    environ = dict(os.environ if env is None else env)
    marker_bytes = None
    if marker is not None:
        import secrets  # lazily: 3 ms that a hook, which passes no marker, does not pay

        environ[marker] = secrets.token_hex(8)
        marker_bytes = f"{marker}={environ[marker]}".encode()
    program = argv if isinstance(argv, str) else argv[0]
    try:
        popen = subprocess.Popen(
            argv if isinstance(argv, str) else list(argv),
            shell=shell,
            cwd=cwd,
            env=environ,
            stdin=_STDIN[stdin],
            stdout=subprocess.PIPE if output is not None else None,
            stderr=subprocess.STDOUT if output is not None else None,
            start_new_session=own_session,
        )
    except OSError as exc:
        raise StartError(program, exc) from None
    return Process(popen, own_session=own_session, marker=marker_bytes, output=output)


class Process:
    """A started command: bounded waits, its tree, its memory, and stopping all of it."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        own_session: bool,
        marker: bytes | None,
        output: Output | None,
    ) -> None:
        self.pid = popen.pid
        self.started = time.monotonic()
        self._popen = popen
        self._own_session = own_session
        self._marker = marker
        self._seen: set[int] = set()  # members found before: kept while they live
        self._seen_elsewhere: dict[int, psutil.Process] = {}
        self._exit: Exit | None = None
        self._done = threading.Event()
        self._reader = None
        if output is not None:
            assert popen.stdout is not None
            self._reader = threading.Thread(
                target=_drain, args=(popen.stdout.fileno(), output), daemon=True
            )
            self._reader.start()
        threading.Thread(target=self._reap, daemon=True).start()

    @property
    def returncode(self) -> int | None:
        return self._exit.returncode if self._exit is not None else None

    def _reap(self) -> None:
        try:
            _, status, usage = os.wait4(self.pid, 0)
            self._exit = Exit(os.waitstatus_to_exitcode(status), usage.ru_maxrss * RU_MAXRSS_BYTES)
        except ChildProcessError:
            # SIGCHLD ignored: the kernel reaped it and its status is lost; 0, as subprocess says
            self._exit = Exit(0, 0)
        self._popen.returncode = self._exit.returncode  # reaped here: Popen must not wait
        self._done.set()

    @overload
    def wait(self) -> Exit: ...
    @overload
    def wait(self, timeout: float) -> Exit | None: ...
    def wait(self, timeout: float | None = None) -> Exit | None:
        """Its exit status; None while it still runs after `timeout` seconds."""
        self._done.wait(timeout)
        return self._exit

    def send_input(self, data: bytes) -> None:
        """Write `data` to its stdin (started with `stdin="pipe"`) and close it, on a thread:
        a command that never reads cannot block the caller past its bounded wait."""
        pipe = self._popen.stdin
        assert pipe is not None

        def feed() -> None:
            with contextlib.suppress(OSError):  # it exited without reading everything
                pipe.write(data)
            with contextlib.suppress(OSError):
                pipe.close()

        threading.Thread(target=feed, daemon=True).start()

    def close_output(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the end of its output, then close the pipe; left
        open while a process that escaped the tree still holds it and the reader reads it."""
        if self._reader is None:
            return
        self._reader.join(timeout)
        if not self._reader.is_alive() and self._popen.stdout is not None:
            self._popen.stdout.close()

    # --- the tree ---------------------------------------------------------------------------

    def members(self, *, marked: bool = True) -> list[Member]:
        """The live processes of its tree, the leader too while it runs. `marked=False` skips
        the search by marker, which reads the environment of every process."""
        if procfs.available():
            return [Member(p.pid, p.name) for p in self._procfs_tree(marked)]
        return [member for member, _ in self._psutil_tree()]

    def memory_bytes(self) -> int:
        """What its tree holds now: the sum of the members' PSS on Linux, of their RSS
        elsewhere; 0 where the tree cannot be read."""
        if procfs.available():
            return procfs.total_memory_bytes(self._procfs_tree(marked=False))
        return sum(rss for _, rss in self._psutil_tree())

    def _procfs_tree(self, marked: bool) -> list[procfs.ProcessInfo]:
        tree = procfs.members(self.pid, self._marker if marked else None, known=self._seen)
        self._seen = {p.pid for p in tree}
        return tree

    def _psutil_tree(self) -> list[tuple[Member, int]]:
        """Each member with its RSS: the leader's descendants and those of the members seen
        before, which keep their own after the leader is gone."""
        try:
            import psutil
        except ImportError:
            return []
        roots = dict(self._seen_elsewhere)
        if self._exit is None:
            with contextlib.suppress(psutil.Error):
                roots.setdefault(self.pid, psutil.Process(self.pid))
        found: dict[int, psutil.Process] = {}
        for root in roots.values():
            with contextlib.suppress(psutil.Error):
                # is_running() also tells a reused pid from the process seen before
                if root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
                    found.setdefault(root.pid, root)
                    for child in root.children(recursive=True):
                        found.setdefault(child.pid, child)
        self._seen_elsewhere = found
        tree = []
        for process in found.values():
            with contextlib.suppress(psutil.Error):  # gone since: not a member any more
                tree.append((Member(process.pid, process.name()), process.memory_info().rss))
        return tree

    def _can_read_tree(self) -> bool:
        if procfs.available():
            return True
        try:
            import psutil  # noqa: F401
        except ImportError:
            return False
        return True

    # --- waiting and stopping ---------------------------------------------------------------

    def watch(
        self,
        timeout_seconds: float,
        memory_limit_bytes: int = 0,
        interval: float = SAMPLE_SECONDS,
    ) -> Watched:
        """Sample its tree's memory every `interval` seconds until it exits, or its time is
        up, or its tree holds more than `memory_limit_bytes` (0: no limit). A command past a
        limit is left running: the caller stops it."""
        deadline = self.started + timeout_seconds
        sampling = self._can_read_tree()
        peak = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Watched(peak, timed_out=True)
            if self._done.wait(min(interval, remaining) if sampling else remaining):
                return Watched(peak)
            if sampling:
                peak = max(peak, self.memory_bytes())
                if memory_limit_bytes and peak > memory_limit_bytes:
                    return Watched(peak, memory_exceeded=True)

    def terminate(self, grace_seconds: float = GRACE_SECONDS) -> None:
        """Stop the whole tree: SIGTERM, then SIGKILL to whatever still lives after
        `grace_seconds` (straight SIGKILL when 0). Returns once the tree is gone or killed."""
        pids = self._tree_pids()
        if not self._alive(pids):
            return
        if grace_seconds > 0:
            self._signal(pids, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while time.monotonic() < deadline:
                pids = self._tree_pids()
                if not self._alive(pids):
                    return
                time.sleep(POLL_SECONDS)
        self._signal(self._tree_pids(), signal.SIGKILL)

    def _tree_pids(self) -> set[int]:
        return {member.pid for member in self.members()}

    def _alive(self, pids: set[int]) -> bool:
        if pids:
            return True
        if self._can_read_tree():
            return False
        if not self._own_session:
            return self._exit is None
        try:  # the tree cannot be read: the process group is all there is to go on
            os.killpg(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _signal(self, pids: set[int], signum: int) -> None:
        if self._own_session:  # else its pid names no group, and its group is ours
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)
        if self._exit is not None:
            pids = pids - {self.pid}  # reaped: the pid may be another process's by now
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    @contextlib.contextmanager
    def forwarding(self, signals: Sequence[signal.Signals]) -> Iterator[None]:
        """Pass `signals` sent to claudio-ci on to the command while inside. A Ctrl-C typed
        at the terminal already reached a command in the terminal's foreground group, so
        that one is not sent twice."""

        def forward(signum: int, _frame: object) -> None:
            if signum == signal.SIGINT and not self._own_session and _terminal_sent_sigint():
                return
            if self._exit is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signum)

        previous = {sig: signal.signal(sig, forward) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _terminal_sent_sigint() -> bool:
    """A Ctrl-C at the terminal hits the whole foreground process group, the command too."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def _drain(fd: int, output: Output) -> None:
    """Read the pipe to its end (every writer gone), handing each chunk to `output`."""
    while chunk := os.read(fd, 65536):
        output(chunk)
