"""Process supervisor: the cost of one look at a command's tree, and of supervising a command.

A sample of the smoke test's memory limit lists the tree and sums its PSS, ten times a
second. On Linux the supervisor reads /proc itself (`procfs`); the anchor is psutil's way to
the same figures (`children(recursive=True)`, then `memory_full_info().pss` of each), and
psutil's RSS (`memory_info()`, what the supervisor reads where there is no /proc). The tree:
a leader and 8 forked workers, as a DataLoader starts them. Then a whole supervised run
(`processes.start` with output captured, `watch`, `wait`) against `subprocess.run` of the
same trivial command.
Run: python bench/bench_processes.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
from benchlib import Row, best_of, print_table

from claudio_ci.adapters import processes

WORKERS = 8
TREE = f"""
import os, sys
for _ in range({WORKERS}):
    if os.fork() == 0:
        sys.stdin.read()
        os._exit(0)
print("ready", flush=True)
sys.stdin.read()
"""


def _tree(tmp: Path) -> processes.Process:
    output = bytearray()
    proc = processes.start(
        [sys.executable, "-c", TREE], cwd=tmp, stdin="pipe", output=output.extend
    )
    while b"ready" not in output:
        if proc.wait(0.02) is not None:
            raise SystemExit(f"the tree exited early: {bytes(output)!r}")
    return proc


def _psutil_pss(pid: int) -> int:
    leader = psutil.Process(pid)
    return sum(p.memory_full_info().pss for p in [leader, *leader.children(recursive=True)])


def _psutil_rss(pid: int) -> int:
    leader = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [leader, *leader.children(recursive=True)])


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="claudio-bench-") as tmp:
        proc = _tree(Path(tmp))
        try:
            ours = best_of(proc.memory_bytes, repeat=50)
            pss = best_of(lambda: _psutil_pss(proc.pid), repeat=50)
            rss = best_of(lambda: _psutil_rss(proc.pid), repeat=50)
            tree = f"one sample: tree PSS, 1+{WORKERS} processes"
            rows.append(Row(tree, ours, "psutil PSS (same figure)", pss, "< 10 ms"))
            rows.append(Row(tree, ours, "psutil RSS (no /proc)", rss))
        finally:
            proc.terminate()
            proc.wait()

        argv = [sys.executable, "-c", "pass"]

        def supervised() -> None:
            run = processes.start(argv, cwd=Path(tmp), output=lambda _: None)
            run.watch(60)
            run.wait()
            run.close_output(5)

        def plain() -> None:
            subprocess.run(argv, cwd=tmp, capture_output=True, check=True)

        rows.append(
            Row(
                "supervised `python -c pass`", best_of(supervised), "subprocess.run", best_of(plain)
            )
        )
    print_table("Process supervisor", rows)


if __name__ == "__main__":
    main()
