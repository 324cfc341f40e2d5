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
from tests.github_server import GitHubServer
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
    "worktree setup": (("worktree", "setup"), 0),
    "gpu report": (("gpu", "report"), 1),  # over resources.cost_limit
    "gpu comment": (("gpu", "comment", "--no-comment", "--branch", HOSTILE_BRANCH), 1),
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
    if command == "worktree setup":  # the first run sets it up; the two compared change nothing
        run_cli(*args, cwd=repo)
    default = run_cli(*args, cwd=repo)
    assert default.code == expected
    assert default.out == run_cli(*args, "--format", "github", cwd=repo).out
    _check_github(default.out)
    summarised = ("gpu report", "worktree status", "smoke-test", "reviewers --explain")
    if command in summarised:  # a summary of their own
        _check_markdown(summary.read_text(encoding="utf-8"))


# --- reviewers: a fork's names, in every mode and format ------------------------------------

# File names a pull request's author chooses: the legacy `##[`, a table cell's end, raw HTML,
# a mention, a line break that would start a workflow command.
HOSTILE_FILES = ["src/##[add-mask]a|b.py", "src/<b>x</b> @lead.py", "src/new\n::error::forged.py"]
BASE_SHA = "b" * 40


@pytest.fixture
def pull_request(
    github_server: GitHubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Pull request #7 from the hostile branch, changing the hostile files, in an Actions
    step whose workspace is empty; returns the workspace."""
    github_server.add_pull(7, author="mallory", head_ref=HOSTILE_BRANCH, base_sha=BASE_SHA)
    github_server.repo.pulls[7].files = [*HOSTILE_FILES, "docs/x.md"]
    github_server.put_file(BASE_SHA, ".claudio.yaml", CONFIG)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "pull_request": {"number": 7}}), "utf-8")
    for name, value in {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_API_URL": github_server.url,
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }.items():
        monkeypatch.setenv(name, value)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return workspace


def _check_hostile(out: str, fmt: str, files: list[str]) -> None:
    """The format's own check, and each hostile name shown, inert, in its place."""
    CHECKS[fmt](out)
    if fmt == "json":
        data = json.loads(out)
        assert HOSTILE_BRANCH in data["heading"]
        assert set(HOSTILE_FILES) <= {f for row in data["reviewers"] for f in row["files"]}
        return
    if fmt == "markdown":
        tokens = MarkdownIt("commonmark").enable("table").parse(out)
        inline = [c for t in tokens if t.children for c in t.children]
        code = [c.content for c in inline if c.type == "code_inline"]
        for name in files:  # each name one code span, its `|` escaped for GFM
            assert name.replace("\n", "\\n").replace("##[", "##\\[") in code, name
        text = "".join(c.content for c in inline if c.type == "text")
        assert "@lead" not in text  # no mention: a zero-width space after the `@`
        assert "feat##|" in text and "<b>" in text  # the branch, as literal text
        return
    assert "##[" not in out and "src/##\\[add-mask]a|b.py" in out
    assert "src/new\\n::error::forged.py" in out  # on one line, shown escaped
    assert "src/<b>x</b> @lead.py" in out and HOSTILE_BRANCH in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_reviewers_explain_keeps_hostile_names_inert_in_every_format(
    repo: Path, run_cli: Callable[..., CliResult], fmt: str
) -> None:
    sibling = repo.parent / "sibling"  # on the hostile branch
    result = run_cli("reviewers", "--explain", *HOSTILE_FILES, "--format", fmt, cwd=sibling)
    assert result.code == 0, result.output
    _check_hostile(result.out, fmt, HOSTILE_FILES)  # --explain's file table lists them all


@pytest.mark.parametrize("fmt", FORMATS)
def test_reviewers_dry_run_keeps_hostile_names_inert_in_every_format(
    pull_request: Path,
    github_server: GitHubServer,
    run_cli: Callable[..., CliResult],
    fmt: str,
) -> None:
    result = run_cli("reviewers", "--dry-run", "--format", fmt, cwd=pull_request)
    assert result.code == 0, result.output
    assert github_server.calls("POST") == []
    # the table shows each reviewer's first files, sorted: the three hostile ones
    _check_hostile(result.out, fmt, HOSTILE_FILES)
    summary = (pull_request.parent / "summary.md").read_text(encoding="utf-8")
    _check_markdown(summary)  # the action's summary, whatever the format printed
