"""Which worktree has which Jupyter port and how its setup went.

One JSON file in the common git dir (`<common git dir>/claudio/worktrees.json`), shared by every
worktree. Every change happens under an exclusive `flock` on a lock file beside it, so worktrees
created in parallel never get the same port; readers need no lock, as the file is replaced
atomically.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import json
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from claudio_ci.core.fileio import write_atomic

REGISTRY_FILE = "worktrees.json"
LOCK_FILE = "worktrees.lock"
FORMAT_VERSION = 1

DONE = "done"
FAILED = "failed"
INCOMPLETE = "incomplete"  # started, not finished: interrupted, or running right now


@dataclass
class WorktreeRecord:
    port: int | None = None
    branch: str | None = None
    setup: str = INCOMPLETE
    updated: str = ""
    problems: list[str] = field(default_factory=list)
    commands_done: list[str] | None = None  # the setup commands that last succeeded here

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> WorktreeRecord:
        known = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        return cls(**known)  # type: ignore[arg-type]


def worktree_key(path: Path) -> str:
    return str(path.resolve())


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / REGISTRY_FILE
        self.lock_path = state_dir / LOCK_FILE

    def read(self) -> dict[str, WorktreeRecord]:
        """The records, keyed by resolved worktree path; empty when missing or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {
                key: WorktreeRecord.from_dict(value) for key, value in data["worktrees"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, WorktreeRecord]]:
        """The records, to change in place; written back (if changed) before the lock is freed."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            records = self.read()
            before = copy.deepcopy(records)
            yield records
            if records != before:
                self._write(records)

    def _write(self, records: dict[str, WorktreeRecord]) -> None:
        data = {
            "version": FORMAT_VERSION,
            "worktrees": {key: asdict(record) for key, record in sorted(records.items())},
        }
        write_atomic(self.path, json.dumps(data, indent=2) + "\n")


def forget_missing(records: dict[str, WorktreeRecord], live: Iterable[str]) -> None:
    """Free the ports of worktrees git no longer knows."""
    alive = set(live)
    for key in [key for key in records if key not in alive]:
        del records[key]


def assign_port(
    records: dict[str, WorktreeRecord],
    key: str,
    ports: range,
    in_use: Callable[[int], bool],
) -> int | None:
    """The worktree's port: the one it has if still in range, else the lowest port of the range
    no other worktree holds and nothing listens on; None when the range is used up."""
    current = records.get(key)
    if current is not None and current.port in ports:
        return current.port
    taken = {record.port for other, record in records.items() if other != key}
    return next((port for port in ports if port not in taken and not in_use(port)), None)


def port_in_use(port: int) -> bool:
    """Whether something on this machine listens on (or holds) the local port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
