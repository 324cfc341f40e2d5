"""Which files are experiment configs, as every command that reads them must agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from claudio_ci.core.config import Config
from claudio_ci.core.errors import ConfigError
from claudio_ci.core.globs import gitignore_spec

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Selection:
    """Which files are experiment configs: YAML under `dir`, minus `exclude` (gitignore globs)."""

    directory: str  # "experiments", or "." for the whole repository
    exclude: tuple[str, ...]

    @classmethod
    def from_config(cls, config: Config) -> Selection:
        section = config.settings.experiments
        raw = section.dir
        directory = PurePosixPath(raw).as_posix().strip("/") or "."
        if raw.startswith("/") or ".." in PurePosixPath(directory).parts:
            origin = config.origin("experiments.dir")
            raise ConfigError(f"{origin}: experiments.dir {raw!r} must be inside the repository")
        return cls(directory, section.exclude)

    def select(self, paths: Iterable[str]) -> list[str]:
        prefix = "" if self.directory == "." else f"{self.directory}/"
        found = [p for p in paths if p.startswith(prefix) and p.endswith(SUFFIXES)]
        if not found or not self.exclude:
            return found
        spec = gitignore_spec(self.exclude)
        return [p for p in found if not spec.match_file(p)]
