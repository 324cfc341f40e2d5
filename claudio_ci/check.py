"""What every `claudio-ci check ...` command shares: repository discovery, configuration,
file selection, rendering in the requested format and the exit code."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from claudio_ci.adapters.actions_env import ActionsEnv
from claudio_ci.adapters.git import Repository, discover, relative_paths
from claudio_ci.core import findings as fmt
from claudio_ci.core.config import Config, load_config
from claudio_ci.core.fileio import read_regular
from claudio_ci.core.findings import Finding, Severity
from claudio_ci.core.report import Report, render_report, report_markdown
from claudio_ci.core.suppress import Suppressions, filter_findings

MAX_COMMENT_BYTES = 2_000_000


@dataclass
class CheckContext:
    """Everything a check's runner needs; `files` are repo-relative POSIX paths."""

    repo: Repository
    config: Config
    files: list[str]
    fix: bool = False
    all_files: bool = False
    options: dict[str, Any] = field(default_factory=dict)


CheckRunner = Callable[[CheckContext], list[Finding]]


def command_config(
    repo: Repository | None,
    *,
    overrides: Sequence[str] = (),
    config_file: str | None = None,
    flag_values: Mapping[str, Any] | None = None,
) -> Config:
    """The configuration a command runs with: the repository's files, `--config FILE`,
    `--set` overrides and the command's own flags, validation cached in the state dir."""
    return load_config(
        repo.root if repo else None,
        cache_dir=repo.state_dir(create=False) if repo else None,  # caches are best effort
        overrides=overrides,
        flag_values=flag_values,
        repo_file=Path(config_file) if config_file else None,
    )


def run_check(
    runner: CheckRunner,
    *,
    filenames: Sequence[str],
    output_format: str | None,
    fix: bool = False,
    overrides: Sequence[str] = (),
    flag_values: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    fail_on: Severity | None = Severity.ERROR,
    title: str = "claudio-ci",
    options: Mapping[str, Any] | None = None,
    section: str | None = None,
) -> int:
    """`section`: the configuration section whose `ignore`/`per_file_ignores` apply."""
    repo = discover()
    config = command_config(
        repo, overrides=overrides, config_file=config_file, flag_values=flag_values
    )
    files = relative_paths(repo, filenames)
    context = CheckContext(
        repo, config, files, fix=fix, all_files=not filenames, options=dict(options or {})
    )
    rules = (
        Suppressions.from_section(getattr(config.settings, section)) if section else Suppressions()
    )
    found = filter_findings(runner(context), rules, functools.partial(_text_of, repo.root))
    results = config.warnings + found
    return report(results, output_format, title=title, fail_on=fail_on)


def _text_of(root: Path, path: str) -> str | None:
    """A finding's file, for its `# claudio-ci: ignore[...]` comments; None if unreadable."""
    if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        return None
    try:
        return read_regular(root / path, MAX_COMMENT_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def run_check_command(
    args: argparse.Namespace,
    runner: CheckRunner,
    title: str,
    section: str | None = None,
    **options: Any,
) -> int:
    """`run_check` with what every `check` subcommand's parser gives it."""
    return run_check(
        runner,
        filenames=args.filenames,
        output_format=args.format,
        fix=getattr(args, "fix", False),
        overrides=args.overrides,
        config_file=args.config,
        title=title,
        options=options,
        section=section,
    )


def report(
    results: Sequence[Finding],
    output_format: str | None,
    *,
    title: str = "claudio-ci",
    fail_on: Severity | None = Severity.ERROR,
) -> int:
    """Print findings in the requested format, add the step summary in CI, return the code."""
    show(Report(title, results), output_format, summary=bool(results))
    return fmt.exit_code(results, fail_on)


def show(
    shown: Report,
    output_format: str | None,
    *,
    summary: bool = True,
    env: ActionsEnv | None = None,
) -> str:
    """Write `shown` to stdout in the requested format (default: `github` in an Actions
    step, else `text`); with `github`, also its Markdown to the step summary (`summary`).
    Returns the format used."""
    env = env or ActionsEnv()
    chosen = output_format or env.default_format
    sys.stdout.write(render_report(shown, chosen))
    if chosen == "github" and summary:
        env.append_summary(report_markdown(shown))
    return chosen
