"""One report model and one set of renderers, for every command that prints a result.

A `Report` is findings plus what a command shows around them: titled tables (columns with
an alignment, rows of cells), notes, and Markdown-only parts (a mermaid chart, a collapsed
log), with the machine-readable document its JSON carries. The same four renderers show
every report, so every command takes the same `--format` choices:

- `text`: a terminal's view; findings as ruff's `path:line:col: CODE message`;
- `github`: the text view with every line made inert for the Actions runner (`github_safe`),
  and the findings as workflow-command annotations (`workflow_command`);
- `json`: the report's `data` (raw numbers, not the formatted cells) with its findings,
  or, for a report of findings only, the list of findings;
- `markdown`: for the step summary and PR comments; untrusted text escaped by
  `markdown_text`/`markdown_code`, so a file or branch name cannot add a link, a mention
  or raw HTML.

Builders never print, renderers never read the environment: a command chooses the format
(`ActionsEnv.default_format`) and writes the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from claudio_ci.core.findings import (
    Finding,
    Severity,
    github_safe,
    github_safe_json,
    github_safe_line,
    markdown_code,
    markdown_text,
    sort_findings,
    workflow_command,
)

FORMATS = ("text", "github", "json", "markdown")

# The parts are named tuples, the report a dataclass: this module is on every hook's path,
# and a named tuple costs a fifth of a dataclass to define.
Align = Literal["left", "right"]
# How a column's plain cells become Markdown: literal text, a code span (a file, branch or
# rule name), or as they are (numbers and money the builder formatted itself).
MarkdownAs = Literal["text", "code", "raw"]


class Text(NamedTuple):
    """Plain text, and its Markdown when that is not the plain text escaped (an icon, a
    bold total, a code span): the builder escapes what it puts there. Titles are the
    program's own words, never escaped; cells and notes are escaped unless given here."""

    plain: str
    markdown: str | None = None


Cell = str | Text


class Column(NamedTuple):
    title: str
    align: Align = "left"
    markdown: MarkdownAs = "text"


class Table(NamedTuple):
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    title: str | None = None


class Notes(NamedTuple):
    """Lines of prose, each its own statement: a line in text, a paragraph in Markdown."""

    lines: Sequence[Cell]


class MarkdownOnly(NamedTuple):
    """Markdown the terminal has no use for (a chart, a log the terminal already showed)."""

    markdown: str


Section = Table | Notes | MarkdownOnly


@dataclass
class Report:
    """What a command shows. `title`: the Markdown heading, and the text's first line when
    `title_in_text` (with `subtitle` in brackets); `findings_title`: the heading of the
    findings' table in Markdown when the report has sections of its own."""

    title: str
    findings: Sequence[Finding] = ()
    sections: list[Section] = field(default_factory=list)
    subtitle: str | None = None
    title_in_text: bool = False
    findings_title: str = "Findings"
    data: object = None  # the JSON document (findings added under "findings"), None: findings
    markdown_omits: frozenset[str] = frozenset()  # codes a section already says in Markdown


# --- findings -------------------------------------------------------------------------------


def summary_line(findings: Sequence[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [
        f"{n} {s.label}{'' if n == 1 else 's'}"
        for s, n in sorted(counts.items(), reverse=True)
        if n
    ]
    fixable = sum(1 for f in findings if f.fix is not None and not f.fix.applied)
    fixed = sum(1 for f in findings if f.fix is not None and f.fix.applied)
    line = f"Found {len(findings)} problem{'' if len(findings) == 1 else 's'} ({', '.join(parts)})."
    if fixed:
        line += f" Fixed {fixed}."
    if fixable:
        line += f" {fixable} fixable with `--fix`."
    return line


def render_text(findings: Sequence[Finding]) -> str:
    """`path:line:col: CODE message`, a hint line under it, a closing count; "" when clean."""
    if not findings:
        return ""
    lines = []
    for f in sort_findings(findings):
        tag = "" if f.severity is Severity.ERROR else f"[{f.severity.label}] "
        lines.append(f"{f.location}: {f.code} {tag}{_one_line(f.message)}")
        if f.fix is not None and f.fix.applied:
            lines.append(f"  fixed: {_one_line(f.fix.description)}")
        elif f.hint:
            lines.append(f"  hint: {_one_line(f.hint)}")
    lines.append(summary_line(findings))
    return "".join(github_safe_line(line) + "\n" for line in lines)


def _one_line(message: str) -> str:
    return " ".join(message.splitlines())


_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTICE: "notice"}


def render_github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in sort_findings(findings):
        message = f.message if not f.hint else f"{f.message}\n{f.hint}"
        lines.append(
            workflow_command(
                _GITHUB_COMMAND[f.severity],
                message,
                file=f.path,
                line=f.line if f.line > 0 else None,
                endLine=f.end_line,
                col=f.col if f.line > 0 else None,
                title=f.code,
            )
        )
    return "".join(line + "\n" for line in lines)


def render_json(findings: Sequence[Finding]) -> str:
    return github_safe_json(findings_data(findings))


def findings_data(findings: Sequence[Finding]) -> list[dict[str, object]]:
    """The findings as JSON data, in their stable order."""
    return [f.to_dict() for f in sort_findings(findings)]


_ICON = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.NOTICE: "ℹ️"}


def render_markdown(findings: Sequence[Finding], title: str = "claudio-ci") -> str:
    if not findings:
        return f"### {title}\n\n✅ No problems found.\n"
    rows = [
        f"### {title}",
        "",
        summary_line(findings),
        "",
        "| | Code | Location | Message |",
        "|---|---|---|---|",
    ]
    for f in sort_findings(findings):
        if f.hint:
            message = f"{markdown_text(f.message)}<br>*{markdown_text(f.hint)}*"
        else:
            message = markdown_text(f.message)
        rows.append(
            f"| {_ICON[f.severity]} | {markdown_code(f.code)} | {markdown_code(f.location)} "
            f"| {message} |"
        )
    return "\n".join(rows) + "\n"


RENDERERS: dict[str, Callable[[Sequence[Finding]], str]] = {
    "text": render_text,
    "github": render_github,
    "json": render_json,
    "markdown": render_markdown,
}


def render(findings: Sequence[Finding], fmt: str) -> str:
    """Findings alone in format `fmt` (a check's whole output)."""
    return RENDERERS[fmt](findings)


# --- reports --------------------------------------------------------------------------------


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _cell_markdown(cell: Cell, column: Column) -> str:
    if isinstance(cell, Text) and cell.markdown is not None:
        return cell.markdown
    plain = _plain(cell)
    if column.markdown == "code":
        return markdown_code(plain)
    if column.markdown == "raw":
        return plain
    return markdown_text(plain)


def table_lines(table: Table) -> list[str]:
    """The table's header and rows, columns two spaces apart, aligned, no trailing blanks."""
    # each cell made log-safe first, so that an escaped `##\[` keeps its column aligned
    body = ([github_safe_line(_plain(c)) for c in row] for row in table.rows)
    rows = [[c.title for c in table.columns], *body]
    widths = [max(len(row[i]) for row in rows) for i in range(len(table.columns))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column.align == "right" else cell.ljust(width)
            for cell, width, column in zip(row, widths, table.columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _text_blocks(report: Report) -> list[str]:
    blocks = []
    if report.title_in_text:
        blocks.append(report.title + (f" ({report.subtitle})" if report.subtitle else ""))
    for section in report.sections:
        if isinstance(section, Table):
            title = [section.title] if section.title else []
            blocks.append("\n".join([*title, *table_lines(section)]))
        elif isinstance(section, Notes) and section.lines:
            blocks.append("\n".join(_plain(line) for line in section.lines))
    return blocks


def _markdown_table(table: Table) -> list[str]:
    lines = [f"#### {table.title}", ""] if table.title else []
    lines.append("| " + " | ".join(c.title for c in table.columns) + " |")
    lines.append("|" + "".join("---:|" if c.align == "right" else "---|" for c in table.columns))
    for row in table.rows:
        cells = [
            _cell_markdown(cell, column) for cell, column in zip(row, table.columns, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _line_markdown(line: Cell) -> str:
    if isinstance(line, Text) and line.markdown is not None:
        return line.markdown
    return markdown_text(_plain(line))


def _markdown_blocks(report: Report) -> list[str]:
    blocks = []
    if report.subtitle:
        blocks.append(f"<sub>{markdown_text(report.subtitle)}</sub>")
    for section in report.sections:
        if isinstance(section, Table):
            blocks.append("\n".join(_markdown_table(section)))
        elif isinstance(section, Notes) and section.lines:
            blocks.extend(_line_markdown(line) for line in section.lines)
        elif isinstance(section, MarkdownOnly):
            blocks.append(section.markdown.rstrip("\n"))
    return blocks


def report_text(report: Report) -> str:
    """The sections, a blank line apart, then the findings; "" when there is nothing."""
    blocks = _text_blocks(report)
    text = "".join(github_safe_line(line) + "\n" for line in "\n\n".join(blocks).split("\n"))
    if not blocks:
        return render_text(report.findings)
    return text + ("\n" + render_text(report.findings) if report.findings else "")


def report_github(report: Report) -> str:
    """The sections as inert log lines, the findings as annotations."""
    blocks = _text_blocks(report)
    text = github_safe("\n\n".join(blocks)) + "\n" if blocks else ""
    return text + render_github(report.findings)


def report_markdown(report: Report) -> str:
    findings = [f for f in report.findings if f.code not in report.markdown_omits]
    if not report.sections and not report.subtitle:
        return render_markdown(findings, report.title)
    blocks = [f"### {report.title}", *_markdown_blocks(report)]
    if findings:
        blocks.append(render_markdown(findings, report.findings_title).rstrip("\n"))
    return "\n\n".join(blocks) + "\n"


def report_json(report: Report) -> str:
    if report.data is None:
        return render_json(report.findings)
    data = report.data
    if isinstance(data, Mapping) and "findings" not in data:
        data = {**data, "findings": findings_data(report.findings)}
    return github_safe_json(data)


REPORT_RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": report_text,
    "github": report_github,
    "json": report_json,
    "markdown": report_markdown,
}


def render_report(report: Report, fmt: str) -> str:
    """`report` in format `fmt`, one of `FORMATS`."""
    return REPORT_RENDERERS[fmt](report)
