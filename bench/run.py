"""Run every benchmark (`bench/bench_*.py`) in one process, one table each.

Run: python bench/run.py            (all)
     python bench/run.py startup    (those whose name contains "startup")
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    selected = [n for n in names if not argv or any(a in n for a in argv)]
    for name in selected:
        start = time.perf_counter()
        importlib.import_module(name).main()
        print(f"\n({name}: {time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
