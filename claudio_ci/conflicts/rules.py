"""The `conflict-risk` check: a file this commit changes that a sibling worktree, another
branch or another pull request changes too, weighed by the file's risk and by the outcome
git predicts for the merge.

Plain data in, findings out. The runner (`claudio_ci/conflicts/command.py`) lists
the siblings' and branches' changes and predicts the merges.

Codes: the CR family, in claudio_ci/core/codes.py (`claudio-ci explain CR` lists them); the
hint of every finding gives a way out.

Severity follows `conflicts.fail_on`, so that what fails the commit is an error:

    code    high     any      never
    CR001   error    error    warning
    CR002   error    error    warning
    CR003   warning  error    warning
    CR004   notice   error    notice
    CR005   notice   error    notice
    CR1xx   notice   notice   notice
"""

from __future__ import annotations

import enum
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claudio_ci.core import codes
from claudio_ci.core.findings import Finding, Severity, shown_path
from claudio_ci.core.globs import gitignore_spec
from claudio_ci.core.settings import ConflictsSection

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

HIGH_RISK = codes.CR001
SINGLE_WRITER = codes.CR002
CONFLICT = codes.CR003
OVERLAP = codes.CR004
LOW_RISK = codes.CR005
WORKTREE_GONE = codes.CR101
NOT_COMPARED = codes.CR102
NO_COMMIT_YET = codes.CR103
PULL_REQUESTS_UNAVAILABLE = codes.CR104
UNTRACKED_TOO_BIG = codes.CR105

FAIL_ON = ("high", "any", "never")

# Files whose hint says more than "merge in order" (gitignore globs).
_LOCK_FILES = ("*.lock", "package-lock.json", "pnpm-lock.yaml", "conda-lock.yml")
_DEPENDENCY_FILES = (
    "requirements*.txt",
    "requirements*.in",
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "Pipfile",
    "environment*.yml",
    "environment*.yaml",
)
_NOTEBOOKS = ("*.ipynb",)


class Risk(enum.Enum):
    IGNORED = "ignored"
    SINGLE_WRITER = "single-writer"
    HIGH = "high-risk"
    OTHER = "other"
    LOW = "low-risk"


class Merge(enum.Enum):
    """What a real merge of the two sides would do, as git predicts it."""

    CONFLICT = "conflict"
    CLEAN = "clean"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RiskRules:
    """The `conflicts` globs (gitignore semantics, `!` excludes). The first that matches
    wins, in this order: ignore, single_writer, high, low."""

    ignore: GitIgnoreSpec
    single_writer: GitIgnoreSpec
    high: GitIgnoreSpec
    low: GitIgnoreSpec

    @classmethod
    def from_config(cls, section: ConflictsSection) -> RiskRules:
        return cls(
            ignore=gitignore_spec(section.ignore),
            single_writer=gitignore_spec(section.single_writer),
            high=gitignore_spec(section.high),
            low=gitignore_spec(section.low),
        )

    def classify(self, path: str) -> Risk:
        if self.ignore.match_file(path):
            return Risk.IGNORED
        if self.single_writer.match_file(path):
            return Risk.SINGLE_WRITER
        if self.high.match_file(path):
            return Risk.HIGH
        if self.low.match_file(path):
            return Risk.LOW
        return Risk.OTHER

    def relevant(self, paths: Iterable[str]) -> list[str]:
        """`paths` without the ignored ones, in order."""
        return [path for path in paths if self.classify(path) is not Risk.IGNORED]


@dataclass(frozen=True)
class Other:
    """A sibling worktree, a branch or a pull request that may change the same files."""

    kind: str  # "worktree", "branch", "remote branch" or "pull request"
    name: str  # a branch, "detached at <sha>", or "#<number> (<branch>)" for a pull request
    merge_first: str  # what a hint tells the user to merge first
    location: str = ""  # the worktree's path, as shown to the user
    detached: bool = False

    def describe(self) -> str:
        """Where the other change is, as the end of "also changed ..."."""
        if self.kind == "worktree":
            branch = f"({self.name})" if self.detached else f"on branch {self.name}"
            return f"in worktree {self.location} {branch}"
        if self.kind == "pull request":
            return f"in pull request {self.name}"
        return f"on {self.kind} {self.name}"

    @property
    def title(self) -> str:
        """What it is, as the subject of a notice."""
        if self.kind == "worktree":
            branch = self.name if self.detached else f"branch {self.name}"
            return f"worktree {self.location} ({branch})"
        return f"{self.kind} {self.name}"

    @property
    def where(self) -> str:
        """The finding's path for a notice about this one as a whole."""
        return self.location or self.name


@dataclass(frozen=True)
class Overlap:
    """One file both this commit and `other` change since they forked."""

    path: str
    other: Other
    how: tuple[str, ...] = ("committed",)  # how the other side changed it, if it matters
    merge: Merge = Merge.UNKNOWN
    note: str = ""  # why the merge is unknown, or what the prediction left out
    renamed: str = ""  # where a rename moves it: "to src/net.py there"
    conflicts_at: tuple[str, ...] = ()  # where the merge leaves the conflict, when elsewhere


def severity(risk: Risk, merge: Merge, fail_on: str) -> Severity:
    """What `conflicts.fail_on` makes of an overlap: errors fail the commit."""
    if fail_on == "any":
        return Severity.ERROR
    chosen = {
        Risk.SINGLE_WRITER: Severity.ERROR,
        Risk.HIGH: Severity.ERROR,
        Risk.OTHER: Severity.WARNING if merge is Merge.CONFLICT else Severity.NOTICE,
        Risk.LOW: Severity.NOTICE,
    }[risk]
    return min(chosen, Severity.WARNING) if fail_on == "never" else chosen


def overlap_findings(
    overlaps: Iterable[Overlap], rules: RiskRules, fail_on: str = "high"
) -> list[Finding]:
    """One finding per file and other side; ignored files give none."""
    findings = []
    for overlap in overlaps:
        risk = rules.classify(overlap.path)
        if risk is Risk.IGNORED:
            continue
        findings.append(
            Finding(
                overlap.path,
                _code(risk, overlap.merge),
                _message(risk, overlap),
                line=0,
                col=0,
                severity=severity(risk, overlap.merge, fail_on),
                hint=way_out(overlap, risk),
                extra=_extra(risk, overlap),
            )
        )
    return findings


def _extra(risk: Risk, overlap: Overlap) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "risk": risk.value,
        "other": overlap.other.describe(),
        "changed": list(overlap.how),
        "merge": overlap.merge.value,
    }
    if overlap.renamed:
        extra["renamed"] = overlap.renamed
    if overlap.conflicts_at:
        extra["conflicts_at"] = list(overlap.conflicts_at)
    return extra


def _code(risk: Risk, merge: Merge) -> str:
    if risk is Risk.HIGH:
        return HIGH_RISK
    if risk is Risk.SINGLE_WRITER:
        return SINGLE_WRITER
    if risk is Risk.LOW:
        return LOW_RISK
    return CONFLICT if merge is Merge.CONFLICT else OVERLAP


def _message(risk: Risk, overlap: Overlap) -> str:
    subject = "file" if risk is Risk.OTHER else f"{risk.value} file"
    outcome = {
        Merge.CONFLICT: "merging the two would conflict"
        + (
            f" at {', '.join(map(shown_path, overlap.conflicts_at))}"
            if overlap.conflicts_at
            else ""
        ),
        Merge.CLEAN: "git predicts a clean merge",
        Merge.UNKNOWN: "the merge could not be predicted",
    }[overlap.merge]
    if overlap.note:
        outcome += f" ({overlap.note})"
    how = f" ({' and '.join(overlap.how)} there)" if overlap.how else ""
    if overlap.renamed:
        how += f" (renamed {overlap.renamed})"
    return f"{subject} also changed {overlap.other.describe()}{how}: {outcome}"


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return gitignore_spec(patterns).match_file(path)


def way_out(overlap: Overlap, risk: Risk) -> str:
    """How to get out of it: which to merge first, and what to redo after. The file is named
    as the finding's location shows it, and quoted for the shell in a command."""
    first = overlap.other.merge_first
    path = shown_path(overlap.path)
    if risk is Risk.SINGLE_WRITER:
        return (
            f"one instance for config changes: leave {path} to {first} (merge it first), "
            f"or take your change out of this commit: git restore --staged -- {shlex.quote(path)}"
        )
    if risk is Risk.LOW:
        return f"usually harmless; merge {first} first if both edits touch the same lines"
    if _matches(path, _LOCK_FILES):
        return (
            f"never merge a lock file by hand: regenerate the lock after merging {first} "
            "(poetry lock, uv lock, pip-compile, ...) and commit only that"
        )
    if _matches(path, _DEPENDENCY_FILES):
        then = (
            f"then rebase this branch on it and re-apply your change to {path} once"
            if overlap.merge is Merge.CONFLICT
            else f"then check that {path} pins each package once"
        )
        return (
            f"coordinate dependency changes: merge {first} first, {then}; "
            f"regenerate any lock file after merging {first}"
        )
    if _matches(path, _NOTEBOOKS):
        return (
            f"notebooks merge badly: edit a different notebook, or merge {first} first and "
            "redo your cells on top (pair it with jupytext to merge the text twin)"
        )
    if overlap.merge is Merge.CLEAN:
        return f"merge {first} first, then rebase this branch on it; no conflict expected"
    return f"merge order: merge {first} first, then rebase this branch on it and resolve {path}"


# --- notices about what could not be compared ---------------------------------------------


def _notice(where: str, code: codes.Code, message: str, hint: str) -> Finding:
    return Finding(where, code, message, line=0, col=0, severity=code.severity, hint=hint)


def worktree_gone(other: Other, reason: str) -> Finding:
    return _notice(
        other.where,
        WORKTREE_GONE,
        f"{other.title} is not reachable ({reason}): its commits were compared, "
        "its uncommitted edits could not be",
        "run `git worktree prune` if it was deleted, or reattach the disk it lives on",
    )


def not_compared(other: Other, reason: str, hint: str) -> Finding:
    return _notice(other.where, NOT_COMPARED, f"{other.title} was not compared: {reason}", hint)


def no_commit_yet(branch: str | None) -> Finding:
    return _notice(
        ".",
        NO_COMMIT_YET,
        f"branch {branch or 'HEAD'} has no commit yet: there is no fork point to compare "
        "sibling worktrees and branches with",
        "conflict risks are checked from the next commit on",
    )


def pull_requests_unavailable(reason: str) -> Finding:
    return _notice(
        ".",
        PULL_REQUESTS_UNAVAILABLE,
        f"the other open pull requests could not be compared: {reason}",
        "run it on a pull_request event with a token that can read pull requests",
    )


def untracked_too_big(other: Other, paths: Sequence[str], limit_mb: float) -> Finding:
    first = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    return _notice(
        other.where,
        UNTRACKED_TOO_BIG,
        f"{other.title}: untracked files over {limit_mb:g} MB were left out of the merge "
        f"prediction: {first}",
        "ignore them (.gitignore), or raise conflicts.untracked_max_mb",
    )
