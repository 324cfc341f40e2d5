"""`claudio-ci demo [--keep DIR]`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from claudio_ci.core.errors import UsageError


def run(args: argparse.Namespace) -> int:
    from claudio_ci.project.demo import run_demo

    if args.keep:
        root = Path(args.keep).resolve()
        if root.exists() and any(root.iterdir()):
            raise UsageError(f"{root}: not empty; --keep needs a new or empty directory")
        run_demo(root)
        return 0
    with tempfile.TemporaryDirectory(prefix="claudio-ci-demo-") as tmp:
        run_demo(Path(tmp) / "ml-project")
        print("(removed; use --keep DIR to explore it)")
    return 0
