"""The GPU cost ledger: one SQLite database (WAL) in the common git dir, shared by worktrees.

A run inserts its row when the command starts (incomplete), rewrites its totals at every
sampling interval and once more at the end (complete, with the exit code). A run killed
with SIGKILL so keeps a row marked incomplete, short of at most one interval. Writers take
the write lock up front (`BEGIN IMMEDIATE`) and wait for each other (busy timeout), so
concurrent runs in several worktrees lose nothing.

The ledger keeps each run's command line, so that a report can say what ran. A value that
looks like a secret (`--token=...`, `--api-key X`, `HF_TOKEN=... python`, the password of
`https://user:pass@host`) is stored as `***`: see `redact_command`.
"""

from __future__ import annotations

import functools
import re
import shlex
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from claudio_ci.core.errors import ClaudioError, UsageError
from claudio_ci.gpu.locks import file_lock
from claudio_ci.gpu.pricing import GpuCost
from claudio_ci.gpu.usage import GpuUsage

_SECRET_NAME = (
    r"[\w.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|auth|credentials?|secrets)"
)
_SECRET_OPTION = re.compile(rf"(?i)^(-{{1,2}}{_SECRET_NAME})(=.*)?$")
_SECRET_ASSIGNMENT = re.compile(rf"(?i)^({_SECRET_NAME})=(.+)$")
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@")
REDACTED = "***"


def redact_command(command: str) -> str:
    """`command` with the values of secret-looking options and variables replaced by ***:
    `--token=abc` and `--token abc`, `HF_TOKEN=abc python ...`, `https://u:pass@host`."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: redact what can be told apart
        return _URL_PASSWORD.sub(rf"\1{REDACTED}@", command)
    redacted: list[str] = []
    secret_follows = False
    for word in words:
        if secret_follows and not word.startswith("-"):
            redacted.append(REDACTED)
            secret_follows = False
            continue
        option = _SECRET_OPTION.match(word)
        assignment = None if word.startswith("-") else _SECRET_ASSIGNMENT.match(word)
        secret_follows = option is not None and not option.group(2)
        if option and option.group(2):
            shown = f"{option.group(1)}={REDACTED}"
        elif assignment:
            shown = f"{assignment.group(1)}={REDACTED}"
        else:
            shown = word
        redacted.append(_URL_PASSWORD.sub(rf"\1{REDACTED}@", shown))
    return shlex.join(redacted)


FILENAME = "gpu-ledger.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        run_key TEXT NOT NULL UNIQUE,   -- random: identifies the run outside this ledger
        branch TEXT NOT NULL,
        worktree TEXT NOT NULL,
        commit_sha TEXT,
        command TEXT NOT NULL,
        started REAL NOT NULL,          -- Unix time
        ended REAL,                     -- NULL until the run completes
        last_sample REAL NOT NULL,      -- Unix time of the last update
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,           -- of claudio-ci, to tell a running run from a killed one
        source TEXT NOT NULL,           -- nvml, replay (a recorded trace) or none (no GPU)
        note TEXT NOT NULL DEFAULT '',
        gpu_seconds REAL NOT NULL DEFAULT 0,  -- a MIG slice counts its share of the board
        energy_j REAL,                  -- NULL: not measurable (MIG, no counter, no power)
        cost REAL NOT NULL DEFAULT 0,   -- USD
        peak_memory INTEGER NOT NULL DEFAULT 0,  -- bytes, on the fullest GPU
        exit_code INTEGER,
        complete INTEGER NOT NULL DEFAULT 0
    )""",
    # covers the per-branch totals, so a report over 100,000 runs never reads the table
    "CREATE INDEX IF NOT EXISTS runs_by_branch ON runs "
    "(branch, started, cost, gpu_seconds, energy_j, complete, source, last_sample)",
    "CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started)",
    "CREATE INDEX IF NOT EXISTS runs_by_cost ON runs (cost)",
    """CREATE TABLE IF NOT EXISTS run_gpus (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        uuid TEXT NOT NULL,
        model TEXT NOT NULL,
        mig INTEGER NOT NULL DEFAULT 0,
        share REAL NOT NULL DEFAULT 1,
        gpu_seconds REAL NOT NULL,      -- wall seconds this GPU (or slice) was held
        energy_j REAL,
        peak_memory INTEGER NOT NULL,
        hourly_rate REAL,               -- USD per GPU-hour used; NULL: no rate known
        cost REAL NOT NULL,
        PRIMARY KEY (run_id, uuid)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS run_gpus_unpriced ON run_gpus (model) WHERE hourly_rate IS NULL",
)


@dataclass(frozen=True)
class RunStart:
    run_key: str
    branch: str
    worktree: str
    commit: str | None
    command: str
    started: float
    host: str
    pid: int
    source: str
    note: str = ""


@dataclass(frozen=True)
class PricedGpu:
    usage: GpuUsage
    price: GpuCost


@dataclass(frozen=True)
class RunRow:
    id: int
    run_key: str
    branch: str
    worktree: str
    commit: str | None
    command: str
    started: float
    ended: float | None
    last_sample: float
    host: str
    pid: int
    source: str
    note: str
    gpu_seconds: float
    energy_j: float | None
    cost: float
    peak_memory: int
    exit_code: int | None
    complete: bool
    models: str  # "NVIDIA H100 80GB HBM3, ..." of the GPUs it used


@dataclass(frozen=True)
class BranchTotals:
    branch: str
    runs: int
    replayed: int
    incomplete: int
    gpu_seconds: float
    energy_j: float  # of the runs whose energy was measurable
    unmeasured: int  # runs that held a GPU whose energy was not measurable
    cost: float
    first_started: float
    last_seen: float


_RUN_COLUMNS = (
    "r.id, r.run_key, r.branch, r.worktree, r.commit_sha, r.command, r.started, r.ended, "
    "r.last_sample, r.host, r.pid, r.source, r.note, r.gpu_seconds, r.energy_j, r.cost, "
    "r.peak_memory, r.exit_code, r.complete, "
    "COALESCE((SELECT group_concat(g.model, ', ') FROM run_gpus g WHERE g.run_id = r.id), '')"
)


class LedgerError(ClaudioError):
    """SQLite could not read or write the ledger (disk full, I/O error, locked too long)."""

    def __init__(self, path: Path, error: sqlite3.Error) -> None:
        super().__init__(f"{path}: GPU ledger: {error}")


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_line(
    method: Callable[Concatenate[Ledger, _P], _R],
) -> Callable[Concatenate[Ledger, _P], _R]:
    """SQLite's errors as a LedgerError naming the file: one line, never a traceback."""

    @functools.wraps(method)
    def wrapper(self: Ledger, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise LedgerError(self.path, exc) from None

    return wrapper


def _where(branch: str | None, since: float | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    if branch is not None:
        clauses.append("r.branch = ?")
        params.append(branch)
    if since is not None:
        clauses.append("r.started >= ?")
        params.append(since)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        with file_lock(path.with_name(path.name + ".lock")):
            try:
                self._db = sqlite3.connect(
                    path,
                    timeout=BUSY_TIMEOUT_SECONDS,
                    isolation_level=None,  # explicit transactions: BEGIN IMMEDIATE ... COMMIT
                    check_same_thread=False,  # the sampler thread writes while the main one waits
                )
            except sqlite3.Error as exc:  # a directory, say
                raise LedgerError(path, exc) from None
            try:
                self._prepare()
            except sqlite3.DatabaseError as exc:
                self._db.close()
                raise UsageError(f"{path}: not a usable GPU ledger: {exc}") from None

    def _prepare(self) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across process crashes
        self._db.execute("PRAGMA foreign_keys = ON")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path}: ledger schema {version} is newer than this claudio-ci "
                f"understands ({SCHEMA_VERSION}); upgrade claudio-ci"
            )
        if version < SCHEMA_VERSION:
            with self._write():
                for statement in SCHEMA:
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _write(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing --------------------------------------------------------------------------

    @_one_line
    def start(self, run: RunStart) -> int:
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO runs (run_key, branch, worktree, commit_sha, command, started, "
                "last_sample, host, pid, source, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_key,
                    run.branch,
                    run.worktree,
                    run.commit,
                    redact_command(run.command),
                    run.started,
                    run.started,
                    run.host,
                    run.pid,
                    run.source,
                    run.note,
                ),
            )
        return int(cursor.lastrowid or 0)

    @_one_line
    def record(
        self,
        run_id: int,
        gpus: Sequence[PricedGpu],
        at: float,
        *,
        exit_code: int | None = None,
        complete: bool = False,
    ) -> None:
        """Rewrite a run's figures as of `at` (Unix time); `complete` closes it."""
        energies = [g.usage.energy_mj for g in gpus]
        energy_j = None if None in energies else sum(e or 0.0 for e in energies) / 1000
        with self._write():
            self._db.execute(
                "UPDATE runs SET last_sample = ?, gpu_seconds = ?, energy_j = ?, cost = ?, "
                "peak_memory = ?, ended = ?, exit_code = ?, complete = ? WHERE id = ?",
                (
                    at,
                    sum(g.usage.seconds * g.usage.share for g in gpus),
                    energy_j,
                    sum(g.price.cost for g in gpus),
                    max((g.usage.peak_memory for g in gpus), default=0),
                    at if complete else None,
                    exit_code,
                    int(complete),
                    run_id,
                ),
            )
            self._db.executemany(
                "INSERT INTO run_gpus (run_id, uuid, model, mig, share, gpu_seconds, energy_j, "
                "peak_memory, hourly_rate, cost) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, uuid) DO UPDATE SET gpu_seconds = excluded.gpu_seconds, "
                "energy_j = excluded.energy_j, peak_memory = excluded.peak_memory, "
                "hourly_rate = excluded.hourly_rate, cost = excluded.cost",
                [
                    (
                        run_id,
                        g.usage.uuid,
                        g.usage.name,
                        int(g.usage.mig),
                        g.usage.share,
                        g.usage.seconds,
                        None if g.usage.energy_mj is None else g.usage.energy_mj / 1000,
                        g.usage.peak_memory,
                        g.price.hourly_rate,
                        g.price.cost,
                    )
                    for g in gpus
                ],
            )

    # --- reading --------------------------------------------------------------------------

    @_one_line
    def branch_totals(
        self, branch: str | None = None, since: float | None = None
    ) -> list[BranchTotals]:
        where, params = _where(branch, since)
        rows = self._db.execute(
            "SELECT r.branch, COUNT(*), SUM(r.source = 'replay'), SUM(r.complete = 0), "
            "SUM(r.gpu_seconds), COALESCE(SUM(r.energy_j), 0), "
            "SUM(r.energy_j IS NULL AND r.gpu_seconds > 0), SUM(r.cost), MIN(r.started), "
            f"MAX(r.last_sample) FROM runs r{where} GROUP BY r.branch "
            "ORDER BY SUM(r.cost) DESC, r.branch",
            params,
        )
        return [BranchTotals(*row) for row in rows]

    @_one_line
    def runs(
        self,
        branch: str | None = None,
        since: float | None = None,
        *,
        costliest: int | None = None,
    ) -> list[RunRow]:
        """Runs oldest first, or the `costliest` N, dearest first."""
        where, params = _where(branch, since)
        order = " ORDER BY r.started, r.id"
        if costliest is not None:
            order = " ORDER BY r.cost DESC, r.id LIMIT ?"
            params.append(costliest)
        rows = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM runs r{where}{order}", params)
        return [RunRow(*(*row[:18], bool(row[18]), row[19])) for row in rows]  # complete: 0/1

    @_one_line
    def unpriced_models(self, branch: str | None = None, since: float | None = None) -> list[str]:
        """Models of GPUs that were used but have no hourly rate."""
        where, params = _where(branch, since)
        joined = " AND " if where else " WHERE "
        rows = self._db.execute(
            f"SELECT DISTINCT g.model FROM run_gpus g JOIN runs r ON r.id = g.run_id{where}"
            f"{joined}g.hourly_rate IS NULL AND g.gpu_seconds > 0 ORDER BY g.model",
            params,
        )
        return [row[0] for row in rows]


class _Transaction:
    """`BEGIN IMMEDIATE`: take the write lock now (waiting up to the busy timeout), not at
    the first write, where two readers upgrading at once would deadlock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind else "COMMIT")
