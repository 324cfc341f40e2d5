"""`claudio-ci gpu` as a subprocess in a test repository, and the ledger it leaves there."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from claudio_ci.gpu.ledger import FILENAME

CLAUDIO = [sys.executable, "-m", "claudio_ci"]


def claudio(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLAUDIO, *args],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
    )


def rows(repo: Path, table: str = "runs") -> list[sqlite3.Row]:
    """The `runs` (by id) or `run_gpus` (by run, then GPU) rows of the repo's ledger."""
    db = sqlite3.connect(repo / ".git" / "claudio" / FILENAME)
    db.row_factory = sqlite3.Row
    order = "id" if table == "runs" else "run_id, uuid"
    try:
        return db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    finally:
        db.close()
