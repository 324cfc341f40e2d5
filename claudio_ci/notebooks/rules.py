"""The `jupytext-pairing` check: every notebook has its text twin, and the two are in sync.

A pair is in sync when `jupytext --sync` would leave every file untouched, whichever file
is the newest. The check reads files and git state handed to it; it never runs git itself
and writes nothing: with `fix`, it returns the new text of each file to write.

Codes: the NB family, in claudio_ci/core/codes.py (`claudio-ci explain NB` lists them).
"""

from __future__ import annotations

import enum
import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from claudio_ci.core import codes
from claudio_ci.core.errors import ConfigError
from claudio_ci.core.findings import Finding, Fix, Severity
from claudio_ci.core.globs import gitignore_spec
from claudio_ci.core.settings import NotebooksSection
from claudio_ci.core.yamlfile import YamlError
from claudio_ci.notebooks.formats import Member, PairingFormats
from claudio_ci.notebooks.sync import (
    Jupytext,
    PairNotebooks,
    Problem,
    decode,
    notebook_problem,
    session,
    unicode_problem,
)

NO_TWIN = codes.NB001
NO_NOTEBOOK = codes.NB002
PAIRING_METADATA = codes.NB003
OUT_OF_SYNC = codes.NB004
BOTH_CHANGED = codes.NB005
UNREADABLE = codes.NB006
OUTPUTS = codes.NB007
NOTEBOOK_IN_GIT = codes.NB008
TOO_LARGE = codes.NB009

# A text file counts as a notebook's twin only if jupytext wrote it (header) or it has cells;
# a helper module or a README beside the notebooks is not an orphaned twin.
_LOOKS_LIKE_NOTEBOOK = re.compile(r"^(?:\W{0,3} ?%%|```+ ?\{|.*\bjupytext:)", re.MULTILINE)
_MAX_CONVERGENCE_PASSES = 4
BOM = "\ufeff"
_BOM_MESSAGE = (
    "the file starts with a UTF-8 byte order mark (BOM), which jupytext reads as text: "
    "its header and first cell are not recognised"
)


@dataclass(frozen=True)
class Settings:
    """The `notebooks` configuration section, parsed once per run."""

    pairing: PairingFormats
    paths: tuple[str, ...]  # globs, compiled only once a file has a notebook's extension
    allow_unpaired: tuple[str, ...]
    ipynb_tracked: bool
    strip_outputs: bool
    max_bytes: int = 100_000_000

    @classmethod
    def from_config(cls, section: NotebooksSection) -> Settings:
        try:
            pairing = PairingFormats.parse(section.formats)
        except ValueError as exc:
            raise ConfigError(f"notebooks.formats: {exc}") from None
        return cls(
            pairing=pairing,
            paths=section.paths,
            allow_unpaired=section.allow_unpaired,
            ipynb_tracked=section.ipynb_tracked,
            strip_outputs=section.strip_outputs,
            max_bytes=int(section.max_file_mb * 1_000_000),
        )

    @property
    def fingerprint(self) -> str:
        """What a cached verdict depends on in the settings."""
        return f"{self.pairing.short}|{self.ipynb_tracked}|{self.strip_outputs}"

    def pairs(self, paths: Iterable[str], root: Path) -> list[tuple[Member, ...]]:
        """Each pair the paths belong to, once, in the order first seen."""
        found: dict[tuple[str, ...], tuple[Member, ...]] = {}
        for path in paths:
            if posixpath.splitext(path)[1] not in self.pairing.extensions:
                continue
            if not gitignore_spec(self.paths).match_file(path):
                continue
            members = self.pairing.members(path, root)
            if members:
                found.setdefault(tuple(m.path for m in members), members)
        return list(found.values())


@dataclass(frozen=True)
class FileState:
    """One member of a pair in the worktree: its bytes (None when absent) and git state."""

    member: Member
    data: bytes | None
    in_index: bool = False
    symlink: bool = False
    error: str | None = None  # why an existing file could not be read
    size: int | None = None  # of a file over `notebooks.max_file_mb`, left unread

    @property
    def path(self) -> str:
        return self.member.path

    @property
    def exists(self) -> bool:
        return self.data is not None or self.error is not None or self.size is not None


class Change(enum.Enum):
    """How a file differs from the last commit, in the index or the worktree."""

    NONE = "as committed"
    STAGED = "staged"
    UNSTAGED = "changed, not staged"
    STAGED_AND_UNSTAGED = "staged, then changed again"
    ADDED = "new, staged"
    UNTRACKED = "new, not added to git"

    @property
    def edited(self) -> bool:
        """Whether the file holds content that is not in the last commit."""
        return self is not Change.NONE

    @property
    def new(self) -> bool:
        return self in (Change.ADDED, Change.UNTRACKED)


class History(Protocol):
    """What git says about a pair's files; asked only when a verdict or a fix needs it."""

    def change(self, path: str) -> Change: ...

    def commit_time(self, path: str) -> int | None: ...

    def versions(self, path: str) -> list[bytes]:
        """The file as last committed and as staged (those that exist)."""
        ...


@dataclass
class PairResult:
    findings: list[Finding] = field(default_factory=list)
    writes: dict[str, str] = field(default_factory=dict)  # path -> new text, when fixing
    content_ok: bool = False  # the files' content passed: worth caching


def check_pair(
    files: Sequence[FileState],
    settings: Settings,
    *,
    root: Path,
    history: History,
    jupytext: Jupytext,
    fix: bool = False,
    content_known_ok: bool = False,
) -> PairResult:
    """Check one pair (`files[0]` is the notebook); with `fix`, also plan its repair."""
    notebook = files[0]
    present = [f for f in files if f.exists]
    if not present:
        return PairResult()
    if not notebook.exists and len(present) == 1 and not _looks_like_notebook(present[0]):
        return PairResult(content_ok=True)
    result = PairResult(findings=_presence_findings(files, settings))
    fixing = fix and any(f.fix is not None for f in result.findings)
    if content_known_ok and not fixing:
        result.content_ok = True
        return result
    decoded, problems = _decode(present, settings.max_bytes)
    if problems:
        return _unreadable_pair(result, problems)
    lone_allowed = len(present) == 1 and _allowed_unpaired(files, settings)
    with session():
        try:
            pair = jupytext.pair(root, [f.member for f in files], decoded)
            if pair.problem is not None:
                return _unreadable_pair(result, [_unreadable(notebook.path, pair.problem)])
            content = _content_findings(pair, files, settings, history, lone_allowed)
            result.content_ok = not content
            result.findings += content
            if fix and any(f.fix is not None for f in result.findings):
                _plan_fix(result, pair, files, settings, history)
        except (ImportError, ConfigError):  # the installation or the settings, not the files
            raise
        except Exception as exc:  # a YAML bomb in a header, or input jupytext cannot handle
            return _jupytext_failure(files, settings, exc)
    return result


def _jupytext_failure(files: Sequence[FileState], settings: Settings, exc: Exception) -> PairResult:
    """A pair jupytext could not read, as a finding on its text member: never a traceback."""
    present = [f for f in files if f.exists]
    anchor = next((f for f in present if f is not files[0]), present[0])
    if isinstance(exc, YamlError):  # an alias bomb in a YAML header, before it was expanded
        hint = "a jupytext header holds a few lines of plain metadata: remove the aliases"
        failure = Finding(anchor.path, UNREADABLE, exc.message, hint=hint)
    else:
        message = f"jupytext cannot read this pair: {type(exc).__name__}: {exc}"
        hint = f"jupytext --sync {shlex.quote(anchor.path)} shows jupytext's own error"
        failure = Finding(anchor.path, UNREADABLE, message.strip(), hint=hint)
    return _unreadable_pair(PairResult(_presence_findings(files, settings)), [failure])


def _unreadable_pair(result: PairResult, problems: list[Finding]) -> PairResult:
    """What is known of a pair that cannot be read: nothing to cache, nothing --fix can do."""
    unfixable = [_refused(f, "--fix needs every file readable") for f in result.findings]
    return PairResult(findings=unfixable + problems)


# --- presence -------------------------------------------------------------------------------


def _looks_like_notebook(state: FileState) -> bool:
    if state.member.format.is_notebook or state.data is None:
        return True
    return bool(_LOOKS_LIKE_NOTEBOOK.search(state.data.decode("utf-8", "replace")))


def _allowed_unpaired(files: Sequence[FileState], settings: Settings) -> bool:
    return any(gitignore_spec(settings.allow_unpaired).match_file(f.path) for f in files)


def _presence_findings(files: Sequence[FileState], settings: Settings) -> list[Finding]:
    notebook, texts = files[0], files[1:]
    findings = []
    if not settings.ipynb_tracked and notebook.in_index:
        findings.append(
            Finding(
                notebook.path,
                NOTEBOOK_IN_GIT,
                "notebook is in git although notebooks.ipynb_tracked is false",
                hint=f"git rm --cached {shlex.quote(notebook.path)} and add *.ipynb to .gitignore",
            )
        )
    if _allowed_unpaired(files, settings):
        return findings
    anyone_in_git = any(f.in_index for f in files)
    for text in texts:
        if notebook.exists and not text.exists:
            findings.append(
                Finding(
                    notebook.path,
                    NO_TWIN,
                    f"no text twin: {text.path} is missing",
                    hint=f"jupytext --sync {shlex.quote(notebook.path)} (or --fix) creates it",
                    fix=Fix(f"create {text.path} from {notebook.path}"),
                )
            )
        elif text.exists and not text.in_index and anyone_in_git:
            findings.append(
                Finding(
                    notebook.path if notebook.exists else text.path,
                    NO_TWIN,
                    f"text twin {text.path} is not added to git",
                    hint=f"git add {shlex.quote(text.path)}",
                )
            )
    if settings.ipynb_tracked:
        findings += _notebook_presence(notebook, texts, anyone_in_git)
    return findings


def _notebook_presence(
    notebook: FileState, texts: Sequence[FileState], anyone_in_git: bool
) -> list[Finding]:
    text = next((t for t in texts if t.exists), None)
    if text is None:
        return []
    if not notebook.exists:
        return [
            Finding(
                text.path,
                NO_NOTEBOOK,
                f"no notebook: {notebook.path} is missing",
                hint="--fix creates it; if the notebook is gone for good, delete this file "
                "too, or list it in notebooks.allow_unpaired",
                fix=Fix(f"create {notebook.path} from {text.path}"),
            )
        ]
    if not notebook.in_index and anyone_in_git:
        return [
            Finding(
                text.path,
                NO_NOTEBOOK,
                f"notebook {notebook.path} is not added to git",
                hint=f"git add {shlex.quote(notebook.path)}",
            )
        ]
    return []


# --- content --------------------------------------------------------------------------------


def _decode(present: Sequence[FileState], max_bytes: int) -> tuple[dict[str, str], list[Finding]]:
    decoded: dict[str, str] = {}
    findings = []
    for state in present:
        if state.size is not None:
            findings.append(_too_large(state.path, state.size, max_bytes))
            continue
        if state.data is None:
            message, hint = f"cannot read: {state.error}", "it must be a readable file"
            findings.append(Finding(state.path, UNREADABLE, message, hint=hint))
            continue
        problem: Problem | None
        try:
            text = decode(state.data)
        except UnicodeDecodeError as exc:
            problem = unicode_problem(state.data, exc)
        else:
            if text.startswith(BOM):
                findings.append(_unreadable(state.path, Problem(_BOM_MESSAGE)))
                continue
            decoded[state.path] = text
            problem = notebook_problem(text) if state.member.format.is_notebook else None
        if problem is not None:
            findings.append(_unreadable(state.path, problem))
    return decoded, findings


def _too_large(path: str, size: int, max_bytes: int) -> Finding:
    return Finding(
        path,
        TOO_LARGE,
        f"{size / 1e6:,.1f} MB, over notebooks.max_file_mb ({max_bytes / 1e6:g} MB): not read",
        hint="strip its outputs (nbstripout, or notebooks.strip_outputs with --fix on a smaller "
        "copy), or raise notebooks.max_file_mb",
    )


def _unreadable(path: str, problem: Problem) -> Finding:
    hint = _unreadable_hint(path, problem.message)
    return Finding(path, UNREADABLE, problem.message, problem.line, problem.col, hint=hint)


def _unreadable_hint(path: str, message: str) -> str:
    if message.startswith("nbformat"):
        return f"upgrade it: jupyter nbconvert --to notebook --inplace {shlex.quote(path)}"
    if message == _BOM_MESSAGE:
        return "save it as UTF-8 without a BOM (jupytext and Jupyter write none)"
    if message.startswith("not UTF-8"):
        return "jupytext reads UTF-8 only: re-save the file as UTF-8"
    return f"restore the last good version (git restore {shlex.quote(path)}) or repair the file"


def _content_findings(
    pair: PairNotebooks,
    files: Sequence[FileState],
    settings: Settings,
    history: History,
    lone_allowed: bool,
) -> list[Finding]:
    findings = []
    notebook = files[0]
    configured = settings.pairing
    anchor = notebook if pair.notebook is not None else next(f for f in files if f.exists)
    declared = pair.declared
    set_formats = f"jupytext --set-formats {configured.short} {shlex.quote(anchor.path)} (or --fix)"
    if not lone_allowed and declared is None:
        findings.append(
            Finding(
                anchor.path,
                PAIRING_METADATA,
                f"no pairing metadata: expected jupytext formats {configured.short}",
                hint=set_formats,
                fix=Fix(f"declare formats {configured.short}"),
            )
        )
    elif not lone_allowed and declared is not None and not declared.same_pairing(configured):
        findings.append(
            Finding(
                anchor.path,
                PAIRING_METADATA,
                f"paired as {declared.short}; this repository pairs {configured.short}",
                hint=set_formats,
                fix=Fix(f"declare formats {configured.short}"),
            )
        )
    outputs = pair.cells_with_outputs() if settings.strip_outputs else 0
    if outputs:
        findings.append(
            Finding(
                notebook.path,
                OUTPUTS,
                f"{outputs} code cell{'s' if outputs > 1 else ''} with outputs, "
                "and notebooks.strip_outputs forbids committed outputs",
                hint="--fix clears outputs and execution counts (so does nbstripout)",
                fix=Fix("clear outputs"),
            )
        )
    if pair.notebook is not None and pair.texts and pair.stale():
        findings.append(_sync_finding(pair, Planner(pair, files, settings, history)))
    return findings


def _sync_finding(pair: PairNotebooks, planner: Planner) -> Finding:
    assert pair.notebook is not None  # only a pair with a notebook can be out of sync
    text = pair.texts[0]
    nb_path = pair.notebook.path
    detail, line = pair.difference(text)
    direction = planner.direction()
    settings = planner.settings
    severity = Severity.ERROR if settings.ipynb_tracked else Severity.WARNING
    if direction.ambiguous:
        states = " and ".join(f"{m.path} {planner.change(m).value}" for m in planner.existing)
        if not settings.ipynb_tracked:
            states = f"{nb_path} (not in git) in sync with no committed or staged {text.path}"
        return Finding(
            text.path,
            BOTH_CHANGED,
            f"both files changed since the last commit and are out of sync ({detail}): "
            f"{states}; which edit wins is ambiguous, --fix will not choose",
            line,
            severity=severity,
            hint=_keep_one_hint(nb_path, text),
        )
    if direction.source is None:
        return Finding(
            text.path,
            OUT_OF_SYNC,
            f"out of sync with {nb_path}: {detail}",
            line,
            severity=severity,
            hint=f"{direction.reason}; {_keep_one_hint(nb_path, text)}",
        )
    why = f" ({direction.reason})" if direction.reason else ""
    return Finding(
        text.path,
        OUT_OF_SYNC,
        f"out of sync with {nb_path}: {detail}",
        line,
        severity=severity,
        hint=f"--fix syncs from {direction.source.path}{why}; or {_keep_one_hint(nb_path, text)}",
        fix=Fix(f"sync {nb_path} and {text.path}"),
    )


def _keep_one_hint(nb_path: str, text: Member) -> str:
    return (
        f"keep the notebook: jupytext --to {text.format.short} {shlex.quote(nb_path)}; "
        f"keep the text: jupytext --update --to ipynb {shlex.quote(text.path)}"
    )


# --- which side a sync starts from ------------------------------------------------------------


class Refusal(Exception):
    """--fix cannot tell which file to trust, or cannot write where it would have to."""


@dataclass(frozen=True)
class Direction:
    """The file a sync starts from; None when --fix must not choose (`reason` says why)."""

    source: Member | None
    reason: str = ""
    ambiguous: bool = False  # both files hold edits that are not in the last commit


class Planner:
    """Which file of a pair a sync starts from, so that no edit is ever overwritten.

    A file that holds content not in the last commit (staged, unstaged or new) is an edit;
    --fix only ever overwrites a file that holds none (its content stays in git). Two edited
    files that sync to different results are ambiguous (NB005) and left alone, unless one is
    byte for byte what jupytext writes from the other (a pair `jupytext --set-formats` just
    wrote from the notebook, a notebook `jupytext --sync` just wrote from the text).
    """

    def __init__(
        self,
        pair: PairNotebooks,
        files: Sequence[FileState],
        settings: Settings,
        history: History,
    ) -> None:
        self.pair = pair
        self.settings = settings
        self.history = history
        self.existing = [f.member for f in files if f.path in pair.files]
        self.targets = [
            f.member
            for f in files
            if f.path in pair.files or not f.member.format.is_notebook or settings.ipynb_tracked
        ]
        self._changes: dict[Member, Change] = {}
        self._outcomes: dict[Member, dict[str, str]] = {}
        self._direction: Direction | None = None

    def change(self, member: Member) -> Change:
        if member not in self._changes:
            self._changes[member] = self.history.change(member.path)
        return self._changes[member]

    def outcome(self, source: Member) -> dict[str, str]:
        """Every target's text once synced from `source`."""
        if source not in self._outcomes:
            self._outcomes[source] = self.pair.synced(
                source,
                self.settings.pairing,
                self.targets,
                strip_outputs=self.settings.strip_outputs,
            )
        return self._outcomes[source]

    def _agree(self, members: Sequence[Member]) -> bool:
        return len({tuple(sorted(self.outcome(m).items())) for m in members}) == 1

    def direction(self) -> Direction:
        if self._direction is None:
            self._direction = self._choose()
        return self._direction

    def _choose(self) -> Direction:
        existing = self.existing
        if len(existing) == 1:
            return Direction(existing[0])
        if not self.settings.ipynb_tracked:
            return self._untracked_notebook()
        edited = [m for m in existing if self.change(m).edited]
        if len(edited) == 1:
            return Direction(edited[0], "the only file changed since the last commit")
        if self._agree(existing):
            return Direction(existing[0])
        if not edited:
            return self._by_commit_time()
        derived = self._derived() or self._new_pair()
        if derived is not None:
            return derived
        names = " and ".join(m.path for m in edited)
        return Direction(
            None, f"--fix cannot choose: {names} both hold changes, differently", ambiguous=True
        )

    def _derived(self) -> Direction | None:
        """Both files changed, but one is byte for byte what jupytext writes from the other:
        `jupytext --set-formats` just wrote the text from the notebook (a new pair), or
        `jupytext --sync` the notebook from an edited text. Overwriting it loses nothing."""
        for source in self.existing:
            outcome = self.outcome(source)
            others = [m for m in self.existing if m != source]
            if all(outcome[m.path] == self.pair.files[m.path] for m in others):
                written = " and ".join(m.path for m in others)
                return Direction(source, f"{written} is exactly what jupytext writes from it")
        return None

    def _new_pair(self, *, committed: bool = False) -> Direction | None:
        """The text holds nothing the notebook lacks (cells, their metadata, the notebook's
        metadata, in any key order), or reads back as the text jupytext writes from the
        notebook does, and is new (or committed with the notebook): a pair `jupytext
        --set-formats` wrote from the notebook, which is the source. A twin the user typed
        into reads back differently, and stays an edit (NB005)."""
        notebook, texts = self.existing[0], self.existing[1:]
        if not committed and not all(self.change(m).new for m in self.existing):
            return None
        kind = "committed together" if committed else "a new pair"
        if all(self.pair.adds_nothing(m) for m in texts):
            return Direction(notebook, f"{kind}: the text holds nothing the notebook lacks")
        if all(self.pair.reads_as_written(m) for m in texts):
            # Jupytext's round trip of the format changes the notebook's cells (MyST drops a
            # markdown cell's trailing blank lines), but the text is the one jupytext wrote.
            names = " and ".join(m.path for m in texts)
            return Direction(
                notebook, f"{kind}: {names} reads back as what jupytext writes from the notebook"
            )
        return None

    def _untracked_notebook(self) -> Direction:
        """The text is the source of truth, but the local notebook (not in git) may hold an
        edit of its own: it does unless it is in sync with the text as committed or staged."""
        notebook, text = self.existing[0], self.existing[1]
        if not self._notebook_holds_edits(notebook, text):
            return Direction(text, "the text is the source of truth")
        if not self.change(text).edited:
            return Direction(notebook, "the notebook holds the only change; it is not in git")
        derived = self._derived()
        if derived is not None:
            return derived
        return Direction(
            None,
            f"--fix cannot choose: {notebook.path} holds edits of its own (it is in sync with "
            f"no committed or staged {text.path}) and {text.path} changed too",
            ambiguous=True,
        )

    def _notebook_holds_edits(self, notebook: Member, text: Member) -> bool:
        for data in self.history.versions(text.path):
            try:
                old = decode(data)
            except UnicodeDecodeError:
                continue
            files = {notebook.path: self.pair.files[notebook.path], text.path: old}
            earlier = PairNotebooks(self.pair.root, self.pair.members, files, self.pair.config)
            if earlier.problem is None and not earlier.stale():
                return False
        return True

    def _by_commit_time(self) -> Direction:
        """Nothing changed since the last commit: the file committed later is the edit."""
        times = {m: self.history.commit_time(m.path) or 0 for m in self.existing}
        newest = max(times.values())
        latest = [m for m in self.existing if times[m] == newest]
        if len(latest) == 1:
            return Direction(latest[0], "committed later")
        derived = self._derived() or self._new_pair(committed=True)
        if derived is not None:
            return derived
        names = " and ".join(m.path for m in latest)
        return Direction(None, f"--fix cannot choose: {names} were committed together, out of sync")


# --- fixing ---------------------------------------------------------------------------------


def _plan_fix(
    result: PairResult,
    pair: PairNotebooks,
    files: Sequence[FileState],
    settings: Settings,
    history: History,
) -> None:
    """Fill `result.writes` and mark the fixable findings fixed, or explain the refusal."""
    try:
        writes = _fixed_texts(Planner(pair, files, settings, history), files)
    except Refusal as exc:
        result.findings = [_refused(f, str(exc)) for f in result.findings]
        return
    result.writes = writes
    done = ", ".join(
        f"{'created' if path not in pair.files else 'wrote'} {path}" for path in writes
    )
    result.findings = [
        f if f.fix is None else _with_fix(f, Fix(done or "nothing to write", applied=True))
        for f in result.findings
    ]


def _fixed_texts(planner: Planner, files: Sequence[FileState]) -> dict[str, str]:
    pair, settings = planner.pair, planner.settings
    linked = [f.path for f in files if f.symlink and f.member in planner.targets]
    if linked:
        raise Refusal(f"{linked[0]} is a symbolic link; --fix does not write through links")
    direction = planner.direction()
    if direction.source is None:
        raise Refusal(direction.reason)
    texts = planner.outcome(direction.source)
    for _ in range(_MAX_CONVERGENCE_PASSES):
        current = _reread(pair, texts)
        if current.problem is not None:
            raise Refusal(f"jupytext wrote a notebook it cannot read back: {current.problem}")
        source = current.rewriting_source()
        if source is None:
            return {path: t for path, t in texts.items() if pair.files.get(path) != t}
        # Every file now holds the source's content: the passes only reach jupytext's own
        # fixed point (which `jupytext --sync` may need two runs for, in both directions).
        texts = current.synced(
            source, settings.pairing, planner.targets, strip_outputs=settings.strip_outputs
        )
    raise Refusal("jupytext does not round-trip this notebook to a stable text")


def _reread(pair: PairNotebooks, texts: Mapping[str, str]) -> PairNotebooks:
    return PairNotebooks(pair.root, pair.members, texts, pair.config)


def _refused(finding: Finding, reason: str) -> Finding:
    if finding.fix is None:
        return finding
    return _with_fix(finding, None, hint=f"{reason}; {finding.hint}")


def _with_fix(finding: Finding, fix: Fix | None, hint: str | None = None) -> Finding:
    return replace(finding, fix=fix, hint=hint or finding.hint)
