"""Nothing a file name, a config value or a log line holds may become a GitHub workflow
command, and Markdown shows untrusted text literally.

The judge for logs is `tests.runner_commands`, a port of how the Actions runner recognises
commands (erring towards finding more); for Markdown, markdown-it-py, a CommonMark
implementation with GFM tables. Hypothesis drives both with hostile text."""

from __future__ import annotations

import contextlib
import html
import io
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claudio_ci import cli
from claudio_ci.core.findings import (
    Finding,
    Severity,
    _unhide,
    github_safe,
    github_safe_line,
    markdown_code,
    markdown_text,
    shown_path,
    sort_findings,
    workflow_command,
)
from claudio_ci.core.report import render_github, render_json, render_markdown, render_text
from tests.runner_commands import Command, ignored, runner_commands

# Pieces an attacker would combine: both command forms, every line break the runner knows,
# whitespace it trims, characters a culture-aware comparison skips, escapes and Markdown.
FRAGMENTS = [
    "::", ":", "##[", "#", "[", "]", "\r", "\n", "\r\n", " ", "\t", "\x0b", "\x85", "\xa0",
    "\u2028", "\u3000", "\u200b", "\u00ad", "\ufe0f", "\u034f", "\x1b", "\x7f", "\x00", "%",
    "%0A", "%25", ",", "=", ";", "`", "``", "|", "\\", "<", ">", "&", "@", "*", "_", "~",
    "$", "!", "(", ")", "stop-commands", "add-mask", "error", "warning ", "group", "tok",
    "a", "é", "日本",
]  # fmt: skip
hostile = st.lists(
    st.sampled_from(FRAGMENTS) | st.text(st.characters(exclude_categories=("Cs",)), max_size=3),
    max_size=12,
).map("".join)
code = st.from_regex(r"\A[A-Z]{2,4}[0-9]{3}\Z")
findings = st.lists(
    st.builds(
        Finding,
        path=hostile,
        code=code,
        message=hostile,
        line=st.integers(0, 10**6),
        col=st.integers(0, 500),
        severity=st.sampled_from(list(Severity)),
        hint=st.none() | hostile,
    ),
    max_size=4,
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the oracle finds what the runner would --------------------------------------------


@pytest.mark.parametrize(
    ("output", "names"),
    [
        ("::error file=a.py::boom", ["error"]),
        ("   \u3000::warning::indented", ["warning"]),
        ("a ##[stop-commands]t\n::error::gone\n::t::\n::error::x", ["stop-commands", "t", "error"]),
        ("a.py\r::add-mask::secret", ["add-mask"]),
        ("a.py\n::warning::forged", ["warning"]),
        ("\u200b::error::hidden", ["error"]),
        ("#\u00ad#[add-mask]x", ["add-mask"]),
        ("plain text :: not a command", []),
        ("##\\[add-mask]x and \\::error::y", []),
    ],
)  # fmt: skip
def test_the_oracle_finds_every_form_of_command(output: str, names: list[str]) -> None:
    assert [c.name for c in runner_commands(output)] == names


# --- logs: exactly the intended commands ------------------------------------------------


def visible(text: str) -> str:
    """What the oracle compares: it drops the characters a comparison may skip."""
    return "".join(c for c in text if not ignored(c))


def intended(finding: Finding) -> tuple[str, str, str | None, str]:
    data = finding.message if not finding.hint else f"{finding.message}\n{finding.hint}"
    return (finding.severity.label, visible(data), visible(finding.path) or None, finding.code)


@FAST
@given(findings)
def test_github_format_is_one_command_per_finding_that_round_trips(found: list[Finding]) -> None:
    commands = runner_commands(render_github(found))
    seen = [(c.name, c.data, c.properties.get("file"), c.properties.get("title")) for c in commands]
    assert seen == [intended(f) for f in sort_findings(found)]
    assert not any(c.legacy for c in commands)


@FAST
@given(findings)
def test_text_markdown_and_json_formats_hold_no_command(found: list[Finding]) -> None:
    for render in (render_text, render_markdown, render_json):
        assert runner_commands(render(found)) == [], render.__name__


@FAST
@given(hostile)
def test_free_text_made_safe_holds_no_command(text: str) -> None:
    assert runner_commands(github_safe(text)) == []
    assert runner_commands(github_safe_line(text)) == []
    assert runner_commands(markdown_code(text)) == []
    assert runner_commands(markdown_text(text)) == []


def test_free_text_keeps_its_lines_and_ordinary_text() -> None:
    assert github_safe("epoch 1\r\nepoch 2\rloss 0.1\n\x1b[31mred\x1b[0m") == (
        "epoch 1\nepoch 2\nloss 0.1\n\x1b[31mred\x1b[0m"
    )
    assert github_safe_line("  ::error::x ##[add-mask]y") == "  \\::error::x ##\\[add-mask]y"
    assert github_safe_line("#\u200b#[group]") == "#\\u200b#[group]"


@FAST
@given(hostile)
def test_a_one_line_error_on_github_holds_no_command(message: str) -> None:
    stderr = io.StringIO()
    with (
        mock.patch.dict(os.environ, {"GITHUB_ACTIONS": "true"}),
        contextlib.redirect_stderr(stderr),
    ):
        cli._error(message)
    assert stderr.getvalue().count("\n") == 1
    assert runner_commands(stderr.getvalue()) == []


@FAST
@given(hostile)
def test_a_usage_error_quoting_what_was_typed_holds_no_command_on_github(value: str) -> None:
    stderr = io.StringIO()
    with (
        mock.patch.dict(os.environ, {"GITHUB_ACTIONS": "true"}),
        contextlib.redirect_stderr(stderr),
        pytest.raises(SystemExit) as exited,
    ):
        cli.main(["check", "experiments", "--format", value])
    assert exited.value.code == 2
    assert runner_commands(stderr.getvalue()) == []
    assert stderr.getvalue().splitlines()[-1].startswith("claudio-ci check experiments: error:")


@FAST
@given(st.sampled_from(["error", "warning", "notice", "group", "debug"]), hostile, hostile, code)
def test_workflow_command_is_one_command_that_round_trips(
    name: str, message: str, path: str, title: str
) -> None:
    commands = runner_commands(workflow_command(name, message, file=path, title=title))
    path = visible(path)
    expected = {"file": path, "title": title} if path else {"title": title}
    assert commands == [Command(name, visible(message), expected)]


def test_a_config_value_quoting_a_command_is_escaped_in_the_error_on_github(
    tmp_path: Path,
) -> None:
    """The real command line: the error quotes a config value that carries a legacy command."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "a.yaml").write_text("model:\n  name: a\n", encoding="utf-8")
    env = {**os.environ, "GITHUB_ACTIONS": "true", "PYTHONPATH": str(Path(__file__).parents[2])}
    setting = "experiments.name_pattern=##[stop-commands]tok(("
    proc = subprocess.run(
        [sys.executable, "-m", "claudio_ci", "check", "experiments", "--set", setting],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("claudio-ci: error: --set experiments.name_pattern")
    assert "stop-commands" in proc.stderr
    assert runner_commands(proc.stderr) == []


# --- Markdown: literal text, judged by a CommonMark renderer -------------------------------

markdown_it = pytest.importorskip("markdown_it")
MD = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
# JavaScript's String.trim(), which trims a table cell: line breaks first, then the rest.
JS_WHITESPACE = "\n\r\t\x0b\x0c \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B))
)
# What markdown-it-py trims from a table cell: JavaScript's whitespace but U+FEFF (a hypothesis
# find); the cell's own line breaks are <br> and stay.
CELL_TRIM = JS_WHITESPACE[2:].replace("\ufeff", "")
no_nul = hostile.map(lambda text: text.replace("\x00", ""))


def table_cell_html(cell: str) -> str:
    rendered = MD.render(f"| h |\n|---|\n| {cell} |\n")
    body = rendered.split("<tbody>\n<tr>\n<td>", 1)[1]
    return body.split("</td>", 1)[0]


@FAST
@given(no_nul)
def test_markdown_code_is_one_code_span_showing_the_text(text: str) -> None:
    cell = table_cell_html(markdown_code(text))
    assert cell.startswith("<code>")
    assert cell.endswith("</code>")
    inner = cell.removeprefix("<code>").removesuffix("</code>")
    assert "<" not in inner
    # shown on one line, invisible characters that could hide `##[` escaped, `##[` broken
    expected = _unhide(shown_path(text)).replace("##[", "##\\[")
    assert html.unescape(inner) == (expected or " ")


@FAST
@given(no_nul)
def test_markdown_text_renders_literally_without_html_links_or_mentions(text: str) -> None:
    cell = table_cell_html(markdown_text(text))
    parts = cell.split("<br>")
    assert all("<" not in part for part in parts), cell
    shown = "\n".join(html.unescape(part) for part in parts)
    expected = "\n".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    assert shown.replace("@\u200b", "@") == expected.strip(CELL_TRIM)  # a cell is trimmed
    assert "@" not in shown.replace("@\u200b", "")


def test_a_branch_with_backticks_cannot_leave_its_code_span() -> None:
    branch = "x`<img src=x onerror=alert(1)>` @octocat"
    cell = table_cell_html(markdown_code(branch))
    assert cell == "<code>x`&lt;img src=x onerror=alert(1)&gt;` @octocat</code>"
    assert markdown_code("`") == "`` ` ``"


def test_gpu_run_on_a_hostile_branch_prints_no_command(git_repo: Path) -> None:
    """A branch name reaches `gpu run`'s summary line and its threshold lines."""
    trace = Path(__file__).parents[2] / "claudio_ci" / "gpu" / "traces" / "h100-training.jsonl"
    branch = "x ##[stop-commands]tok"
    proc = subprocess.run(
        [sys.executable, "-m", "claudio_ci", "gpu", "run", "--branch", branch, "--replay",
         str(trace), "--set", "resources.cost_limit=0.01", "--", sys.executable, "-c", "pass"],
        cwd=git_repo,
        env={**os.environ, "GITHUB_ACTIONS": "true", "PYTHONPATH": str(Path(__file__).parents[2])},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "x ##\\[stop-commands]tok" in proc.stderr
    assert runner_commands(proc.stdout + proc.stderr) == []
