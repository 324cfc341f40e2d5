"""Which setup commands may run: the user's own, or a repository's the user approved.

`git worktree add ../wt pr-123` runs the post-checkout hook in a checkout of that branch, so
its `.claudio.yaml` is whatever the branch's author wrote. As direnv does with `.envrc`, the
commands of a repository's config run only once the user approved that file's content
(`claudio-ci worktree allow`); any change to the file needs a new approval. Commands from
the user's own config, the environment, `--set` or `--config FILE` are the user's and run.
Approvals live under the user's data dir (`$XDG_DATA_HOME/claudio/allow`), never in the
repository, where a branch could plant one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claudio_ci.core.config import REPO_FILE
from claudio_ci.core.fileio import write_atomic
from claudio_ci.worktree.settings import WorktreeSettings


def allow_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_DATA_HOME") or str(Path(environ.get("HOME", "~")) / ".local" / "share")
    return Path(base).expanduser() / "claudio" / "allow"


def content_hash(path: Path) -> str:
    """What an approval covers: the file's bytes, wherever the worktree is."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


SHOW_COMMAND = "claudio-ci worktree allow --show"


@dataclass(frozen=True)
class Trust:
    trusted: bool
    config_file: Path | None = None  # the repository config that needs approval

    @property
    def notice(self) -> str:
        return (
            f"setup commands from {self.config_file} not run: this content was never approved; "
            f"see them with `{SHOW_COMMAND}`, then approve them with `claudio-ci worktree allow` "
            "here"
        )


def from_repository(settings: WorktreeSettings) -> bool:
    """Whether the setup commands came from the repository's own `.claudio.yaml`."""
    return settings.commands_origin.path == REPO_FILE


def commands_trust(
    settings: WorktreeSettings, root: Path, environ: Mapping[str, str] = os.environ
) -> Trust:
    if not settings.setup_commands or not from_repository(settings):
        return Trust(True)
    config_file = root / REPO_FILE
    try:
        approved = (allow_dir(environ) / content_hash(config_file)).is_file()
    except OSError:
        approved = False
    return Trust(approved, config_file)


def allow(config_file: Path, content: bytes, environ: Mapping[str, str] = os.environ) -> Path:
    """Approve `content`, the bytes of `config_file` whose commands were shown; the
    approval's path."""
    record = allow_dir(environ) / hashlib.sha256(content).hexdigest()
    record.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(record, f"{config_file.resolve()}\n")
    return record


def revoke(config_file: Path, environ: Mapping[str, str] = os.environ) -> bool:
    """Withdraw the approval of this content; whether there was one."""
    record = allow_dir(environ) / content_hash(config_file)
    try:
        record.unlink()
    except FileNotFoundError:
        return False
    return True
