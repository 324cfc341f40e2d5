"""`claudio-ci config show|validate|schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from claudio_ci.adapters.git import find_repository
from claudio_ci.check import command_config, report
from claudio_ci.core.config import SCHEMA_PATH, Config
from claudio_ci.core.config import validate as validate_config
from claudio_ci.core.findings import render_text


def _load(args: argparse.Namespace) -> Config:
    return command_config(find_repository(), overrides=args.overrides, config_file=args.config)


ORIGIN_COLUMN = 60


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += _flatten(value, dotted + ".")
        else:
            rows.append((dotted, value))
    return rows


def show(args: argparse.Namespace) -> int:
    config = _load(args)
    if args.format == "json":
        origins = {key: str(origin) for key, origin in config.origins.items()}
        data = {"config": config.data, "origins": origins}
        json.dump(data, sys.stdout, indent=2, default=str)  # str: YAML dates in Claudio's sections
        sys.stdout.write("\n")
    elif args.format == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(config.data, sort_keys=False, allow_unicode=True))
    else:
        rows = [(key, json.dumps(value, default=str)) for key, value in _flatten(config.data)]
        # Origins line up, except after the few values too long for a terminal line.
        width = min(max(len(key) + len(value) for key, value in rows) + 3, ORIGIN_COLUMN)
        for key, value in rows:
            origin = config.origin(key, "default")
            sys.stdout.write(f"{key} = {value}".ljust(width) + f"  # {origin}\n")
    sys.stderr.write(render_text(config.warnings))  # with the "did you mean" hints
    return 0


def validate(args: argparse.Namespace) -> int:
    repo = find_repository()
    findings = validate_config(
        repo.root if repo else None,
        overrides=args.overrides,
        repo_file=Path(args.config) if args.config else None,
    )
    code = report(findings, args.format, title="claudio-ci config")
    if not findings and (args.format or "text") == "text":
        print("configuration is valid")
    return code


def schema(args: argparse.Namespace) -> int:
    sys.stdout.write(SCHEMA_PATH.read_text(encoding="utf-8"))
    return 0
