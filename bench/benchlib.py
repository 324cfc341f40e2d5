"""Shared helpers for the benchmarks: timing and one table format.

Every figure is a ratio against an anchor measured in the same run on the same machine,
so numbers from different machines can be compared; absolute times are shown too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    name: str
    seconds: float
    anchor_name: str
    anchor_seconds: float
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.anchor_seconds / self.seconds if self.seconds else float("inf")


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of `fn` over `repeat` runs (after `warmup` unmeasured ones)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command(
    args: Sequence[str],
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    ok_codes: Sequence[int] = (0,),
) -> Callable[[], None]:
    """A callable that runs a command and fails loudly on an unexpected exit code."""

    def run() -> None:
        proc = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, check=False)
        if proc.returncode not in ok_codes:
            raise SystemExit(
                f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}"
            )

    return run


def print_table(title: str, rows: Sequence[Row]) -> None:
    print(f"\n## {title}\n")
    print("| case | time | anchor | anchor time | speed-up vs anchor | goal | note |")
    print("|---|---:|---|---:|---:|---|---|")
    for r in rows:
        print(
            f"| {r.name} | {r.seconds * 1000:.1f} ms | {r.anchor_name} | "
            f"{r.anchor_seconds * 1000:.1f} ms | {r.ratio:.2f}x | {r.goal} | {r.note} |"
        )


def installed_env(pycache: Path) -> dict[str, str]:
    """The environment of an installed copy: bytecode compiled once, then reused.

    This machine sets PYTHONDONTWRITEBYTECODE=1, which makes an editable checkout recompile
    every module at every start; pip compiles an installed package once.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env
