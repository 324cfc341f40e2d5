"""Running a command under limits: live output, and the whole process tree killed on breach."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from claudio_ci.adapters import procfs
from claudio_ci.smoke.runner import Limits, StartError, Waiting, run_process

pytestmark = pytest.mark.skipif(not procfs.available(), reason="needs /proc (Linux)")

SPAWN_SLEEPER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print(child.pid, flush=True)
"""


def _run(tmp_path: Path, script: str, limits: Limits, **kwargs: object):
    return run_process(
        [sys.executable, "-c", script], cwd=tmp_path, env=os.environ, limits=limits, **kwargs
    )


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for init counts: it runs nothing and holds no memory)."""
    return procfs.read_process(pid) is None


def test_output_is_echoed_while_the_command_runs(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    script = f"""
import pathlib, sys, time
print("ready", flush=True)
deadline = time.monotonic() + 30
while not pathlib.Path({str(seen)!r}).exists():
    if time.monotonic() > deadline:
        sys.exit("the harness never echoed 'ready' while I ran")
    time.sleep(0.01)
print("done")
"""
    chunks: list[bytes] = []

    def echo(chunk: bytes) -> None:
        chunks.append(chunk)
        if b"ready" in b"".join(chunks):
            seen.touch()

    result = _run(tmp_path, script, Limits(60), echo=echo)
    assert (result.exit_code, result.tail) == (0, ["ready", "done"])
    assert b"".join(chunks) == b"ready\ndone\n"
    assert not result.timed_out
    assert not result.memory_exceeded


def test_the_tail_shows_progress_bars_as_a_terminal_does(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write('10%\\r50%\\r100%\\nlast, no newline')"
    result = _run(tmp_path, script, Limits(60))
    assert result.tail == ["100%", "last, no newline"]


def test_a_timeout_kills_the_children_too(tmp_path: Path) -> None:
    """Even one that left the process group: it is still a descendant while its parent runs."""
    escaped = (
        "runaway = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], "
        "start_new_session=True)\nprint(runaway.pid, flush=True)\ntime.sleep(300)\n"
    )
    result = _run(tmp_path, SPAWN_SLEEPER + escaped, Limits(1.0))
    assert result.timed_out
    assert result.exit_code == -signal.SIGTERM
    child, runaway = (int(line) for line in result.tail)
    assert _gone(child)
    assert _gone(runaway)
    assert result.wall_seconds >= 1.0


def test_a_child_that_ignores_sigterm_gets_sigkill(tmp_path: Path) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('armed', flush=True)\ntime.sleep(300)\n"
    )
    result = _run(tmp_path, script, Limits(1.5), grace_seconds=0.2)
    assert result.tail == ["armed"]
    assert (result.timed_out, result.exit_code) == (True, -signal.SIGKILL)


def test_the_memory_limit_counts_the_whole_tree(tmp_path: Path) -> None:
    """Two children of 80 MB each: neither alone is over 120 MB, together they are."""
    hog = "import time; b = b'x' * (80 * 1024 * 1024); print('hog', flush=True); time.sleep(300)"
    script = f"""
import subprocess, sys, time
kids = [subprocess.Popen([sys.executable, "-c", {hog!r}]) for _ in range(2)]
print(*[kid.pid for kid in kids], flush=True)
time.sleep(300)
"""
    result = _run(tmp_path, script, Limits(120, max_memory_mb=120))
    assert result.memory_exceeded
    assert not result.timed_out
    assert result.peak_rss_mb > 120
    assert all(_gone(int(pid)) for pid in result.tail[0].split())


def test_peak_memory_is_measured(tmp_path: Path) -> None:
    script = "b = b'x' * (64 * 1024 * 1024); print(len(b))"
    result = _run(tmp_path, script, Limits(60))
    assert result.exit_code == 0
    assert result.peak_rss_mb > 64


def test_processes_left_behind_are_reported_and_stopped(tmp_path: Path) -> None:
    result = _run(tmp_path, SPAWN_SLEEPER, Limits(60))
    child = int(result.tail[0])
    assert result.exit_code == 0
    assert len(result.leftovers) == 1
    assert result.leftovers[0].endswith(f"({child})")
    assert _gone(child)


def test_a_command_that_cannot_start_raises(tmp_path: Path) -> None:
    with pytest.raises(StartError, match=r"^cannot run 'no-such-trainer': No such file"):
        run_process(["no-such-trainer"], cwd=tmp_path, env=os.environ, limits=Limits(5))
    script = tmp_path / "train.sh"
    script.write_text("echo hi\n", encoding="utf-8")  # not executable
    with pytest.raises(StartError, match="Permission denied"):
        run_process([str(script)], cwd=tmp_path, env=os.environ, limits=Limits(5))


DAEMON = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open("daemon.pid", "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(300)
    os._exit(0)
deadline = time.monotonic() + 30
while not os.path.exists("daemon.pid") and time.monotonic() < deadline:
    time.sleep(0.01)
"""


def test_a_double_forked_setsid_daemon_is_found_and_stopped(tmp_path: Path) -> None:
    result = _run(tmp_path, DAEMON, Limits(60), grace_seconds=2)
    daemon = int((tmp_path / "daemon.pid").read_text())
    assert procfs.read_process(daemon) is None or _gone(daemon)
    assert result.exit_code == 0
    assert any(f"({daemon})" in leftover for leftover in result.leftovers), result.leftovers


FORKED_WORKERS = """
import os, time
data = bytearray(150 * 1024 * 1024)
for i in range(0, len(data), 4096):
    data[i] = 1
workers = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        time.sleep(1.5)
        os._exit(0)
    workers.append(pid)
for pid in workers:
    os.waitpid(pid, 0)
"""


def test_forked_workers_sharing_their_parents_pages_count_them_once(tmp_path: Path) -> None:
    """Like DataLoader workers: seven processes with 150 MB resident each, 150 MB in all."""
    if procfs.pss_bytes(os.getpid()) is None:
        pytest.skip("no /proc/<pid>/smaps_rollup")
    result = _run(tmp_path, FORKED_WORKERS, Limits(60, max_memory_mb=500))
    assert not result.memory_exceeded
    assert result.exit_code == 0
    assert 150 <= result.peak_rss_mb < 500


def test_the_runners_own_size_is_not_counted_as_the_commands(tmp_path: Path) -> None:
    """Linux starts an exec'd child's ru_maxrss at the size of the process it was forked from:
    a 600 MB runner (a test session with torch imported) must not read as a 600 MB training."""
    if procfs.pss_bytes(os.getpid()) is None:
        pytest.skip("no /proc/<pid>/smaps_rollup")
    ballast = b"\1" * (300 * 1024 * 1024)  # every page written, so resident
    result = _run(tmp_path, "import time; time.sleep(1)", Limits(60, max_memory_mb=200))
    del ballast
    assert not result.memory_exceeded
    assert result.exit_code == 0
    assert result.peak_rss_mb < 100


READS_ITS_INPUT = (
    "import sys, time; text = sys.stdin.read(); print('got', repr(text)); "
    "time.sleep(float(text or 0))"
)


def test_a_command_started_ahead_gets_its_input_later(tmp_path: Path) -> None:
    waiting = Waiting([sys.executable, "-c", READS_ITS_INPUT], cwd=tmp_path, env=os.environ)
    result = waiting.finish(b"0", 60)
    assert result is not None
    assert (result.exit_code, result.tail, result.timed_out) == (0, ["got '0'"], False)
    assert waiting.finish(b"0", 60) is None  # once only


def test_a_command_started_ahead_is_stopped_past_its_timeout(tmp_path: Path) -> None:
    waiting = Waiting([sys.executable, "-c", READS_ITS_INPUT], cwd=tmp_path, env=os.environ)
    result = waiting.finish(b"300", 1)
    assert result is not None
    assert result.timed_out
    assert result.exit_code == -signal.SIGKILL


def test_a_command_started_ahead_and_not_needed_ends(tmp_path: Path) -> None:
    waiting = Waiting([sys.executable, "-c", READS_ITS_INPUT], cwd=tmp_path, env=os.environ)
    proc = waiting.proc
    waiting.cancel()
    assert proc is not None and proc.returncode == 0


def test_a_command_that_cannot_start_ahead_is_run_the_usual_way(tmp_path: Path) -> None:
    waiting = Waiting([str(tmp_path / "missing")], cwd=tmp_path, env=os.environ)
    assert waiting.finish(b"", 1) is None
