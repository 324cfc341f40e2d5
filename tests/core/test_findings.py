"""findings.py, the one model of a problem, and its text, GitHub, JSON and Markdown renderers
(core/report.py)."""

from __future__ import annotations

import json

import pytest

from claudio_ci.core.findings import (
    Finding,
    Fix,
    Severity,
    escape_data,
    escape_property,
    exit_code,
    sort_findings,
)
from claudio_ci.core.report import (
    FORMATS,
    render,
    render_github,
    render_json,
    render_markdown,
    render_text,
    summary_line,
)

ERROR = Finding("src/b.py", "NB001", "notebook has no twin", 3, 5, hint="run with --fix")
WARNING = Finding("src/a.py", "EXP002", "name is reserved", 10, 1, Severity.WARNING)
NOTICE = Finding("requirements.txt", "CR001", "also changed on claudio/x", 0, 0, Severity.NOTICE)


# --- text -------------------------------------------------------------------------------


def test_text_is_one_sorted_line_per_problem_with_hint_and_count() -> None:
    assert render_text([ERROR, WARNING, NOTICE]) == (
        "requirements.txt: CR001 [notice] also changed on claudio/x\n"
        "src/a.py:10:1: EXP002 [warning] name is reserved\n"
        "src/b.py:3:5: NB001 notebook has no twin\n"
        "  hint: run with --fix\n"
        "Found 3 problems (1 error, 1 warning, 1 notice).\n"
    )


def test_text_prints_nothing_when_clean() -> None:
    assert render_text([]) == ""


def test_text_keeps_each_problem_on_one_line() -> None:
    finding = Finding("a.yaml", "X001", "first\nsecond\r\nthird", hint="try\nthis")
    assert render_text([finding]) == (
        "a.yaml:1:1: X001 first second third\n  hint: try this\nFound 1 problem (1 error).\n"
    )


def test_a_path_with_a_newline_or_an_undecodable_byte_stays_on_one_line() -> None:
    odd = b"caf\xe9".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    findings = [Finding(f"new\nline/{odd}.yaml", "X001", "m", 2, 3), Finding("été b", "X002", "m")]
    assert render_text(findings).splitlines()[:2] == [
        "new\\nline/caf\\udce9.yaml:2:3: X001 m",
        "été b:1:1: X002 m",
    ]
    assert json.loads(render_json(findings))[0]["path"] == f"new\nline/{odd}.yaml"


def test_text_shows_an_applied_fix_instead_of_the_hint() -> None:
    fixed = Finding("a.ipynb", "NB002", "out of sync", hint="run --fix", fix=Fix("synced", True))
    fixable = Finding("b.ipynb", "NB002", "out of sync", fix=Fix("sync it"))
    assert render_text([fixed, fixable]) == (
        "a.ipynb:1:1: NB002 out of sync\n"
        "  fixed: synced\n"
        "b.ipynb:1:1: NB002 out of sync\n"
        "Found 2 problems (2 errors). Fixed 1. 1 fixable with `--fix`.\n"
    )


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([Severity.ERROR], "Found 1 problem (1 error)."),
        ([Severity.WARNING, Severity.WARNING], "Found 2 problems (2 warnings)."),
        (
            [Severity.NOTICE, Severity.ERROR, Severity.ERROR, Severity.NOTICE],
            "Found 4 problems (2 errors, 2 notices).",
        ),
    ],
)
def test_summary_line_counts_each_severity(severities: list[Severity], expected: str) -> None:
    findings = [Finding("f", "X001", "m", severity=s) for s in severities]
    assert summary_line(findings) == expected


@pytest.mark.parametrize(
    ("line", "col", "location"),
    [(12, 4, "data/x.yaml:12:4"), (1, 1, "data/x.yaml:1:1"), (0, 0, "data/x.yaml")],
)
def test_location_has_no_position_for_line_zero(line: int, col: int, location: str) -> None:
    assert Finding("data/x.yaml", "X001", "m", line, col).location == location


def test_sort_orders_by_path_line_col_code() -> None:
    a = Finding("a", "X002", "m", 2, 1)
    b = Finding("a", "X001", "m", 2, 1)
    c = Finding("a", "X001", "m", 1, 9)
    d = Finding("B", "X001", "m", 9, 9)
    assert sort_findings([a, b, c, d]) == [d, c, b, a]


# --- GitHub workflow commands -----------------------------------------------------------


def _actions_core_escape_data(value: str) -> str:
    """@actions/core `escapeData` (packages/core/src/command.ts), transcribed."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _actions_core_escape_property(value: str) -> str:
    """@actions/core `escapeProperty`: `escapeData` plus the property delimiters."""
    return _actions_core_escape_data(value).replace(":", "%3A").replace(",", "%2C")


TRICKY = [
    ("plain", "plain"),
    ("100% sure", "100%25 sure"),
    ("a%0Ab", "a%250Ab"),
    ("line1\nline2", "line1%0Aline2"),
    ("crlf\r\nend", "crlf%0D%0Aend"),
    ("key: a, b", "key: a, b"),
    ("::error::injected", "::error::injected"),
]


@pytest.mark.parametrize(("value", "expected"), TRICKY)
def test_escape_data_matches_actions_core(value: str, expected: str) -> None:
    assert escape_data(value) == expected == _actions_core_escape_data(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("src/a.py", "src/a.py"),
        ("C:\\x,y.py", "C%3A\\x%2Cy.py"),
        ("50%:\r\n,", "50%25%3A%0D%0A%2C"),
        ("key: a, b", "key%3A a%2C b"),
    ],
)
def test_escape_property_matches_actions_core(value: str, expected: str) -> None:
    assert escape_property(value) == expected == _actions_core_escape_property(value)


def test_github_error_has_file_line_col_title_and_the_hint_on_a_new_line() -> None:
    assert render_github([ERROR]) == (
        "::error file=src/b.py,line=3,col=5,title=NB001::notebook has no twin%0Arun with --fix\n"
    )


def test_github_uses_warning_and_notice_commands_and_drops_line_zero() -> None:
    assert render_github([WARNING, NOTICE]) == (
        "::notice file=requirements.txt,title=CR001::also changed on claudio/x\n"
        "::warning file=src/a.py,line=10,col=1,title=EXP002::name is reserved\n"
    )


def test_github_escapes_properties_and_message() -> None:
    finding = Finding("dir,1/a:b.yaml", "X:1", "50% done\r\nnext: a, b", 2, 3, end_line=4)
    assert render_github([finding]) == (
        "::error file=dir%2C1/a%3Ab.yaml,line=2,endLine=4,col=3,title=X%3A1"
        "::50%25 done%0D%0Anext: a, b\n"
    )


def test_github_prints_nothing_when_clean() -> None:
    assert render_github([]) == ""


# --- JSON -------------------------------------------------------------------------------


def _from_dict(data: dict) -> Finding:
    fix = data["fix"]
    return Finding(
        data["path"],
        data["code"],
        data["message"],
        data["line"],
        data["col"],
        Severity[data["severity"].upper()],
        data["hint"],
        None if fix is None else Fix(fix["description"], fix["applied"]),
        data["end_line"],
        data.get("extra", {}),
    )


def test_json_round_trips_every_field() -> None:
    rich = Finding(
        "n.ipynb", "NB003", "outputs", 4, 2, Severity.WARNING, "strip them", Fix("strip", True), 9
    )
    extra = Finding("e.yaml", "EXP001", "bad", extra={"expected": ["a", 1], "seen": None})
    findings = [ERROR, WARNING, NOTICE, rich, extra]
    data = json.loads(render_json(findings))
    assert [_from_dict(item) for item in data] == sort_findings(findings)
    assert data[0]["extra"] == {"expected": ["a", 1], "seen": None}
    assert "extra" not in data[1]
    assert data[1]["fix"] == {"description": "strip", "applied": True}
    assert data[1]["severity"] == "warning"


def test_json_of_nothing_is_an_empty_list() -> None:
    assert render_json([]) == "[]\n"


# --- Markdown ---------------------------------------------------------------------------


def test_markdown_says_clean_with_the_title() -> None:
    assert render_markdown([], "notebooks") == "### notebooks\n\n✅ No problems found.\n"


def test_markdown_table_escapes_pipes_backslashes_and_newlines() -> None:
    nasty = Finding("a|b.py", "X001", "use a|b\r\nnot c\\d", 2, 1, hint="x | y")
    assert render_markdown([nasty, NOTICE], "claudio-ci") == (
        "### claudio-ci\n"
        "\n"
        "Found 2 problems (1 error, 1 notice).\n"
        "\n"
        "| | Code | Location | Message |\n"
        "|---|---|---|---|\n"
        "| ❌ | `X001` | `a\\|b.py:2:1` | use a\\|b<br>not c\\\\d<br>*x \\| y* |\n"
        "| ℹ️ | `CR001` | `requirements.txt` | also changed on claudio/x |\n"
    )


def test_markdown_rows_have_as_many_cells_as_the_header() -> None:
    nasty = Finding("p", "X001", "a | b | c\nd", hint="e|f")
    table = [row for row in render_markdown([nasty, WARNING]).splitlines() if row.startswith("|")]
    cells = [len(row.replace("\\|", "").split("|")) for row in table]
    assert cells == [6, 6, 6, 6]


def test_render_dispatches_on_every_format() -> None:
    expected = {
        "text": render_text([ERROR]),
        "github": render_github([ERROR]),
        "json": render_json([ERROR]),
        "markdown": render_markdown([ERROR]),
    }
    assert set(FORMATS) == set(expected)
    for fmt, output in expected.items():
        assert render([ERROR], fmt) == output


# --- exit code ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severities", "fail_on", "expected"),
    [
        ([], Severity.ERROR, 0),
        ([Severity.WARNING, Severity.NOTICE], Severity.ERROR, 0),
        ([Severity.WARNING, Severity.ERROR], Severity.ERROR, 1),
        ([Severity.WARNING], Severity.WARNING, 1),
        ([Severity.NOTICE], Severity.WARNING, 0),
        ([Severity.NOTICE], Severity.NOTICE, 1),
        ([Severity.ERROR], None, 0),
    ],
)
def test_exit_code_follows_the_threshold(
    severities: list[Severity], fail_on: Severity | None, expected: int
) -> None:
    findings = [Finding("f", "X001", "m", severity=s) for s in severities]
    assert exit_code(findings, fail_on) == expected


def test_exit_code_fails_on_errors_by_default() -> None:
    assert exit_code([ERROR]) == 1
    assert exit_code([WARNING]) == 0
