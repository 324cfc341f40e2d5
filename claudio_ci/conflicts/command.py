"""`claudio-ci check conflicts`: the `conflict-risk` pre-commit hook.

The files being committed (the FILES pre-commit passes, else the staged ones) against
every sibling worktree's changes since its fork point with this branch plus its
uncommitted edits (staged, unstaged and untracked), and every branch that
`conflicts.compare` names. Each side that shares a file gets one `git merge-tree`
prediction against a temporary commit of the index (`merge.MergeSandbox`).
`claudio_ci.conflicts.rules` decides what is reported. With `--pr` (in CI), the pull
request's changed files are compared with the other open pull requests' instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import posixpath
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from claudio_ci.adapters.git import ChangedFile, Repository, Worktree
from claudio_ci.adapters.merge import MergeSandbox
from claudio_ci.check import CheckContext, run_check_command
from claudio_ci.conflicts.rules import (
    Merge,
    Other,
    Overlap,
    RiskRules,
    no_commit_yet,
    not_compared,
    overlap_findings,
    pull_requests_unavailable,
    untracked_too_big,
    worktree_gone,
)
from claudio_ci.core.errors import GitError, UsageError
from claudio_ci.core.findings import Finding
from claudio_ci.core.settings import CompareSection

T = TypeVar("T")
MAX_THREADS = 8  # each thread mostly waits on a git process
MAX_PATHSPECS = 500  # up to this many files, a sibling's `git status` looks at them only


def run(args: argparse.Namespace) -> int:
    return run_check_command(args, check, "claudio-ci: conflict risk", pr=args.pr)


@dataclass
class Side:
    """The other side of a possible merge: what it changed since it forked from this branch,
    and the commit a merge would take from it."""

    other: Other
    tip: str
    changed: dict[str, list[str]] = field(default_factory=dict)  # path -> how it changed
    worktree: Repository | None = None  # set when its uncommitted edits belong to the merge
    deleted_dirs: set[str] = field(default_factory=set)  # where it deleted (or moved) files
    added_dirs: set[str] = field(default_factory=set)  # where it added files

    def record(self, changes: Sequence[ChangedFile], how: str) -> None:
        for change in changes:
            self.changed.setdefault(change.path, []).append(how)
            if change.deleted:
                self.deleted_dirs.add(posixpath.dirname(change.path))
            elif change.status in "A?":
                self.added_dirs.add(posixpath.dirname(change.path))


Gathered = tuple[Side | None, list[Finding]]


def check(ctx: CheckContext) -> list[Finding]:
    section = ctx.config.settings.conflicts
    rules = RiskRules.from_config(section)
    if ctx.options.get("pr"):
        return _check_pull_request(ctx, rules, section.fail_on)
    committing = ctx.files if not ctx.all_files else [f.path for f in ctx.repo.staged_files()]
    files = rules.relevant(committing)
    if not files:
        return []
    head = ctx.repo.head()
    if head is None:
        return [no_commit_yet(ctx.repo.current_branch())]
    gathered = in_parallel(_gatherers(ctx.repo, head, files, section.compare))
    notices = [finding for _, found in gathered for finding in found]
    sides = [side for side, _ in gathered if side is not None]
    overlaps, more = _predict(ctx.repo, head, files, sides, section.untracked_max_mb)
    return notices + more + overlap_findings(overlaps, rules, section.fail_on)


def in_parallel(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run tasks on a few threads (they wait on git processes); results in task order."""
    if len(tasks) < 2:
        return [task() for task in tasks]
    from concurrent.futures import ThreadPoolExecutor  # ~5 ms (logging): only with 2+ sides

    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(tasks))) as pool:
        return list(pool.map(lambda task: task(), tasks))


# --- what the other sides changed ------------------------------------------------------


def _gatherers(
    repo: Repository, head: str, files: Sequence[str], compare: CompareSection
) -> list[Callable[[], Gathered]]:
    siblings = repo.sibling_worktrees() if compare.siblings else []
    look_at = files if len(files) <= MAX_PATHSPECS else ()
    tasks: list[Callable[[], Gathered]] = [
        functools.partial(_sibling_side, repo, head, w, look_at) for w in siblings
    ]
    covered = {repo.current_branch(), *(w.branch for w in siblings)}
    for name in _branches(repo, compare.branches):
        if name not in covered:
            covered.add(name)
            tasks.append(functools.partial(_branch_side, repo, head, "branch", name))
    for name in _branches(repo, compare.remote_branches, remote=True):
        local = name.partition("/")[2]  # origin/claudio/x -> claudio/x
        if local not in covered and local != "HEAD":
            tasks.append(functools.partial(_branch_side, repo, head, "remote branch", name))
    return tasks


def _branches(repo: Repository, patterns: Sequence[str], remote: bool = False) -> list[str]:
    """Branches matching `patterns`; none without a pattern (git would list them all)."""
    return repo.branches(patterns, remote=remote) if patterns else []


def _no_common_history(repo: Repository, other: Other) -> Finding:
    if repo.shallow:
        reason = "it has no commit in common with this branch within this shallow clone's history"
        hint = "fetch more history: git fetch --unshallow (in CI: fetch-depth: 0)"
    else:
        reason = "it has no commit in common with this branch"
        hint = "unrelated histories never merge; leave it out of conflicts.compare"
    return not_compared(other, reason, hint)


def _sibling_side(
    repo: Repository, head: str, worktree: Worktree, look_at: Sequence[str]
) -> Gathered:
    other = Other(
        "worktree",
        worktree.label,
        merge_first=worktree.branch or f"its commit {(worktree.head or '')[:12]}",
        location=_display(repo, worktree.path),
        detached=worktree.branch is None,
    )
    if worktree.head is None:
        hint = "it is compared once its branch has a commit"
        return None, [not_compared(other, "its branch has no commit yet", hint)]
    side = _committed_side(repo, head, other, worktree.head)
    if side is None:
        return None, [_no_common_history(repo, other)]
    if not worktree.path.is_dir():
        reason = worktree.prunable or ("locked and missing" if worktree.locked else "missing")
        return side, [worktree_gone(other, reason)]
    try:
        sibling = repo.open_worktree(worktree)
        uncommitted = sibling.uncommitted_files(look_at)
    except GitError as exc:
        return side, [worktree_gone(other, str(exc))]
    side.record(uncommitted, "uncommitted")
    side.worktree = sibling if uncommitted else None
    return side, []


def _branch_side(repo: Repository, head: str, kind: str, name: str) -> Gathered:
    other = Other(kind, name, merge_first=name)
    ref = f"refs/remotes/{name}" if kind == "remote branch" else f"refs/heads/{name}"
    side = _committed_side(repo, head, other, ref)
    if side is None:
        return None, [_no_common_history(repo, other)]
    return side, []


def _committed_side(repo: Repository, head: str, other: Other, tip: str) -> Side | None:
    """What `tip` committed since its fork point with `head`; None without a common commit."""
    try:
        changed = repo.changed_since(head, tip)
    except GitError:
        return None
    side = Side(other, tip)
    side.record(changed, "committed")
    return side


def _display(repo: Repository, path: Path) -> str:
    """A worktree's path relative to the main worktree when inside it (as Claudio's
    `.claudio/worktrees/<id>`), else absolute."""
    main = repo.common_dir.parent if repo.common_dir.name == ".git" else None
    if main is not None and path != main and path.is_relative_to(main):
        return path.relative_to(main).as_posix()
    return str(path)


# --- predicting the merges --------------------------------------------------------------


def _predict(
    repo: Repository,
    head: str,
    files: Sequence[str],
    sides: Sequence[Side],
    max_untracked_mb: float,
) -> tuple[list[Overlap], list[Finding]]:
    shared = [(side, _shared_paths(side, files)) for side in sides]
    deleted = [path for path in files if not os.path.lexists(repo.root / path)]
    shared = [(side, paths) for side, paths in shared if paths or _moved_dirs(side, deleted)]
    if not shared:
        return [], []
    sandbox = MergeSandbox(repo)
    try:
        ours: str | None = sandbox.index_commit(repo, head)
        reason = ""
    except GitError as exc:  # an index with unresolved conflicts has no tree
        ours, reason = None, str(exc)
    drivers = sandbox.custom_driver_paths(sorted({p for _, paths in shared for p in paths}))
    tasks = [
        functools.partial(
            _predict_side, sandbox, ours, reason, side, files, paths, drivers, max_untracked_mb
        )
        for side, paths in shared
    ]
    found = in_parallel(tasks)
    return [o for overlaps, _ in found for o in overlaps], [f for _, notes in found for f in notes]


def _shared_paths(side: Side, files: Sequence[str]) -> list[str]:
    """The files both change, and the files this commit changes in a directory the other
    side deleted files from (if that was a directory rename, git moves the ones added here
    after it and reports a conflict)."""
    return [
        path
        for path in files
        if path in side.changed or posixpath.dirname(path) in side.deleted_dirs
    ]


def _moved_dirs(side: Side, deleted: Sequence[str]) -> bool:
    """Whether this commit deletes (or moves) files from a directory the other side adds to:
    a directory rename here would move those additions."""
    return any(posixpath.dirname(path) in side.added_dirs for path in deleted)


def _predict_side(
    sandbox: MergeSandbox,
    ours: str | None,
    reason: str,
    side: Side,
    files: Sequence[str],
    paths: Sequence[str],
    drivers: Mapping[str, str],
    max_untracked_mb: float,
) -> tuple[list[Overlap], list[Finding]]:
    def unknown(why: str) -> tuple[list[Overlap], list[Finding]]:
        overlaps = [
            Overlap(p, side.other, tuple(side.changed[p]), Merge.UNKNOWN, why)
            for p in paths
            if p in side.changed
        ]
        return overlaps, []

    if ours is None:
        return unknown(reason)
    notices = []
    try:
        theirs = side.tip
        if side.worktree is not None:
            limit = int(max_untracked_mb * 1024 * 1024)
            snapshot = sandbox.worktree_commit(side.worktree, side.tip, limit)
            theirs = snapshot.commit
            if snapshot.too_big:
                notices.append(untracked_too_big(side.other, snapshot.too_big, max_untracked_mb))
        # The fork point, found once for both sides' diffs (a walk through a long history
        # without a commit-graph is the slow part; the temporary commits add no history).
        base = (sandbox.repo.merge_bases(ours, side.tip) or [side.tip])[0]
        verdicts = file_verdicts(sandbox, base, ours, theirs, files, paths, side.changed)
    except (GitError, OSError) as exc:  # OSError: the sibling's index could not be copied
        return unknown(str(exc))
    overlaps = []
    for path, verdict in verdicts.items():
        how = tuple(side.changed.get(path, ["its directory renamed"]))
        note = ""
        if path in drivers:
            note = f"git's text merge; the custom merge driver {drivers[path]!r} was not run"
        overlaps.append(
            Overlap(
                path,
                side.other,
                how,
                verdict.merge,
                note,
                renamed=verdict.renamed,
                conflicts_at=verdict.conflicts_at,
            )
        )
    return overlaps, notices


@dataclass(frozen=True)
class FileVerdict:
    merge: Merge
    conflicts_at: tuple[str, ...] = ()  # where the conflict lands, when not at the path itself
    renamed: str = ""


def file_verdicts(
    sandbox: MergeSandbox,
    base: str,
    ours: str,
    theirs: str,
    files: Sequence[str],
    paths: Sequence[str],
    theirs_changed: Collection[str],
) -> dict[str, FileVerdict]:
    """What merging `theirs` into `ours` (forked at `base`) does to each of `paths` (files
    of this commit, `files`): the files both change, and files ours adds where theirs
    deleted files (reported only when a directory rename there makes them conflict); and
    files theirs adds in a directory this commit renames, when that makes them conflict.
    Renames on either side are followed, so a file's verdict is the merge's wherever the
    file lands; a renamed file is reported once, under its name at the fork point."""
    ours_changed, ours_renamed = sandbox.repo.renames(base, ours)
    _, theirs_renamed = sandbox.repo.renames(base, theirs)
    prediction = sandbox.merge(ours, theirs)
    ours_sources = {new: old for old, new in ours_renamed.items()}
    verdicts, named = {}, set()
    for path in paths:
        if path not in ours_changed:  # this branch leaves it as it was at the fork point
            continue
        source = ours_sources.get(path, path)  # its name at the fork point
        if source != path and source in paths:
            continue  # reported under its old name
        names = [path, source, ours_renamed.get(source, source), theirs_renamed.get(source, source)]
        at = prediction.conflicted_at(names)
        named.update(at)
        if path not in theirs_changed and not at:
            continue
        verdicts[path] = FileVerdict(
            Merge.CONFLICT if at else Merge.CLEAN,
            tuple(at) if at != [path] else (),
            _renamed(path, source, ours_renamed, theirs_renamed),
        )
    moved_out = {posixpath.dirname(old) for old in ours_renamed if old in files}
    for source, targets in prediction.moves:
        target = targets[0]
        if (
            len(targets) == 1
            and target in prediction.conflicts
            and target not in named
            and source in theirs_changed
            and posixpath.dirname(source) in moved_out
        ):
            renamed = f"to {target} by the directory rename here"
            verdicts.setdefault(source, FileVerdict(Merge.CONFLICT, (target,), renamed))
    return verdicts


def _renamed(path: str, source: str, ours: Mapping[str, str], theirs: Mapping[str, str]) -> str:
    """Where the renames on either side move a file, as the end of "renamed ..."."""
    moves = []
    if source != path:
        moves.append(f"from {source} here")
    elif source in ours:
        moves.append(f"to {ours[source]} here")
    if source in theirs:
        moves.append(f"to {theirs[source]} there")
    return ", ".join(moves)


# --- pull requests (--pr) ---------------------------------------------------------------


def _check_pull_request(ctx: CheckContext, rules: RiskRules, fail_on: str) -> list[Finding]:
    """The pull request's changed files against every other open pull request's, through
    the GitHub API. A merge is predicted when the other pull request's head commit is in
    the checkout (fetch `+refs/pull/*/head:refs/remotes/pull/*` for that)."""
    from claudio_ci.adapters.github import Environment, GitHub, GitHubError

    try:
        env = Environment.from_environ(os.environ)
    except UsageError:
        raise UsageError(
            "--pr runs in GitHub Actions on a pull request: GITHUB_EVENT_PATH is not set"
        ) from None
    try:
        number = env.pull_number
        hub = GitHub.from_environment(env)
        our_files = hub.changed_files(number)
        others = [pull for pull in hub.open_pull_requests() if pull.number != number]
        their_files = {pull.number: hub.changed_files(pull.number) for pull in others}
    except (UsageError, GitHubError) as exc:
        return [pull_requests_unavailable(str(exc))]
    ours = {path for f in our_files for path in f.paths}
    theirs = {n: {path for f in files for path in f.paths} for n, files in their_files.items()}
    if not ctx.all_files:
        ours &= set(ctx.files)
    files = rules.relevant(sorted(ours))
    shared = {pull: [path for path in files if path in theirs[pull.number]] for pull in others}
    shared = {pull: paths for pull, paths in shared.items() if paths}
    if not shared:
        return []
    sandbox = MergeSandbox(ctx.repo)
    overlaps = []
    our_renames = {f.previous: f.path for f in our_files if f.previous}
    for pull, paths in shared.items():
        other = Other("pull request", f"#{pull.number} ({pull.head_ref})", f"#{pull.number}")
        their_renames = {f.previous: f.path for f in their_files[pull.number] if f.previous}
        renames = (our_renames, their_renames)
        overlaps += _predict_pull(ctx.repo, sandbox, other, pull.head_sha, paths, renames)
    return overlap_findings(overlaps, rules, fail_on)


def _predict_pull(
    repo: Repository,
    sandbox: MergeSandbox,
    other: Other,
    head_sha: str,
    paths: Sequence[str],
    renames: tuple[Mapping[str, str], Mapping[str, str]],
) -> list[Overlap]:
    """The merge of the other pull request's head into HEAD, file by file; a file either
    pull request renames (GitHub lists old -> new) is judged wherever the merge puts it."""
    if repo.resolve(head_sha) is None:
        note = "its commits are not fetched: fetch +refs/pull/*/head to predict it"
        return [Overlap(path, other, (), Merge.UNKNOWN, note) for path in paths]
    try:
        prediction = sandbox.merge("HEAD", head_sha)
    except GitError as exc:
        return [Overlap(path, other, (), Merge.UNKNOWN, str(exc)) for path in paths]
    ours, theirs = renames
    sources = {new: old for old, new in (*ours.items(), *theirs.items())}
    overlaps = []
    for path in paths:
        source = sources.get(path, path)
        at = prediction.conflicted_at([path, source, ours.get(source, ""), theirs.get(source, "")])
        merge = Merge.CONFLICT if at else Merge.CLEAN
        moved = tuple(at) if at != [path] else ()
        overlaps.append(Overlap(path, other, (), merge, conflicts_at=moved))
    return overlaps
