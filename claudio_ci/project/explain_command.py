"""`claudio-ci explain CODE`: what a finding code means and the way out (as `ruff rule`)."""

from __future__ import annotations

import argparse
import json
import sys

from claudio_ci.core.codes import CODES, FAMILIES, as_dict, explain, family_codes, listing, lookup
from claudio_ci.core.errors import UsageError


def run(args: argparse.Namespace) -> int:
    if args.all:
        sys.stdout.write(listing(list(CODES.values()), args.format))
        return 0
    if args.code is None:
        raise UsageError("explain: give a CODE (for example NB004), or --all")
    family = args.code.strip().upper()
    if family in FAMILIES:
        sys.stdout.write(listing(family_codes(family), args.format))
        return 0
    entry = lookup(args.code)
    if entry is None:
        families = ", ".join(FAMILIES)
        raise UsageError(
            f"explain: unknown code {args.code!r}; codes start with {families} "
            "(`claudio-ci explain --all` lists them)"
        )
    text = json.dumps(as_dict(entry), indent=2) + "\n" if args.format == "json" else explain(entry)
    sys.stdout.write(text)
    return 0
