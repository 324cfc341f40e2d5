"""Globs with gitignore / CODEOWNERS semantics, the same everywhere, through `pathspec`."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec


@functools.cache
def _compiled(patterns: tuple[str, ...]) -> GitIgnoreSpec:
    import pathspec  # ~35 ms: imported only when a path must really be matched

    return pathspec.GitIgnoreSpec.from_lines(patterns)


def gitignore_spec(patterns: Iterable[str]) -> GitIgnoreSpec:
    """A compiled (and cached) spec: `.match_file(path)` follows .gitignore rules."""
    return _compiled(tuple(patterns))
