"""`claudio-ci worktree setup`: make a worktree ready for ML work.

Shared-data links, output directories, a Jupyter port of its own and the env file, then the
configured setup commands. Idempotent: what is there is kept and nothing of the user's is ever
deleted. Problems are findings: warnings for what the user can fix later (a missing shared-data
target), errors only for a failed setup command.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.adapters import processes
from claudio_ci.adapters.git import Repository, scrubbed_environ
from claudio_ci.core import codes
from claudio_ci.core.findings import Finding, Severity
from claudio_ci.worktree import blocks
from claudio_ci.worktree.registry import (
    DONE,
    FAILED,
    INCOMPLETE,
    Registry,
    WorktreeRecord,
    assign_port,
    forget_missing,
    now,
    port_in_use,
    worktree_key,
)
from claudio_ci.worktree.settings import WorktreeSettings
from claudio_ci.worktree.trust import Trust

TARGET_MISSING = codes.WT001
PATH_TAKEN = codes.WT002
NOT_A_DIRECTORY = codes.WT003
NO_FREE_PORT = codes.WT004
FILE_NOT_UPDATED = codes.WT005
COMMAND_FAILED = codes.WT006
COMMAND_TIMED_OUT = codes.WT007
COMMANDS_NOT_APPROVED = codes.WT008
LEADS_OUTSIDE = codes.WT009

PORT_VARIABLE = "JUPYTER_PORT"  # Jupyter Server reads it
OUTPUT_VARIABLE = "EXPERIMENT_OUTPUT_ROOT"
STOP_GRACE_SECONDS = processes.GRACE_SECONDS

Progress = Callable[[str], object]


@dataclass
class SetupReport:
    root: Path
    branch: str | None
    port: int | None = None
    changes: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def state(self) -> str:
        return FAILED if any(f.severity is Severity.ERROR for f in self.findings) else DONE


def _warning(path: str, code: codes.Code, message: str, hint: str | None = None) -> Finding:
    return Finding(path, code, message, 0, 0, code.severity, hint)


def _leads_outside(root: Path, path: Path) -> bool:
    """Whether `path` (existing or not) lands outside the worktree once the symlinks on its
    way are followed: a branch can commit `outputs -> /home/me/.ssh`."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return os.path.commonpath([real_root, real]) != real_root


def _outside_warning(relative: str) -> Finding:
    return _warning(
        relative,
        LEADS_OUTSIDE,
        "leads outside the worktree through a symlink; nothing written there",
        "a committed symlink must not redirect setup: remove it or change the setting",
    )


# --- steps ------------------------------------------------------------------------------------


def make_directories(root: Path, relatives: Sequence[str], report: SetupReport) -> None:
    made = []
    for relative in dict.fromkeys(relatives):
        path = root / relative
        if _leads_outside(root, path):
            report.findings.append(_outside_warning(relative))
            continue
        if path.is_dir():
            continue
        try:
            path.mkdir(parents=True)
        except (FileExistsError, NotADirectoryError):
            report.findings.append(
                _warning(relative, NOT_A_DIRECTORY, "exists and is not a directory; kept as is")
            )
            continue
        made.append(relative)
    if made:
        report.changes.append(f"made {', '.join(made)}")


def link_shared_data(
    root: Path, main_root: Path, settings: WorktreeSettings, report: SetupReport
) -> None:
    for name in sorted(settings.shared_data):
        relative = name.rstrip("/")
        link = root / relative
        target = settings.target_of(name, main_root)
        if link == target:  # the main worktree, where the shared data itself lives
            continue
        if link.is_symlink():
            current = Path(os.path.normpath(link.parent / os.readlink(link)))
            if current != target:
                report.findings.append(
                    _warning(relative, PATH_TAKEN, f"links to {current}, not {target}; kept as is")
                )
                continue
        elif link.exists():
            report.findings.append(
                _warning(
                    relative,
                    PATH_TAKEN,
                    f"exists and is not a link; kept as is (shared data is at {target})",
                )
            )
            continue
        elif _leads_outside(root, link.parent):
            report.findings.append(_outside_warning(relative))
            continue
        else:
            try:
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, link, target_is_directory=True)
            except OSError as exc:
                report.findings.append(
                    _warning(relative, PATH_TAKEN, f"cannot link: {exc.strerror}; nothing changed")
                )
                continue
            report.changes.append(f"linked {relative} -> {target}")
        if not target.exists():
            report.findings.append(
                _warning(
                    relative,
                    TARGET_MISSING,
                    f"shared data target {target} does not exist",
                    "the link works as soon as the target does",
                )
            )


def env_values(root: Path, settings: WorktreeSettings, port: int | None) -> dict[str, str]:
    values = {}
    if port is not None:
        values[PORT_VARIABLE] = str(port)
    values[OUTPUT_VARIABLE] = str(root / settings.output_root.rstrip("/"))
    return values


def write_env_file(
    repo: Repository, settings: WorktreeSettings, values: Mapping[str, str], report: SetupReport
) -> None:
    if settings.env_file is None:
        return
    relative = settings.env_file
    path = repo.root / relative
    body = [
        "# This worktree's own Jupyter port and experiment output root (claudio-ci worktree setup)",
        *(f"{name}={shlex.quote(value)}" for name, value in values.items()),
    ]
    if _leads_outside(repo.root, path.parent):
        report.findings.append(_outside_warning(relative))
        return
    if path.is_symlink():
        problem = "is a symlink (shared with other worktrees?)"
    elif repo.is_tracked(relative):
        problem = "is tracked by git"
    else:
        try:
            if blocks.update_file(path, body):
                report.changes.append(f"wrote {relative}")
            return
        except blocks.DamagedBlock as exc:
            problem = f"has a damaged claudio-ci block ({exc})"
    report.findings.append(
        _warning(
            relative,
            FILE_NOT_UPDATED,
            f"{problem}; {', '.join(values)} not written",
            "set worktree.env_file to a file of this worktree only, e.g. .env.local",
        )
    )


def exclude_locally(repo: Repository, settings: WorktreeSettings, report: SetupReport) -> None:
    """Keep the links and the env file out of `git add -A`, in the repository's own
    `info/exclude` (never committed; shared by every worktree, so it only ever grows)."""
    paths = list(settings.shared_data) + ([settings.env_file] if settings.env_file else [])
    if not paths:
        return
    exclude = repo.common_dir / "info" / "exclude"
    try:
        current = blocks.read_block(blocks.read_text(exclude))
        patterns = sorted({*current, *(blocks.anchored_pattern(path) for path in paths)})
        blocks.update_file(exclude, patterns)
    except blocks.DamagedBlock as exc:
        report.findings.append(
            _warning(
                str(exclude), FILE_NOT_UPDATED, f"not updated: damaged claudio-ci block ({exc})"
            )
        )


def run_commands(
    root: Path,
    settings: WorktreeSettings,
    env: Mapping[str, str],
    report: SetupReport,
    progress: Progress,
    output: processes.Output | None = None,
) -> bool:
    """Run the setup commands in order within the time limit; False at the first failure.
    Their output goes to `output` when given (see `processes.start`), else to ours."""
    deadline = time.monotonic() + settings.setup_timeout_seconds
    for command in settings.setup_commands:
        progress(f"running: {command}")
        try:  # in a session of its own, so that a timeout stops the command's children too
            proc = processes.start(command, shell=True, cwd=root, env=env, output=output)
        except processes.StartError as exc:  # the shell itself: no /bin/sh, or no worktree
            report.findings.append(_command_error(settings, COMMAND_FAILED, f"{exc}: {command}"))
            return False
        try:
            ended = proc.wait(max(deadline - time.monotonic(), 0))
        except BaseException:
            proc.terminate(STOP_GRACE_SECONDS)
            raise
        if ended is None:
            proc.terminate(STOP_GRACE_SECONDS)
            message = f"stopped after {settings.setup_timeout_seconds:g} s: {command}"
            report.findings.append(_command_error(settings, COMMAND_TIMED_OUT, message))
            return False
        if ended.returncode != 0:
            message = f"{ended.describe()}: {command}"
            report.findings.append(_command_error(settings, COMMAND_FAILED, message))
            return False
        report.changes.append(f"ran {command}")
    return True


def _command_error(settings: WorktreeSettings, code: codes.Code, message: str) -> Finding:
    hint = "fix it, then run `claudio-ci worktree setup` again in this worktree"
    return _at_commands(settings, code, message, hint)


def _at_commands(
    settings: WorktreeSettings, code: codes.Code, message: str, hint: str | None = None
) -> Finding:
    """A finding about the setup commands, located where they are configured."""
    origin = settings.commands_origin
    return Finding(origin.path, code, message, origin.line, origin.col, code.severity, hint)


# --- the whole setup --------------------------------------------------------------------------


def creates_worktree(old_head: str, checkout_type: str) -> bool:
    """Whether post-checkout's arguments say `git worktree add` (or a clone) made this checkout:
    there was no previous HEAD (the null object id) and a branch was checked out."""
    return bool(old_head) and not old_head.strip("0") and checkout_type == "1"


def setup_worktree(
    repo: Repository,
    settings: WorktreeSettings,
    *,
    commands: str = "auto",
    trust: Trust | None = None,
    progress: Progress = lambda _: None,
    output: processes.Output | None = None,
) -> SetupReport:
    """Set up the worktree `repo`. `commands`: "auto" runs the setup commands unless they
    already succeeded here, "always" reruns them, "never" skips them. They run only when
    `trust` says so (default: trusted): else a notice says how to approve them."""
    worktrees = [w for w in repo.worktrees() if not w.bare]
    main_root = worktrees[0].path if worktrees else repo.root
    key = worktree_key(repo.root)
    report = SetupReport(repo.root, repo.current_branch())
    registry = Registry(repo.state_dir())

    with registry.locked() as records:
        forget_missing(records, [worktree_key(w.path) for w in worktrees] + [key])
        previous = records.get(key, WorktreeRecord())
        if settings.ports is not None:
            report.port = assign_port(records, key, settings.ports, port_in_use)
            if report.port is None:
                report.findings.append(
                    _warning(
                        "worktree.jupyter_ports",
                        NO_FREE_PORT,
                        f"every port of {settings.ports.start}-{settings.ports.stop - 1} is taken",
                        "widen worktree.jupyter_ports, or remove worktrees you no longer need",
                    )
                )
        records[key] = WorktreeRecord(
            report.port, report.branch, INCOMPLETE, now(), [], previous.commands_done
        )

    make_directories(repo.root, [*settings.directories, settings.output_root], report)
    link_shared_data(repo.root, main_root, settings, report)
    values = env_values(repo.root, settings, report.port)
    write_env_file(repo, settings, values, report)
    exclude_locally(repo, settings, report)

    wanted = list(settings.setup_commands)
    commands_done = previous.commands_done if wanted else []
    rerun = commands == "always" or (commands == "auto" and previous.commands_done != wanted)
    if wanted and rerun and trust is not None and not trust.trusted:
        report.findings.append(_at_commands(settings, COMMANDS_NOT_APPROVED, trust.notice))
    elif wanted and rerun:
        env = {**scrubbed_environ(), **values}
        ran = run_commands(repo.root, settings, env, report, progress, output)
        commands_done = wanted if ran else None

    with registry.locked() as records:
        records[key] = WorktreeRecord(
            report.port,
            report.branch,
            report.state,
            now(),
            [f"{f.code} {f.location}: {f.message}" for f in report.findings],
            commands_done,
        )
    return report
