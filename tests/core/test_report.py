"""core/report.py: one report model (findings, tables, notes, Markdown-only parts) and one
renderer per format."""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from claudio_ci.core.findings import Finding, Severity
from claudio_ci.core.report import (
    FORMATS,
    Column,
    MarkdownOnly,
    Notes,
    Report,
    Table,
    Text,
    render,
    render_report,
    table_lines,
)
from tests.runner_commands import runner_commands

WARNING = Finding("b/x.yaml", "EXP002", "name is reserved", 3, 1, Severity.WARNING)
ERROR = Finding("a.py", "NB001", "no twin", 1, 1, hint="run with --fix")
HOSTILE = "x##[error]y|<img src=x>@lead"

TABLE = Table(
    [Column("name", markdown="code"), Column("count", "right", "raw"), Column("state")],
    [["alpha", "1", "ok"], [HOSTILE, "120", "FAIL"], [Text("total", "**Total**"), "121", ""]],
    title="Runs",
)


def _report(*findings: Finding) -> Report:
    return Report(
        "claudio-ci thing",
        list(findings),
        [
            Notes(["first note", Text("see `x`", "see `x`")]),
            TABLE,
            MarkdownOnly("```mermaid\nxychart-beta\n```\n"),
        ],
        subtitle="scope here",
        title_in_text=True,
        data={"rows": 3},
    )


def test_a_table_aligns_its_columns_and_keeps_no_trailing_blanks() -> None:
    assert table_lines(TABLE) == [
        "name                           count  state",
        "alpha                              1  ok",
        "x##\\[error]y|<img src=x>@lead    120  FAIL",  # measured escaped
        "total                            121",
    ]


def test_text_is_title_sections_then_findings_a_blank_line_apart() -> None:
    text = render_report(_report(WARNING), "text")
    assert text == (
        "claudio-ci thing (scope here)\n"
        "\n"
        "first note\n"
        "see `x`\n"
        "\n"
        "Runs\n" + "".join(line + "\n" for line in table_lines(TABLE)) + "\n"
        "b/x.yaml:3:1: EXP002 [warning] name is reserved\n"
        "Found 1 problem (1 warning).\n"
    )
    assert "mermaid" not in text


def test_github_is_the_text_made_inert_with_findings_as_annotations() -> None:
    out = render_report(_report(WARNING, ERROR), "github")
    commands = runner_commands(out)
    assert [(c.name, c.properties["title"]) for c in commands] == [
        ("error", "NB001"),
        ("warning", "EXP002"),
    ]
    assert "x##\\[error]y" in out  # shown, but no legacy command
    assert "mermaid" not in out


def test_markdown_escapes_cells_and_keeps_what_the_builder_wrote() -> None:
    out = render_report(_report(WARNING), "markdown")
    tokens = MarkdownIt("commonmark").enable("table").parse(out)
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h3", "h4", "h3"]
    html = [c.content for t in tokens for c in t.children or [] if c.type == "html_inline"]
    assert html == ["<sub>", "</sub>"]  # the subtitle's; no <img> from a name
    assert "| `x##\\[error]y\\|<img src=x>@lead` | 120 | FAIL |" in out
    assert "| **Total** | 121 |  |" in out
    assert "|---|---:|---|" in out
    assert "see `x`" in out
    assert "```mermaid\nxychart-beta\n```" in out
    assert out.index("#### Runs") < out.index("### Findings")


def test_json_is_the_builders_data_with_the_findings() -> None:
    data = json.loads(render_report(_report(WARNING), "json"))
    assert data["rows"] == 3
    assert [f["code"] for f in data["findings"]] == ["EXP002"]
    listed = Report("t", [WARNING], data=[{"path": HOSTILE}])
    assert json.loads(render_report(listed, "json")) == [{"path": HOSTILE}]
    assert "##[" not in render_report(listed, "json")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_report_of_findings_alone_is_what_the_checks_print(fmt: str) -> None:
    report = Report("claudio-ci", [ERROR, WARNING])
    assert render_report(report, fmt) == render([ERROR, WARNING], fmt)
    assert render_report(Report("claudio-ci"), fmt) == render([], fmt)


def test_a_report_with_sections_and_no_findings_has_no_findings_block() -> None:
    report = Report("t", sections=[Notes(["only this"])])
    assert render_report(report, "text") == "only this\n"
    assert render_report(report, "github") == "only this\n"
    assert render_report(report, "markdown") == "### t\n\nonly this\n"


def test_markdown_omits_the_codes_a_section_already_says_and_only_there() -> None:
    report = Report("t", [WARNING, ERROR], [Notes(["a row per request"])])
    report.markdown_omits = frozenset({"NB001"})
    markdown = render_report(report, "markdown")
    assert "EXP002" in markdown and "NB001" not in markdown
    assert "Found 1 problem (1 warning)." in markdown
    for fmt in ("text", "github", "json"):  # every other format keeps every finding
        assert "NB001" in render_report(report, fmt), fmt
    report.markdown_omits = frozenset({"NB001", "EXP002"})
    assert render_report(report, "markdown") == "### t\n\na row per request\n"


def test_each_note_is_its_own_paragraph_in_markdown() -> None:
    report = Report("t", sections=[Notes(["wt-a: BROKEN link data", "Flagged: rerun setup."])])
    html = MarkdownIt("commonmark").render(render_report(report, "markdown"))
    assert "<p>wt-a: BROKEN link data</p>\n<p>Flagged: rerun setup.</p>" in html
