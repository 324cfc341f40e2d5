"""`claudio-ci check notebooks` (pre-commit hook `jupytext-pairing`).

pre-commit may pass either file of a pair, both, in any order, split over several calls:
every call resolves the pairs its files belong to and checks each pair once, from the
worktree's files, so the verdict never depends on which files were passed.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from claudio_ci.adapters.git import Repository
from claudio_ci.check import CheckContext, run_check_command
from claudio_ci.core.fileio import read_regular, write_atomic
from claudio_ci.core.findings import Finding
from claudio_ci.notebooks import jupytext_compat
from claudio_ci.notebooks.cache import VerdictCache
from claudio_ci.notebooks.formats import Member
from claudio_ci.notebooks.rules import Change, FileState, PairResult, Settings, check_pair
from claudio_ci.notebooks.sync import Jupytext

# Below this many pairs to parse per CPU, forking workers costs more than it saves.
PAIRS_PER_WORKER = 16


def run(args: argparse.Namespace) -> int:
    return run_check_command(args, check_notebooks, "claudio-ci: notebook pairing")


def check_notebooks(ctx: CheckContext) -> list[Finding]:
    settings = Settings.from_config(ctx.config.settings.notebooks)
    repo, root = ctx.repo, ctx.repo.root
    candidates = ctx.files
    if ctx.all_files:
        candidates = repo.tracked_files() + repo.untracked_files()
    pairs = settings.pairs(candidates, root)
    if not pairs:
        return []
    index = repo.index_blob_ids(sorted({m.path for pair in pairs for m in pair}))
    cache = VerdictCache(repo.state_dir(create=False), settings.fingerprint)
    jobs = []
    for members in pairs:
        files = [read_member(root, member, index, settings.max_bytes) for member in members]
        key = cache.key((root / members[0].path).parent, [_cache_part(f) for f in files])
        jobs.append(Job(files, key, cache.known(key)))
    history = GitHistory(repo, index)
    checker = PairChecker(settings, root, history, Jupytext(settings.pairing), ctx.fix)
    findings: list[Finding] = []
    for job, result in zip(jobs, check_all(checker, jobs), strict=True):
        if result.content_ok and not job.known_ok:
            cache.remember(job.key)
        findings += _apply(root, result)
    cache.save()
    return findings


@dataclass(frozen=True)
class Job:
    files: list[FileState]  # the pair, notebook first
    key: str  # of its verdict in the cache
    known_ok: bool  # the cache knows its content is good


@dataclass(frozen=True)
class PairChecker:
    """`check_pair` with this run's settings, callable in a worker process too."""

    settings: Settings
    root: Path
    history: GitHistory
    jupytext: Jupytext  # imports jupytext only once a pair must really be parsed
    fix: bool

    def __call__(self, job: Job) -> PairResult:
        return check_pair(
            job.files,
            self.settings,
            root=self.root,
            history=self.history,
            jupytext=self.jupytext,
            fix=self.fix,
            content_known_ok=job.known_ok,
        )


def check_all(checker: PairChecker, jobs: list[Job]) -> list[PairResult]:
    """Every pair, in order; many pairs to parse are spread over the CPUs (forked workers)."""
    misses = sum(1 for job in jobs if not job.known_ok)
    workers = min(_usable_cpus(), misses // PAIRS_PER_WORKER)
    if workers < 2 or not hasattr(os, "fork"):
        return [checker(job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    jupytext_compat.require()  # jupytext imported and its version checked before the fork

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(checker, jobs, chunksize=max(1, len(jobs) // (4 * workers))))


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def read_member(
    root: Path, member: Member, index: Mapping[str, str], max_bytes: int | None = None
) -> FileState:
    """A member's bytes; one over `max_bytes` is left unread (its size is kept instead)."""
    path = root / member.path
    in_index = member.path in index
    try:
        data = read_regular(path, max_bytes)
    except FileNotFoundError:  # absent, or a dangling link
        return FileState(member, None, in_index, path.is_symlink())
    except OSError as exc:
        return FileState(member, None, in_index, path.is_symlink(), exc.strerror or str(exc))
    if max_bytes is not None and len(data) > max_bytes:
        size = max(path.stat().st_size, len(data))
        return FileState(member, None, in_index, path.is_symlink(), size=size)
    return FileState(member, data, in_index, path.is_symlink())


def _cache_part(state: FileState) -> tuple[str, bytes | None]:
    if state.size is not None:  # unread: never the key of an absent file
        return state.path, f"\0unread {state.size}".encode()
    return state.path, state.data


def _apply(root: Path, result: PairResult) -> list[Finding]:
    """Write a planned fix; if a write fails, its findings say so instead of "fixed"."""
    try:
        for path, text in result.writes.items():
            write_atomic(root / path, text)
    except OSError as exc:
        reason = f"--fix could not write {exc.filename}: {exc.strerror}"
        return [
            replace(f, fix=None, hint=reason) if f.fix is not None and f.fix.applied else f
            for f in result.findings
        ]
    return result.findings


class GitHistory:
    """What git says about the files of a pair, each question asked once per run."""

    def __init__(self, repo: Repository, index: Mapping[str, str]) -> None:
        self.repo = repo
        self.index = index

    @functools.cached_property
    def _staged(self) -> dict[str, str]:
        return {c.path: c.status for c in self.repo.staged_files() if not c.deleted}

    @functools.cached_property
    def _changed(self) -> frozenset[str]:
        return frozenset(c.path for c in self.repo.unstaged_files())

    def change(self, path: str) -> Change:
        """Compared with HEAD through the index; under pre-commit, whose stash hides the
        unstaged edits, the worktree is the index (pre-commit puts those edits back)."""
        if path not in self.index:
            return Change.UNTRACKED
        status = self._staged.get(path)
        if status == "A":
            return Change.ADDED
        if status is not None:
            return Change.STAGED_AND_UNSTAGED if path in self._changed else Change.STAGED
        return Change.UNSTAGED if path in self._changed else Change.NONE

    def commit_time(self, path: str) -> int | None:
        return self.repo.last_commit_time(path)

    def versions(self, path: str) -> list[bytes]:
        committed = self.repo.read_blobs("HEAD", [path]).get(path)
        staged = self.repo.read_blobs("", [path]).get(path)
        return list(dict.fromkeys(v for v in (committed, staged) if v is not None))
