"""`claudio-ci init`: add the hooks, the CI workflow and a commented config to a repo."""

from __future__ import annotations

import argparse
from pathlib import Path

from claudio_ci.adapters.git import discover
from claudio_ci.core.errors import UsageError
from claudio_ci.core.resources import repo_templates_dir
from claudio_ci.project.scaffold import Action, apply, plan

NEXT_STEPS = """\
Next:
  pip install pre-commit && pre-commit install    run the hooks at every commit
  claudio-ci config validate                      check .claudio.yaml
  git add .pre-commit-config.yaml .claudio.yaml .github experiments/template.yaml"""


def run(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    root = discover(directory).root
    planned = plan(repo_templates_dir(), root, force=args.force)
    if not args.dry_run:
        apply(planned)
    verb = "would be " if args.dry_run else ""
    for item in planned:
        print(f"{item.relative}: {verb}{item.action.value}")
    if any(item.action is Action.SKIP for item in planned):
        print("Some files were kept as they are; compare them with `claudio-ci init --dry-run`.")
    if not args.dry_run and any(i.action is Action.CREATE for i in planned):
        if all(item.relative != "experiments/template.yaml" for item in planned):
            print(NEXT_STEPS.replace(" experiments/template.yaml", ""))
        else:
            print(NEXT_STEPS)
    return 0
