"""The `worktree` section as setup uses it: the typed section, its port range parsed, and
where the setup commands came from (only a repository's own commands need approval)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.core.config import CODE_INVALID, Config, Origin
from claudio_ci.core.errors import ConfigError

PORT_KEY = "worktree.jupyter_ports"
COMMANDS_KEY = "worktree.setup_commands"


@dataclass(frozen=True)
class WorktreeSettings:
    shared_data: dict[str, str]
    directories: tuple[str, ...]
    output_root: str
    setup_commands: tuple[str, ...]
    setup_timeout_seconds: float
    ports: range | None
    env_file: str | None
    commands_origin: Origin = field(default_factory=lambda: Origin("default"))

    def target_of(self, link: str, main_root: Path) -> Path:
        """Where a shared-data link points: `~` and `$VARS` expanded, relative to the main
        worktree unless absolute."""
        target = Path(os.path.expandvars(os.path.expanduser(self.shared_data[link])))
        return Path(os.path.normpath(main_root / target))


def port_range(value: str | None, origin: Origin) -> range | None:
    if value is None:
        return None
    first, last = (int(part) for part in value.split("-"))
    if not 1 <= first <= last <= 65535:
        raise ConfigError(
            f"{origin}: {CODE_INVALID} {PORT_KEY}: {value!r} is not a port range FIRST-LAST "
            "with 1 <= FIRST <= LAST <= 65535"
        )
    return range(first, last + 1)


def load_settings(config: Config) -> WorktreeSettings:
    section = config.settings.worktree
    return WorktreeSettings(
        shared_data=dict(section.shared_data),
        directories=section.directories,
        output_root=section.output_root,
        setup_commands=section.setup_commands,
        setup_timeout_seconds=section.setup_timeout_seconds,
        ports=port_range(section.jupyter_ports, config.origin(PORT_KEY, "default")),
        env_file=section.env_file,
        commands_origin=config.origin(COMMANDS_KEY, "default"),
    )
