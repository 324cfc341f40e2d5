"""A small JSON cache in the common git dir (`<git common dir>/claudio/`), shared by every
worktree: content-addressed entries, so a stale one can only be a miss.

Best effort by design: an unreadable or corrupt cache is an empty one, a cache that cannot
be written is skipped, and concurrent writers (pre-commit runs chunks in parallel) may
lose each other's new entries, never corrupt the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from claudio_ci.core.fileio import write_atomic

FORMAT = 1


def cache_key(*parts: str | bytes) -> str:
    """A key for everything an entry depends on, in order."""
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        raw = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(raw).to_bytes(8, "little"))
        digest.update(raw)
    return digest.hexdigest()


def fingerprint(files: Iterable[Path], *values: str) -> str:
    """A key part for the code and data an entry was computed with."""
    return cache_key(*values, *(f.read_bytes() for f in files))


class JsonCache:
    """`get`/`put` JSON-able entries by key; `save` writes only when something was added."""

    def __init__(self, path: Path, max_entries: int = 20_000) -> None:
        self.path = path
        self.max_entries = max_entries
        self.entries: dict[str, Any] = {}
        self.used: set[str] = set()
        self.dirty = False
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("format") == FORMAT:
                entries = data.get("entries")
                self.entries = entries if isinstance(entries, dict) else {}

    def get(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is not None:
            self.used.add(key)
        return entry

    def put(self, key: str, entry: Any) -> None:
        self.entries[key] = entry
        self.used.add(key)
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        entries = self.entries
        if len(entries) > self.max_entries:
            entries = {key: entries[key] for key in self.used}
        with contextlib.suppress(OSError):
            write_atomic(
                self.path, json.dumps({"format": FORMAT, "entries": entries}), durable=False
            )
        self.dirty = False
