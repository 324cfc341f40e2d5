"""`claudio-ci explain CODE`: what a finding code means and the way out (as `ruff rule`)."""

from __future__ import annotations

import argparse
import sys

from claudio_ci.core.codes import CODES, FAMILIES, explain, lookup
from claudio_ci.core.errors import UsageError


def run(args: argparse.Namespace) -> int:
    if args.all:
        for listed in CODES.values():
            sys.stdout.write(f"{listed.code:<7} {listed.severity.label:<8} {listed.summary}\n")
        return 0
    if args.code is None:
        raise UsageError("explain: give a CODE (for example NB004), or --all")
    entry = lookup(args.code)
    if entry is None:
        families = ", ".join(FAMILIES)
        raise UsageError(
            f"explain: unknown code {args.code!r}; codes start with {families} "
            "(`claudio-ci explain --all` lists them)"
        )
    sys.stdout.write(explain(entry))
    return 0
