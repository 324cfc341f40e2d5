"""The `jupytext-pairing` check: every notebook has its text twin, and the two are in sync.

A pair is in sync when `jupytext --sync` would leave every file untouched, whichever file
is the newest. The check reads files and git state handed to it; it never runs git itself
and writes nothing: with `fix`, it returns the new text of each file to write.

Codes (stable):
  NB001  a notebook has no text twin, or the twin is not added to git
  NB002  a text twin has no notebook, or the notebook is not added to git (notebooks tracked)
  NB003  pairing metadata is missing, or differs from `notebooks.formats`
  NB004  notebook and twin are out of sync (`jupytext --sync` would rewrite one)
  NB005  both files are staged and out of sync: which one is the edit is ambiguous
  NB006  a file cannot be read: not UTF-8, not JSON, not nbformat 4, invalid notebook
  NB007  committed outputs while `notebooks.strip_outputs` is true
  NB008  a notebook is in git while `notebooks.ipynb_tracked` is false
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from claudio_ci.checks.notebook_formats import Member, PairingFormats
from claudio_ci.checks.notebook_sync import (
    Jupytext,
    PairNotebooks,
    Problem,
    decode,
    notebook_problem,
    session,
    unicode_problem,
)
from claudio_ci.errors import ConfigError
from claudio_ci.findings import Finding, Fix, Severity
from claudio_ci.globs import gitignore_spec

NO_TWIN = "NB001"
NO_NOTEBOOK = "NB002"
PAIRING_METADATA = "NB003"
OUT_OF_SYNC = "NB004"
BOTH_STAGED = "NB005"
UNREADABLE = "NB006"
OUTPUTS = "NB007"
NOTEBOOK_IN_GIT = "NB008"

# A text file counts as a notebook's twin only if jupytext wrote it (header) or it has cells;
# a helper module or a README beside the notebooks is not an orphaned twin.
_LOOKS_LIKE_NOTEBOOK = re.compile(r"^(?:\W{0,3} ?%%|```+ ?\{|.*\bjupytext:)", re.MULTILINE)
_MAX_CONVERGENCE_PASSES = 3


@dataclass(frozen=True)
class Settings:
    """The `notebooks` configuration section, parsed once per run."""

    pairing: PairingFormats
    paths: tuple[str, ...]  # globs, compiled only once a file has a notebook's extension
    allow_unpaired: tuple[str, ...]
    ipynb_tracked: bool
    strip_outputs: bool

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Settings:
        try:
            pairing = PairingFormats.parse(section["formats"])
        except ValueError as exc:
            raise ConfigError(f"notebooks.formats: {exc}") from None
        return cls(
            pairing=pairing,
            paths=tuple(section["paths"]),
            allow_unpaired=tuple(section["allow_unpaired"]),
            ipynb_tracked=section["ipynb_tracked"],
            strip_outputs=section["strip_outputs"],
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

    @property
    def path(self) -> str:
        return self.member.path

    @property
    def exists(self) -> bool:
        return self.data is not None or self.error is not None


class History(Protocol):
    """What git says about a pair's files; asked only when a verdict or a fix needs it."""

    def staged(self, path: str) -> bool: ...

    def rank(self, path: str) -> int:
        """2 staged, 1 changed but not staged (or untracked), 0 as committed."""
        ...

    def commit_time(self, path: str) -> int | None: ...


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
    decoded, problems = _decode(present)
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
        except Exception as exc:  # jupytext on input it cannot handle: a finding, no traceback
            anchor = next((f for f in present if f is not notebook), present[0])
            message = f"jupytext cannot read this pair: {type(exc).__name__}: {exc}"
            hint = f"jupytext --sync {shlex.quote(anchor.path)} shows jupytext's own error"
            failure = Finding(anchor.path, UNREADABLE, message.strip(), hint=hint)
            return _unreadable_pair(PairResult(_presence_findings(files, settings)), [failure])
    return result


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


def _decode(present: Sequence[FileState]) -> tuple[dict[str, str], list[Finding]]:
    decoded: dict[str, str] = {}
    findings = []
    for state in present:
        if state.data is None:
            message, hint = f"cannot read: {state.error}", "it must be a readable file"
            findings.append(Finding(state.path, UNREADABLE, message, hint=hint))
            continue
        try:
            text = decode(state.data)
        except UnicodeDecodeError as exc:
            problem = unicode_problem(state.data, exc)
        else:
            decoded[state.path] = text
            problem = notebook_problem(text) if state.member.format.is_notebook else None
        if problem is not None:
            findings.append(_unreadable(state.path, problem))
    return decoded, findings


def _unreadable(path: str, problem: Problem) -> Finding:
    hint = _unreadable_hint(path, problem.message)
    return Finding(path, UNREADABLE, problem.message, problem.line, problem.col, hint=hint)


def _unreadable_hint(path: str, message: str) -> str:
    if message.startswith("nbformat"):
        return f"upgrade it: jupyter nbconvert --to notebook --inplace {shlex.quote(path)}"
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
        findings.append(_sync_finding(pair, settings, history))
    return findings


def _sync_finding(pair: PairNotebooks, settings: Settings, history: History) -> Finding:
    text = pair.texts[0]
    nb_path = pair.notebook.path
    detail, line = pair.difference(text)
    if history.staged(nb_path) and history.staged(text.path):
        return Finding(
            text.path,
            BOTH_STAGED,
            f"{nb_path} and {text.path} are both staged and out of sync ({detail}): "
            "which one is the edit is ambiguous",
            line,
            hint=_keep_one_hint(nb_path, text),
        )
    severity = Severity.ERROR if settings.ipynb_tracked else Severity.WARNING
    source = "the staged or newer file" if settings.ipynb_tracked else text.path
    return Finding(
        text.path,
        OUT_OF_SYNC,
        f"out of sync with {nb_path}: {detail}",
        line,
        severity=severity,
        hint=f"--fix syncs from {source}; or {_keep_one_hint(nb_path, text)}",
        fix=Fix(f"sync {nb_path} and {text.path}"),
    )


def _keep_one_hint(nb_path: str, text: Member) -> str:
    return (
        f"keep the notebook: jupytext --to {text.format.short} {shlex.quote(nb_path)}; "
        f"keep the text: jupytext --update --to ipynb {shlex.quote(text.path)}"
    )


# --- fixing ---------------------------------------------------------------------------------


class Refusal(Exception):
    """--fix cannot tell which file to trust, or cannot write where it would have to."""


def _plan_fix(
    result: PairResult,
    pair: PairNotebooks,
    files: Sequence[FileState],
    settings: Settings,
    history: History,
) -> None:
    """Fill `result.writes` and mark the fixable findings fixed, or explain the refusal."""
    try:
        writes = _fixed_texts(pair, files, settings, history)
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


def _fixed_texts(
    pair: PairNotebooks, files: Sequence[FileState], settings: Settings, history: History
) -> dict[str, str]:
    existing = [f.member for f in files if f.path in pair.files]
    targets = [
        f.member
        for f in files
        if f.path in pair.files or not f.member.format.is_notebook or settings.ipynb_tracked
    ]
    linked = [f.path for f in files if f.symlink and f.member in targets]
    if linked:
        raise Refusal(f"{linked[0]} is a symbolic link; --fix does not write through links")
    texts = _synced_texts(pair, existing, targets, settings, history)
    for _ in range(_MAX_CONVERGENCE_PASSES):
        current = _reread(pair, texts)
        if not current.stale():
            return {path: t for path, t in texts.items() if pair.files.get(path) != t}
        texts = current.synced(
            current.texts[0], settings.pairing, targets, strip_outputs=settings.strip_outputs
        )
    raise Refusal("jupytext does not round-trip this notebook to a stable text")


def _reread(pair: PairNotebooks, texts: Mapping[str, str]) -> PairNotebooks:
    return PairNotebooks(pair.root, pair.members, texts, pair.config)


def _synced_texts(
    pair: PairNotebooks,
    existing: Sequence[Member],
    targets: Sequence[Member],
    settings: Settings,
    history: History,
) -> dict[str, str]:
    def from_source(source: Member) -> dict[str, str]:
        return pair.synced(source, settings.pairing, targets, strip_outputs=settings.strip_outputs)

    if len(existing) == 1:
        return from_source(existing[0])
    outcomes = {m: from_source(m) for m in existing}
    if len({tuple(sorted(o.items())) for o in outcomes.values()}) == 1:
        return outcomes[existing[0]]
    if not settings.ipynb_tracked:  # the text is the source of truth
        return outcomes[existing[1]]
    return outcomes[_newest(existing, history)]


def _newest(existing: Sequence[Member], history: History) -> Member:
    """A staged file beats a changed one, which beats a committed one; then commit time."""
    ranks = {m: history.rank(m.path) for m in existing}
    best = max(ranks.values())
    leaders = [m for m in existing if ranks[m] == best]
    if len(leaders) == 1:
        return leaders[0]
    names = " and ".join(m.path for m in leaders)
    if best > 0:
        state = "staged" if best == 2 else "changed since the last commit"
        raise Refusal(f"--fix cannot choose: {names} are both {state}, differently")
    times = {m: history.commit_time(m.path) or 0 for m in leaders}
    newest = max(times.values())
    latest = [m for m in leaders if times[m] == newest]
    if len(latest) == 1:
        return latest[0]
    raise Refusal(f"--fix cannot choose: {names} were committed together, out of sync")


def _refused(finding: Finding, reason: str) -> Finding:
    if finding.fix is None:
        return finding
    return _with_fix(finding, None, hint=f"{reason}; {finding.hint}")


def _with_fix(finding: Finding, fix: Fix | None, hint: str | None = None) -> Finding:
    return replace(finding, fix=fix, hint=hint or finding.hint)
