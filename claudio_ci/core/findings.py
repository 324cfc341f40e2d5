"""One model for every problem a check reports, and the escaping every output shares.

Checks return `Finding`s and never print. `claudio_ci.core.report` renders them (with the
tables of the commands that have some) through the helpers here: `workflow_command` and
`github_safe` for GitHub Actions logs, `markdown_text` and `markdown_code` for Markdown,
`github_safe_json` for JSON.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    """Ordered so that `>=` means "at least as serious as"."""

    NOTICE = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Fix:
    """What `--fix` would change, described for a human; `applied` once it was written."""

    description: str
    applied: bool = False


@dataclass(frozen=True)
class Finding:
    path: str
    code: str
    message: str
    line: int = 1
    col: int = 1
    severity: Severity = Severity.ERROR
    hint: str | None = None
    fix: Fix | None = None
    end_line: int | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    @property
    def location(self) -> str:
        """`path:line:col`, or just the source's name when it has no lines (line 0); a
        newline, other control character or undecodable byte in the path is escaped, so that
        a finding stays on one line."""
        path = shown_path(self.path)
        return f"{path}:{self.line}:{self.col}" if self.line > 0 else path

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "hint": self.hint,
            "fix": None
            if self.fix is None
            else {"description": self.fix.description, "applied": self.fix.applied},
        }
        if self.extra:
            data["extra"] = self.extra
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """The inverse of `to_dict` (for cached results)."""
        fix = data.get("fix")
        return cls(
            path=data["path"],
            code=data["code"],
            message=data["message"],
            line=data["line"],
            col=data["col"],
            severity=Severity[data["severity"].upper()],
            hint=data.get("hint"),
            fix=Fix(fix["description"], fix["applied"]) if fix else None,
            end_line=data.get("end_line"),
            extra=data.get("extra") or {},
        )


def shown_path(path: str) -> str:
    """`path` on one line: `new\\nline.yaml` for a name holding a newline, `\\udcff` for a
    byte that is not UTF-8 (printing it as is would raise)."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in path)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.path, f.line, f.col, f.code, f.message))


def exit_code(findings: Iterable[Finding], fail_on: Severity | None = Severity.ERROR) -> int:
    """1 when a finding is at least `fail_on` (None: never fail), else 0."""
    if fail_on is None:
        return 0
    return int(any(f.severity >= fail_on for f in findings))


# --- GitHub workflow commands -----------------------------------------------------------


def escape_data(value: str) -> str:
    """Escape a workflow command's message, as @actions/core does."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property value (`file=`, `title=` ...)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    )
    return f"::{command}{' ' + props if props else ''}::{escape_data(message)}"


# Free text in a GitHub Actions log. The runner reads its output line by line (`\n`, `\r\n`
# and a lone `\r` each end a line) and takes a line for a workflow command when, after
# leading whitespace, it starts with `::name` (`::error::`, `::stop-commands::`), or when it
# holds the legacy `##[name` anywhere. Text that came from a file name, a config value or a
# training log must do neither, or it could stop command processing, add masks or forge
# annotations.

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# The runner compares with .NET's culture-aware StartsWith/IndexOf, which can skip characters
# the collation ignores: controls, format characters (zero-width space, soft hyphen, bidi
# marks) and a few invisible letters and marks. `#\u200b#[` may then read as `##[`.
_DOTNET_WHITESPACE = frozenset("\t\n\x0b\x0c\r\x85")
_IGNORABLE_MARKS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
)


def _ignorable(char: str) -> bool:
    if char in _IGNORABLE_MARKS:
        return True
    return unicodedata.category(char) in ("Cc", "Cf") and char not in _DOTNET_WHITESPACE


def _shows_a_command(line: str) -> bool:
    visible = "".join(c for c in line if not _ignorable(c))
    return "##[" in visible or visible.lstrip().startswith("::")


def _unhide(text: str) -> str:
    """`text` with every ignorable character shown as its escape (`\\u200b`), when hiding
    them could make it read as a command; else unchanged (a log's colour codes stay)."""
    if not _shows_a_command(text):
        return text
    return "".join(c.encode("unicode_escape").decode() if _ignorable(c) else c for c in text)


def github_safe_line(line: str) -> str:
    """`line` as one log line that the runner cannot take for a command: `\r`/`\n` shown
    as `\\r`/`\\n`, `##[` as `##\\[`, a leading `::` as `\\::` (indentation kept), and
    invisible characters shown escaped where they would hide one of these."""
    line = _unhide(line.replace("\r", "\\r").replace("\n", "\\n")).replace("##[", "##\\[")
    body = line.lstrip()  # Python's whitespace includes every character .NET's TrimStart drops
    if body.startswith("::"):
        line = line[: len(line) - len(body)] + "\\" + body
    return line


def github_safe(text: str) -> str:
    """Free text of many lines (a log tail, a subprocess's output) made safe line by line;
    a lone `\r` ends a line, as it does for the runner."""
    return "\n".join(github_safe_line(line) for line in _LINE_BREAK.split(text))


# --- JSON -------------------------------------------------------------------------------


def github_safe_json(data: object) -> str:
    """`data` as indented JSON that holds no workflow command: `##[` only occurs inside a
    JSON string, where `\\u005b` is the same `[` to a parser but no command to the Actions
    runner; DEL, which json leaves raw, is escaped too (every other invisible character is
    already `\\u` escaped, and no line starts with `::`)."""
    text = json.dumps(data, indent=2)
    return text.replace("##[", "##\\u005b").replace("\x7f", "\\u007f") + "\n"


# --- Markdown ---------------------------------------------------------------------------


# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the
# ones with an inline meaning (emphasis, code, links, raw HTML, entities, GFM strikethrough,
# tables, math, emoji) plus `#` and `:` so that neither `##[` nor a leading `::` reaches a log.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~$#!:])")


def markdown_text(value: str) -> str:
    """Untrusted text (a file or branch name, a message) as literal inline Markdown, safe in
    a table cell: punctuation escaped, no raw HTML, no link, no @mention (a zero-width space
    after `@`), line breaks as `<br>`."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", value).replace("@", "@\u200b")
    return "<br>".join(_LINE_BREAK.split(escaped))


def markdown_code(value: str, *, table: bool = True) -> str:
    """Untrusted text as one Markdown code span: the fence is longer than any run of
    backticks inside, so none closes it; control characters are shown escaped (one line);
    `|` is escaped in a table cell, where GFM splits on it even inside code; `##[` is
    broken so that no log line carries it. Code spans show raw HTML and @mentions as text."""
    text = _unhide(shown_path(value)).replace("##[", "##\\[")
    if table:
        text = text.replace("|", "\\|")
    if not text:
        return "` `"
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    if text.strip(" ") and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "
    return f"{fence}{text}{fence}"
