"""`claudio-ci worktree status`: every worktree with its branch, port, data links, setup state."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.adapters.git import Repository
from claudio_ci.core.errors import ConfigError
from claudio_ci.worktree.registry import FAILED, INCOMPLETE, Registry, worktree_key
from claudio_ci.worktree.settings import WorktreeSettings

LINK_OK = "ok"
LINK_BROKEN = "broken"  # a symlink whose target does not exist
LINK_MISSING = "missing"  # not set up yet
LINK_NOT_A_LINK = "not a link"  # the user's own file or directory, kept
LINK_IS_TARGET = "shared target"  # the main worktree, where the shared data lives
NEVER_SET_UP = "never"


@dataclass(frozen=True)
class LinkStatus:
    name: str
    target: Path  # where the configuration says it should point
    state: str
    points_to: Path | None = None  # where the symlink points, when it is one


@dataclass
class WorktreeStatus:
    path: Path
    branch: str
    port: int | None
    setup: str
    links: list[LinkStatus] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # recorded by the last setup
    note: str | None = None

    @property
    def flagged(self) -> bool:
        """A broken link or a setup that failed or never finished."""
        broken = any(link.state == LINK_BROKEN for link in self.links)
        return broken or self.setup in (FAILED, INCOMPLETE)


def link_status(link: Path, target: Path, name: str) -> LinkStatus:
    if link == target:
        return LinkStatus(name, target, LINK_IS_TARGET if target.exists() else LINK_BROKEN)
    if link.is_symlink():
        points_to = Path(os.path.normpath(link.parent / os.readlink(link)))
        state = LINK_OK if link.exists() else LINK_BROKEN
        return LinkStatus(name, target, state, points_to)
    return LinkStatus(name, target, LINK_NOT_A_LINK if link.exists() else LINK_MISSING)


def worktree_statuses(
    repo: Repository, settings_for: Callable[[Path], WorktreeSettings]
) -> list[WorktreeStatus]:
    """One status per worktree (bare entries left out), the main worktree first.
    `settings_for(root)` reads a worktree's own configuration: branches may differ."""
    records = Registry(repo.state_dir(create=False)).read()
    worktrees = [w for w in repo.worktrees() if not w.bare]
    main_root = worktrees[0].path if worktrees else repo.root
    statuses = []
    for worktree in worktrees:
        record = records.get(worktree_key(worktree.path))
        status = WorktreeStatus(
            worktree.path,
            worktree.label,
            record.port if record else None,
            record.setup if record else NEVER_SET_UP,
            problems=list(record.problems) if record else [],
        )
        statuses.append(status)
        if not worktree.path.is_dir():
            status.note = "directory missing (`git worktree prune` forgets it)"
            continue
        try:
            settings = settings_for(worktree.path)
        except ConfigError as exc:
            status.note = f"configuration error: {exc}"
            continue
        status.links = [
            link_status(worktree.path / name.rstrip("/"), settings.target_of(name, main_root), name)
            for name in sorted(settings.shared_data)
        ]
    return statuses
