"""Findings the user silenced, as ruff users expect: the codes a check's configuration
section lists in `ignore` (a code or a prefix: `EXP4`), those `per_file_ignores` lists for
files matching a glob (gitignore semantics), and comments in the file itself:

    dir: outputs/shared   # claudio-ci: ignore[EXP402]
    # claudio-ci: ignore-file[EXP101]

An inline comment silences the codes it names (every code when it names none) on its line;
`ignore-file` silences them anywhere in the file. One filter over `Finding`s, applied by the
check runner, so every check gets it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from claudio_ci.core import codes
from claudio_ci.core.findings import Finding
from claudio_ci.core.globs import gitignore_spec

MARKER = "claudio-ci:"
# The whole comment: `# claudio-ci: ignore`, `ignore[EXP301, NB1]`, `ignore-file[...]`, then
# only spaces, or another comment's text after `#`. Codes are written as in the config's
# `ignore` (upper case: `EXP301`, a prefix `EXP4`).
_COMMENT = re.compile(r"claudio-ci:\s*ignore(?P<file>-file)?(?:\[(?P<codes>[^\]]*)\])?\s*(?:$|#)")
_CODE = re.compile(r"^[A-Z]+[0-9]*$")
MALFORMED = codes.CFG005

ALL = frozenset({""})  # the empty prefix: every code


class Silencing(Protocol):
    """A typed configuration section with ruff's two settings (`experiments`)."""

    @property
    def ignore(self) -> tuple[str, ...]: ...

    @property
    def per_file_ignores(self) -> Mapping[str, tuple[str, ...]]: ...


@dataclass(frozen=True)
class Suppressions:
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_section(cls, section: Silencing) -> Suppressions:
        return cls(section.ignore, tuple(section.per_file_ignores.items()))


def _comment_start(line: str) -> int:
    """Where the line's `#` comment starts (-1: none): a `#` at the start or after a space,
    outside quotes, as YAML and Python read it."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote and not (quote == '"' and line[index - 1] == "\\"):
                quote = ""
        elif char in "'\"" and (index == 0 or line[index - 1] in " \t[{:,-"):
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return index
    return -1


@dataclass
class _Comments:
    """The `claudio-ci: ignore` comments of one file."""

    by_line: dict[int, frozenset[str]] = field(default_factory=dict)
    whole_file: frozenset[str] = frozenset()
    malformed: list[tuple[int, int, str]] = field(default_factory=list)  # line, col, text

    @classmethod
    def parse(cls, text: str) -> _Comments:
        comments = cls()
        if MARKER not in text:
            return comments
        for number, line in enumerate(text.splitlines(), start=1):
            if MARKER in line:
                comments._line(number, line)
        return comments

    def _line(self, number: int, line: str) -> None:
        start = _comment_start(line)
        if start < 0:
            return  # inside a quoted value, or no comment: not a marker
        comment = line[start + 1 :].strip()
        if not comment.startswith(MARKER):
            return
        match = _COMMENT.match(comment)
        listed = match.group("codes") if match else None
        codes = frozenset(c.strip() for c in listed.split(",")) if listed is not None else ALL
        if match is None or (listed is not None and not all(_CODE.match(c) for c in codes)):
            self.malformed.append((number, start + 1, comment))
            return
        if match.group("file"):
            self.whole_file |= codes
        else:
            self.by_line[number] = self.by_line.get(number, frozenset()) | codes


def _matches(code: str, codes: Iterable[str]) -> bool:
    return any(code.startswith(prefix) for prefix in codes)


def filter_findings(
    findings: Sequence[Finding],
    suppressions: Suppressions,
    read_text: Callable[[str], str | None],
) -> list[Finding]:
    """`findings` less the silenced ones; `read_text(path)` gives a file's text (None when
    the path is not a readable file of the repository)."""
    specs = [(gitignore_spec([glob]), codes) for glob, codes in suppressions.per_file_ignores]
    comments: dict[str, _Comments] = {}
    kept = []
    for finding in findings:
        if _matches(finding.code, suppressions.ignore):
            continue
        if any(
            _matches(finding.code, codes) and spec.match_file(finding.path) for spec, codes in specs
        ):
            continue
        if finding.path not in comments:
            text = read_text(finding.path)
            comments[finding.path] = _Comments.parse(text) if text else _Comments()
        found = comments[finding.path]
        if _matches(finding.code, found.whole_file):
            continue
        if _matches(finding.code, found.by_line.get(finding.line, ())):
            continue
        kept.append(finding)
    return kept + [
        Finding(
            path,
            MALFORMED,
            f"this claudio-ci comment cannot be read, so it silences nothing: {text!r}",
            line,
            col,
            MALFORMED.severity,
            hint="write `# claudio-ci: ignore[EXP301, NB1]` (codes in upper case, as in "
            "the config's ignore) or `# claudio-ci: ignore-file[...]`",
        )
        for path, found in comments.items()
        for line, col, text in found.malformed
    ]
