"""Every command that prints a report takes the same `--format` choices, and each format's
output is what it claims: JSON that parses, GitHub workflow commands the runner reads as
annotations (and nothing else), Markdown whose tables GFM reads cell for cell."""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from claudio_ci.cli import build_parser
from claudio_ci.core.report import FORMATS
from claudio_ci.gpu.ledger import FILENAME, Ledger
from claudio_ci.gpu.usage import MJ_PER_KWH, GpuUsage
from tests.conftest import CliResult
from tests.gitutil import commit_all, git
from tests.gpu.builders import add_run
from tests.runner_commands import parse_line, runner_commands

# Names anyone can give a branch: a legacy workflow command, a table cell's end, raw HTML,
# a mention. Git accepts every one of them in a ref name.
HOSTILE_BRANCH = "feat##|<b>@lead#1"

CONFIG = """\
pr:
  reviewers:
    default: [lead]
    by_path:
      "src/**": [alice]
      "docs/**": [bob]
smoke_test:
  command: "true {config}"
  configs: ["experiments/test.yaml", "experiments/none-*.yaml"]
resources:
  cost_warning_threshold: 1
  cost_limit: 5
typo_key: 1
"""

# Each command that prints a report, with the exit code it gives on the repository below
# (whatever the format): the typo gives every one a warning to render.
COMMANDS: dict[str, tuple[tuple[str, ...], int]] = {
    "check notebooks": (("check", "notebooks"), 0),
    "check experiments": (("check", "experiments"), 1),  # no model, output, training
    "check conflicts": (("check", "conflicts"), 0),
    "config show": (("config", "show"), 0),
    "config validate": (("config", "validate"), 0),
    "worktree status": (("worktree", "status"), 0),
    "gpu report": (("gpu", "report"), 1),  # over resources.cost_limit
    # no experiment to run (the table is below, in the slow tier): a note and SMK005
    "smoke-test": (("smoke-test", "--set", "smoke_test.configs=experiments/none-*.yaml"), 1),
    "reviewers --explain": (("reviewers", "--explain"), 0),
    "reviewers validate": (("reviewers", "validate"), 0),
    "reviewers codeowners --check": (("reviewers", "codeowners", "--check"), 1),  # none yet
}

ANNOTATIONS = {"error", "warning", "notice"}
GROUPS = {"group", "endgroup"}  # smoke-test's live log
ALLOWED_HTML = re.compile(r"</?(br|sub|details|summary)>")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with a config, an experiment, a sibling worktree on a hostile branch
    and a GPU ledger holding a run of that branch."""
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "experiments").mkdir()
    (root / "src" / "a.py").write_text("x = 1\n", encoding="utf-8")
    (root / "experiments" / "test.yaml").write_text("name: test\nlr: 1\n", encoding="utf-8")
    (root / ".claudio.yaml").write_text(CONFIG, encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    commit_all(root, "init")
    git(root, "worktree", "add", "-q", "-b", HOSTILE_BRANCH, str(tmp_path / "sibling"))
    with Ledger(root / ".git" / "claudio" / FILENAME) as ledger:
        usage = GpuUsage("GPU-a", "NVIDIA H100 80GB HBM3", seconds=7200, energy_mj=MJ_PER_KWH)
        add_run(ledger, HOSTILE_BRANCH, [usage], started=time.time() - 60)
    return root


def _format_actions(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.Action]]:
    """Every `--format` option of the command line, with the command it belongs to."""
    for action in parser._actions:
        if "--format" in action.option_strings:
            yield path.strip(), action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _format_actions(sub, f"{path} {name}")


def test_every_format_option_offers_the_same_choices() -> None:
    found = dict(_format_actions(build_parser()))
    assert {command.split(" --")[0] for command in COMMANDS} <= set(found) | {"reviewers"}
    for command, action in found.items():
        if command == "explain":  # documentation, as `ruff rule --output-format text|json`
            assert tuple(action.choices or ()) == ("text", "json")
            continue
        extra = ("yaml",) if command == "config show" else ()
        assert tuple(action.choices or ()) == (*FORMATS, *extra), command
        assert "default: github under GitHub Actions, else text" in (action.help or ""), command


def _table_cells(line: str) -> int:
    """How many cells GFM reads in a table line: it splits at every `|` not escaped,
    inside code spans too."""
    return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))


def _check_markdown(out: str) -> None:
    tokens = MarkdownIt("commonmark").enable("table").parse(out)
    assert any(t.type == "heading_open" for t in tokens), out
    separators = [line for line in out.splitlines() if re.fullmatch(r"\|(-+:?\|)+", line)]
    assert sum(t.type == "table_open" for t in tokens) == len(separators), out
    lines = out.splitlines()
    for index, line in enumerate(lines):
        if line in separators:  # every row of the table has the header's cells
            header = _table_cells(lines[index - 1])
            for row in lines[index + 1 :]:
                if not row.startswith("|"):
                    break
                assert _table_cells(row) == header, row
    inline = [c for t in tokens if t.children for c in t.children if c.type == "html_inline"]
    assert all(ALLOWED_HTML.fullmatch(t.content) for t in inline), [t.content for t in inline]


def _check_github(out: str) -> None:
    commands = runner_commands(out)
    # smoke-test's live log: a group, commands stopped inside it until its random token
    tokens = {c.data for c in commands if c.name == "stop-commands"}
    names = [c.name for c in commands if c.name not in tokens]
    assert set(names) <= ANNOTATIONS | GROUPS | {"stop-commands"}, names
    for line in out.splitlines():
        command = parse_line(line)
        if command is not None and command.name in ANNOTATIONS:
            assert re.fullmatch(r"[A-Z]+\d{3}", command.properties["title"]), line
            assert command.properties["file"], line


CHECKS: dict[str, Callable[[str], None]] = {
    "json": lambda out: json.loads(out) and None,
    "github": _check_github,
    "markdown": _check_markdown,
    "text": lambda out: None if runner_commands(out) == [] else pytest.fail(out),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_prints_every_format(
    repo: Path, run_cli: Callable[..., CliResult], command: str, fmt: str
) -> None:
    args, expected = COMMANDS[command]
    result = run_cli(*args, "--format", fmt, cwd=repo)
    assert result.code == expected, result.output
    assert "error:" not in result.err
    CHECKS[fmt](result.out)


def test_a_hostile_branch_name_is_escaped_in_every_format(
    repo: Path, run_cli: Callable[..., CliResult]
) -> None:
    for command in ("gpu report", "worktree status"):
        args, _ = COMMANDS[command]
        markdown = run_cli(*args, "--format", "markdown", cwd=repo).out
        assert "`feat##\\|<b>@lead#1`" in markdown  # a code span, its `|` escaped for GFM
        github = run_cli(*args, "--format", "github", cwd=repo).out
        assert "feat##|<b>@lead#1" in github  # shown as it is: no `##[` to break
        data = run_cli(*args, "--format", "json", cwd=repo).out
        assert HOSTILE_BRANCH in data


@pytest.fixture
def smoke(repo: Path) -> Path:
    """The repository, to smoke-test for real (the fixture's name puts a test in the slow
    tier: it runs the experiment's command)."""
    return repo


@pytest.mark.parametrize("fmt", FORMATS)
def test_smoke_test_prints_its_table_in_every_format(
    smoke: Path, run_cli: Callable[..., CliResult], fmt: str
) -> None:
    result = run_cli("smoke-test", "--format", fmt, cwd=smoke)
    assert result.code == 1, result.output  # `true` writes no metrics, no checkpoint
    CHECKS[fmt](result.out)
    if fmt == "json":
        assert [e["experiment"] for e in json.loads(result.out)["experiments"]] == ["test"]
    else:
        assert "test" in result.out.split("peak memory")[1]  # the header, then the row


@pytest.mark.parametrize("command", COMMANDS)
def test_under_github_actions_the_default_is_github(
    repo: Path,
    tmp_path: Path,
    run_cli: Callable[..., CliResult],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    args, expected = COMMANDS[command]
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    default = run_cli(*args, cwd=repo)
    assert default.code == expected
    assert default.out == run_cli(*args, "--format", "github", cwd=repo).out
    _check_github(default.out)
    if command in ("gpu report", "worktree status", "smoke-test"):  # a summary of their own
        _check_markdown(summary.read_text(encoding="utf-8"))
