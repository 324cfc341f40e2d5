"""The command's process tree, read from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claudio_ci.adapters.procfs import (
    ProcessTree,
    is_alive,
    parent_pid,
    pss_bytes,
    start_ticks,
)
from tests.gpu.fake_driver import unused_pid

SPAWN_GRANDCHILD = (
    "import subprocess, sys; "
    "p = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'], "
    "stdin=subprocess.PIPE); print(p.pid, flush=True); sys.stdin.read(); p.stdin.close(); p.wait()"
)


def test_descendants_belong_to_the_tree_and_others_do_not() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SPAWN_GRANDCHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        grandchild = int(child.stdout.readline())
        assert parent_pid(grandchild) == child.pid
        tree = ProcessTree(child.pid)
        assert child.pid in tree
        assert grandchild in tree
        assert os.getpid() not in tree
        assert 1 not in tree
        assert grandchild in ProcessTree(os.getpid())
    finally:
        child.stdin.close()
        child.wait()


def test_a_reused_pid_is_not_the_process_that_reserved_a_gpu() -> None:
    me = os.getpid()
    assert is_alive(me)
    assert is_alive(me, start_ticks(me))
    assert not is_alive(me, (start_ticks(me) or 0) + 1)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not is_alive(proc.pid)
    assert parent_pid(proc.pid) is None


def test_answers_are_kept_only_for_pids_still_listed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        tree = ProcessTree(os.getpid())
        assert child.pid in tree
        assert 1 not in tree
        tree.refresh([child.pid])
        assert tree._known == {child.pid: True}
        tree.refresh([])
        assert tree._known == {}
    finally:
        child.kill()
        child.wait()


def test_a_process_that_exited_holds_no_memory_rather_than_its_last_rss() -> None:
    """A DataLoader worker ending between the tree's listing and its PSS read counts 0: once
    its RSS counted instead, the summed tree briefly read 500 MB for 150 MB of shared pages."""
    if pss_bytes(os.getpid()) is None:
        pytest.skip("no /proc/<pid>/smaps_rollup")
    assert pss_bytes(os.getpid()) > 0
    assert pss_bytes(unused_pid()) == 0
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    stat = Path(f"/proc/{zombie.pid}/stat")
    for _ in range(1000):  # until it has exited, unreaped: state Z
        if stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.01)
    try:
        assert pss_bytes(zombie.pid) == 0  # exited, not yet reaped: its pages are freed
    finally:
        zombie.wait()
