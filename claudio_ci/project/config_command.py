"""`claudio-ci config show|validate|schema`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from claudio_ci.adapters.actions_env import ActionsEnv
from claudio_ci.adapters.git import find_repository
from claudio_ci.check import command_config, report
from claudio_ci.core.config import SCHEMA_PATH, Config
from claudio_ci.core.config import validate as validate_config
from claudio_ci.core.findings import github_safe
from claudio_ci.core.report import Column, Report, Table, render, render_report


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


def _rows(config: Config) -> list[tuple[str, str, str]]:
    """Every leaf setting: its dotted key, its value as JSON, where it came from."""
    return [
        (key, json.dumps(value, default=str), str(config.origin(key, "default")))
        for key, value in _flatten(config.data)
    ]


def _listing(config: Config) -> str:
    """`key = value  # origin` lines; the origins line up, except after the few values too
    long for a terminal line."""
    rows = _rows(config)
    width = min(max(len(key) + len(value) for key, value, _ in rows) + 3, ORIGIN_COLUMN)
    return "".join(
        f"{key} = {value}".ljust(width) + f"  # {origin}\n" for key, value, origin in rows
    )


def _as_report(config: Config) -> Report:
    columns = (Column("Key", markdown="code"), Column("Value", markdown="code"), Column("Origin"))
    return Report("claudio-ci config", sections=[Table(columns, _rows(config))])


def show(args: argparse.Namespace) -> int:
    """The configuration on stdout in the chosen format (yaml: the configuration alone, as a
    file would hold it); its warnings, with their "did you mean" hints, on stderr."""
    config = _load(args)
    chosen = args.format or ActionsEnv().default_format
    if chosen == "json":
        origins = {key: str(origin) for key, origin in config.origins.items()}
        data = {"config": config.data, "origins": origins}
        json.dump(data, sys.stdout, indent=2, default=str)  # str: YAML dates in Claudio's sections
        sys.stdout.write("\n")
    elif chosen == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(config.data, sort_keys=False, allow_unicode=True))
    elif chosen == "markdown":
        sys.stdout.write(render_report(_as_report(config), "markdown"))
    else:  # text, and github: the same lines, none of them a workflow command
        listing = _listing(config)
        sys.stdout.write(github_safe(listing) if chosen == "github" else listing)
    sys.stderr.write(render(config.warnings, "github" if chosen == "github" else "text"))
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
