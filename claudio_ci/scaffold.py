"""What `claudio-ci init` writes into a repository, decided without touching anything."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from claudio_ci.errors import UsageError
from claudio_ci.fileio import write_atomic


class Action(enum.Enum):
    CREATE = "created"
    OVERWRITE = "overwritten"
    UNCHANGED = "unchanged"
    SKIP = "skipped (exists and differs; --force overwrites)"


@dataclass(frozen=True)
class PlannedFile:
    target: Path
    relative: str
    content: bytes
    action: Action


def template_files(template_root: Path) -> Iterator[tuple[str, bytes]]:
    for source in sorted(template_root.rglob("*")):
        if source.is_file() and "__pycache__" not in source.parts:
            yield source.relative_to(template_root).as_posix(), source.read_bytes()


def plan(template_root: Path, destination: Path, force: bool) -> list[PlannedFile]:
    planned = []
    for relative, content in template_files(template_root):
        target = destination / relative
        if not target.exists():
            action = Action.CREATE
        elif target.is_file() and target.read_bytes() == content:
            action = Action.UNCHANGED
        else:
            action = Action.OVERWRITE if force else Action.SKIP
        if action in (Action.CREATE, Action.OVERWRITE):
            _check_writable(destination, relative)
        planned.append(PlannedFile(target, relative, content, action))
    return planned


def _check_writable(destination: Path, relative: str) -> None:
    """Refuse before anything is written, rather than leave half of the files behind."""
    path = destination
    parts = Path(relative).parts
    for depth, part in enumerate(parts, 1):
        path = path / part
        if depth < len(parts) and path.exists() and not path.is_dir():
            raise UsageError(f"{relative}: cannot be written: {path} is not a directory")
    if path.is_dir():
        raise UsageError(f"{relative}: cannot be written: {path} is a directory")


def apply(planned: list[PlannedFile]) -> None:
    for item in planned:
        if item.action in (Action.CREATE, Action.OVERWRITE):
            write_atomic(item.target, item.content)
