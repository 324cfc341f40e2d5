"""`claudio-ci worktree setup|status`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from claudio_ci.adapters.actions_env import ActionsEnv
from claudio_ci.adapters.git import discover
from claudio_ci.check import command_config, show
from claudio_ci.core.config import Config
from claudio_ci.core.errors import UsageError
from claudio_ci.core.findings import exit_code
from claudio_ci.core.report import Cell, Column, Notes, Report, Table, Text
from claudio_ci.worktree.registry import FAILED, INCOMPLETE
from claudio_ci.worktree.settings import WorktreeSettings, load_settings
from claudio_ci.worktree.setup import SetupReport, creates_worktree, setup_worktree
from claudio_ci.worktree.status import (
    LINK_BROKEN,
    LINK_OK,
    LinkStatus,
    WorktreeStatus,
    worktree_statuses,
)
from claudio_ci.worktree.trust import commands_trust


def _config(args: argparse.Namespace, root: Path) -> Config:
    return command_config(discover(root), overrides=args.overrides, config_file=args.config)


def _settings(args: argparse.Namespace, root: Path) -> WorktreeSettings:
    return load_settings(_config(args, root))


def _shown(path: Path, main_root: Path) -> str:
    """A worktree's path relative to the main worktree when inside it, else absolute."""
    try:
        return path.relative_to(main_root).as_posix() or "."
    except ValueError:
        return str(path)


# --- setup ------------------------------------------------------------------------------------


def _hook_says_new_worktree(hook_args: list[str], environ: Mapping[str, str]) -> bool:
    if hook_args:
        if len(hook_args) != 3:
            raise UsageError("--post-checkout takes git's three arguments: OLD-HEAD NEW-HEAD FLAG")
        return creates_worktree(hook_args[0], hook_args[2])
    old_head = environ.get("PRE_COMMIT_FROM_REF", "")
    checkout_type = environ.get("PRE_COMMIT_CHECKOUT_TYPE", "")
    if not old_head and not checkout_type:
        raise UsageError(
            "--post-checkout needs git's arguments (OLD-HEAD NEW-HEAD FLAG) or the pre-commit "
            "framework's PRE_COMMIT_FROM_REF and PRE_COMMIT_CHECKOUT_TYPE"
        )
    return creates_worktree(old_head, checkout_type)


def setup(args: argparse.Namespace) -> int:
    """Progress as it happens, then the findings. With `--format json` or `markdown`, stdout
    holds the document alone: progress and the setup commands' output go to stderr."""
    if args.post_checkout is not None and not _hook_says_new_worktree(
        args.post_checkout, os.environ
    ):
        return 0
    repo = discover()
    config = _config(args, repo.root)
    settings = load_settings(config)
    chosen = args.format or ActionsEnv().default_format
    live = chosen in ("text", "github")
    stream = sys.stdout if live else sys.stderr
    branch = repo.current_branch() or "detached"
    print(f"claudio-ci worktree setup: {repo.root} ({branch})", file=stream)
    report = setup_worktree(
        repo,
        settings,
        commands=args.commands,
        trust=commands_trust(settings, repo.root),
        progress=lambda line: print(f"  {line}", file=stream, flush=True),
        output=None if live else _to_stderr,
    )
    lines = [f"Jupyter port {report.port}"] if report.port is not None else []
    lines += report.changes or ["already set up: nothing to change"]
    findings = config.warnings + report.findings
    if live:
        print("".join(f"  {line}\n" for line in lines), end="")
        show(Report("claudio-ci worktree setup", findings), chosen)
    else:
        shown = Report(
            "claudio-ci worktree setup",
            findings,
            [Notes(lines)],
            subtitle=f"{repo.root} ({branch})",
            data=_setup_data(report),
        )
        show(shown, chosen)
    return exit_code(report.findings)


def _to_stderr(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


def _setup_data(report: SetupReport) -> dict[str, object]:
    return {
        "worktree": str(report.root),
        "branch": report.branch,
        "port": report.port,
        "state": report.state,
        "changes": report.changes,
    }


def _repo_config_bytes(config_file: Path) -> bytes:
    """The bytes of the repository's `.claudio.yaml`, read once: the commands shown and the
    approval both come from them. UsageError saying why they cannot be read."""
    from claudio_ci.core.fileio import read_regular
    from claudio_ci.core.yamlfile import MAX_BYTES

    try:
        raw = read_regular(config_file, MAX_BYTES)
    except FileNotFoundError:
        raise UsageError(f"worktree allow: {config_file} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"worktree allow: {config_file} is a directory, not a YAML file") from None
    except OSError as exc:
        raise UsageError(f"worktree allow: cannot read {config_file}: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"worktree allow: {config_file} is over {MAX_BYTES:,} bytes")
    return raw


def allow(args: argparse.Namespace) -> int:
    """Show the setup commands of this content of the repository's `.claudio.yaml`, then
    approve them (--show: only show them; --revoke: withdraw the approval)."""
    from claudio_ci.core.config import REPO_FILE, bytes_layer, merge_layers
    from claudio_ci.worktree import trust

    repo = discover()
    config_file = repo.root / REPO_FILE
    content = _repo_config_bytes(config_file)
    if args.revoke:
        done = trust.revoke(config_file)
        print(f"claudio-ci worktree: {'revoked' if done else 'no'} approval of {config_file}")
        return 0
    # the file's own commands, not those your config, the environment or --set would add
    settings = load_settings(merge_layers([bytes_layer(content, REPO_FILE)]))
    print(f"claudio-ci worktree: the setup commands of {config_file} (this content):")
    for command in settings.setup_commands or ["(none)"]:
        print(f"  {command}")
    if args.show:
        print("not approved: run `claudio-ci worktree allow` to approve them")
        return 0
    trust.allow(config_file, content)
    print("approved (this content only: any change to the file needs a new approval)")
    return 0


# --- status -----------------------------------------------------------------------------------


def _link_cell(link: LinkStatus) -> str:
    if link.state == LINK_OK:
        return f"{link.name} -> {link.points_to}"
    if link.state == LINK_BROKEN:
        return f"{link.name} -> {link.points_to or link.target} BROKEN"
    return f"{link.name} ({link.state})"


def _status_data(statuses: list[WorktreeStatus]) -> list[dict[str, object]]:
    return [
        {
            "path": str(s.path),
            "branch": s.branch,
            "port": s.port,
            "setup": s.setup,
            "links": [
                {
                    "name": link.name,
                    "target": str(link.target),
                    "state": link.state,
                    "points_to": str(link.points_to) if link.points_to else None,
                }
                for link in s.links
            ],
            "problems": s.problems,
            "note": s.note,
            "flagged": s.flagged,
        }
        for s in statuses
    ]


_STATUS_COLUMNS = (
    Column("WORKTREE", markdown="code"),
    Column("BRANCH", markdown="code"),
    Column("PORT", markdown="raw"),
    Column("SETUP"),
    Column("DATA"),
)


def status_report(statuses: list[WorktreeStatus]) -> Report:
    """One row per worktree, then the problems its last setup recorded, and what a flag means."""
    main_root = statuses[0].path
    rows: list[list[Cell]] = [
        [
            _shown(s.path, main_root),
            s.branch,
            str(s.port) if s.port is not None else "-",
            s.setup.upper() if s.setup in (FAILED, INCOMPLETE) else s.setup,
            s.note or (", ".join(_link_cell(link) for link in s.links) or "-"),
        ]
        for s in statuses
    ]
    notes: list[Cell] = [
        f"{_shown(s.path, main_root)}: {problem}" for s in statuses for problem in s.problems
    ]
    if any(s.flagged for s in statuses):
        flagged = (
            "Flagged: a BROKEN link needs its target; a FAILED or INCOMPLETE setup is rerun "
            "by `claudio-ci worktree setup` in that worktree."
        )
        notes.append(Text(flagged, flagged))
    return Report(
        "claudio-ci worktree status",
        sections=[Table(_STATUS_COLUMNS, rows), Notes(notes)],
        data=_status_data(statuses),
    )


def status(args: argparse.Namespace) -> int:
    repo = discover()
    statuses = worktree_statuses(repo, lambda root: _settings(args, root))
    show(status_report(statuses), args.format)
    return int(any(s.flagged for s in statuses))
