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
from typing import Any

from claudio_ci.core.findings import Finding
from claudio_ci.core.globs import gitignore_spec

MARKER = "claudio-ci:"
_COMMENT = re.compile(r"#\s*claudio-ci:\s*ignore(?P<file>-file)?(?:\[(?P<codes>[^\]]*)\])?")

ALL = frozenset({""})  # the empty prefix: every code


@dataclass(frozen=True)
class Suppressions:
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> Suppressions:
        per_file = section.get("per_file_ignores") or {}
        return cls(
            tuple(section.get("ignore") or ()),
            tuple((glob, tuple(codes)) for glob, codes in per_file.items()),
        )


@dataclass
class _Comments:
    """The `claudio-ci: ignore` comments of one file."""

    by_line: dict[int, frozenset[str]] = field(default_factory=dict)
    whole_file: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> _Comments:
        comments = cls()
        if MARKER not in text:
            return comments
        for number, line in enumerate(text.splitlines(), start=1):
            for match in _COMMENT.finditer(line):
                listed = match.group("codes")
                codes = frozenset(c.strip() for c in listed.split(",")) - {""} if listed else ALL
                codes = codes or ALL
                if match.group("file"):
                    comments.whole_file |= codes
                else:
                    comments.by_line[number] = comments.by_line.get(number, frozenset()) | codes
        return comments


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
    return kept
