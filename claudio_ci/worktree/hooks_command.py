"""`claudio-ci install-hooks [--uninstall] [--hook NAME]`."""

from __future__ import annotations

import argparse
import sys

from claudio_ci.adapters.git import discover
from claudio_ci.worktree.hooks import HOOK_NAMES, hooks_location, install, uninstall


def run(args: argparse.Namespace) -> int:
    location = hooks_location(discover())
    names = list(dict.fromkeys(args.hook or HOOK_NAMES))
    if args.uninstall:
        results = uninstall(location.path, names)
    else:
        results = install(location.path, names, sys.executable)
    print(f"claudio-ci install-hooks: {location.path} ({location.why})")
    for result in results:
        print(f"  {result.name}: {result.message}")
    if any(result.ours for result in results):
        print(
            f"The hooks run claudio-ci with {sys.executable} (claudio-ci on PATH if that "
            "interpreter goes away). `claudio-ci install-hooks --uninstall` removes them."
        )
    return int(any(result.failed for result in results))
