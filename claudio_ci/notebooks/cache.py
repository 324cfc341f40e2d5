"""Verdicts of pairs already found good, shared by every worktree of the repository.

A verdict is keyed by everything it depends on: the bytes of each file of the pair, the
`notebooks` settings, the versions of claudio-ci, jupytext and nbformat, and the jupytext
configuration files that apply. Good verdicts are kept in the common git dir through
`claudio_ci.core.cache`, so a pair checked in one worktree is known in every other.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

from claudio_ci import __version__
from claudio_ci.core.cache import JsonCache, cache_key, fingerprint
from claudio_ci.notebooks import jupytext_compat

CACHE_NAME = "notebooks-cache.json"
_FORMAT = "1"
# jupytext.config.JUPYTEXT_CONFIG_FILES, then pyproject.toml when it has [tool.jupytext].
JUPYTEXT_CONFIG_FILES = (
    "jupytext",
    "jupytext.toml",
    "jupytext.yml",
    "jupytext.yaml",
    "jupytext.json",
    ".jupytext",
    ".jupytext.toml",
    ".jupytext.yml",
    ".jupytext.yaml",
    ".jupytext.json",
    ".jupytext.py",
)
_PYPROJECT = "pyproject.toml"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _library_version_files() -> list[Path]:
    """The version files of jupytext and nbformat, found without importing either."""
    files = []
    for package, filename in jupytext_compat.VERSION_FILES:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            files.append(Path(spec.origin).parent / filename)
    return files


def _global_config_dirs() -> list[Path]:
    home = os.environ.get("HOME", "")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return [Path(config_home, "jupytext"), Path(config_home), Path(home)]


class VerdictCache:
    """Good verdicts in `<state_dir>/notebooks-cache.json`; `save` once the run is done."""

    def __init__(self, state_dir: Path, settings_fingerprint: str) -> None:
        self._store = JsonCache(state_dir / CACHE_NAME)
        versions = _library_version_files()
        self._base = fingerprint(versions, _FORMAT, __version__, settings_fingerprint)
        self._config_by_dir: dict[Path, bytes] = {}

    def key(self, notebook_dir: Path, files: Iterable[tuple[str, bytes | None]]) -> str:
        """The key of a pair: its files (path and bytes, None when absent) in `notebook_dir`."""
        parts: list[str | bytes] = [self._base, self._jupytext_config(notebook_dir)]
        for path, data in files:
            parts += [path, b"-" if data is None else b"+" + data]
        return cache_key(*parts)

    def known(self, key: str) -> bool:
        return self._store.get(key) is not None

    def remember(self, key: str) -> None:
        self._store.put(key, True)

    def save(self) -> None:
        self._store.save()

    def _jupytext_config(self, directory: Path) -> bytes:
        """Every jupytext configuration file jupytext could read for a notebook here.

        Names and contents only: the same files in another worktree give the same key.
        """
        if directory not in self._config_by_dir:
            parent = directory.parent
            above = self._jupytext_config(parent) if parent != directory else self._global()
            self._config_by_dir[directory] = self._config_files_in(directory) + above
        return self._config_by_dir[directory]

    def _global(self) -> bytes:
        return b"".join(self._config_files_in(d) for d in _global_config_dirs())

    @staticmethod
    def _config_files_in(directory: Path) -> bytes:
        out = b""
        for name in JUPYTEXT_CONFIG_FILES:
            data = _read(directory / name)
            if data is not None:
                out += f"\0{name}\0".encode() + data
        pyproject = _read(directory / _PYPROJECT)
        if pyproject is not None and b"jupytext" in pyproject:
            out += f"\0{_PYPROJECT}\0".encode() + pyproject
        return out
