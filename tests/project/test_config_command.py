"""`claudio-ci config show|validate|schema` and the command line around them."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from claudio_ci import __version__
from claudio_ci.cli import build_parser
from claudio_ci.core.config import builtin_defaults
from tests.conftest import RunCli

REPO_CONFIG = """\
branch:
  prefix: agent
pr:
  reviewers:
    default: [lead]
"""

ROW = re.compile(r"^(?P<key>\S+) = (?P<value>.*?) +# (?P<origin>.+)$")


def _leaf_count(data: object) -> int:
    if isinstance(data, dict) and data:
        return sum(_leaf_count(value) for value in data.values())
    return 1


@pytest.fixture
def repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory: a git repository with a `.claudio.yaml`."""
    (git_repo / ".claudio.yaml").write_text(REPO_CONFIG, encoding="utf-8")
    monkeypatch.chdir(git_repo)
    return git_repo


# --- config show ----------------------------------------------------------------------------


def test_show_prints_every_value_with_its_origin(
    repo: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDIO_RESOURCES_COST_LIMIT", "3.5")
    code, out, err = run_cli("config", "show", "--set", "notebooks.formats=ipynb,md:myst")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    rows = {m["key"]: (m["value"], m["origin"]) for m in map(ROW.match, lines) if m}
    assert len(rows) == len(lines) == _leaf_count(builtin_defaults())
    assert rows["branch.prefix"] == ('"agent"', ".claudio.yaml:2")
    assert rows["branch.include_id"] == ("true", "default")
    assert rows["pr.reviewers.default"] == ('["lead"]', ".claudio.yaml:5")
    assert rows["pr.reviewers.by_path"] == ("{}", "default")
    assert rows["resources.cost_limit"] == ("3.5", "env CLAUDIO_RESOURCES_COST_LIMIT")
    assert rows["notebooks.formats"] == ('"ipynb,md:myst"', "--set notebooks.formats")
    short = [line for line in lines if line.index("  # ") <= 60]
    assert len({line.index("  # ") for line in short}) == 1  # the origins line up
    assert len(short) > len(lines) // 2


def test_show_json_has_the_config_and_the_origins(repo: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("config", "show", "--format", "json")
    assert (code, err) == (0, "")
    shown = json.loads(out)
    assert set(shown) == {"config", "origins"}
    assert shown["config"]["branch"] == {"prefix": "agent", "include_id": True}
    assert shown["config"]["resources"] == {"cost_warning_threshold": 5.0, "cost_limit": 0}
    assert shown["origins"]["branch.prefix"] == ".claudio.yaml:2"
    assert shown["origins"]["resources.cost_limit"] == "default"


def test_show_yaml_is_the_same_configuration(repo: Path, run_cli: RunCli) -> None:
    code, out, _ = run_cli("config", "show", "--format", "json")
    as_json = json.loads(out)["config"]
    code_yaml, out_yaml, err = run_cli("config", "show", "--format", "yaml")
    assert (code, code_yaml, err) == (0, 0, "")
    assert yaml.safe_load(out_yaml) == as_json
    assert out_yaml.startswith("branch:\n  prefix: agent\n")


def test_show_reads_the_file_given_with_config(repo: Path, run_cli: RunCli) -> None:
    (repo / "other.yaml").write_text("branch:\n  prefix: other\n", encoding="utf-8")
    code, out, _ = run_cli("config", "show", "--config", "other.yaml", "--format", "json")
    shown = json.loads(out)
    assert code == 0
    assert shown["config"]["branch"]["prefix"] == "other"
    assert shown["config"]["pr"]["reviewers"]["default"] == []
    assert shown["origins"]["branch.prefix"] == "other.yaml:2"


def test_show_puts_unknown_key_warnings_on_stderr(repo: Path, run_cli: RunCli) -> None:
    (repo / ".claudio.yaml").write_text("notebooks:\n  formatz: x\n", encoding="utf-8")
    code, out, err = run_cli("config", "show")
    assert code == 0
    assert 'notebooks.formats = "ipynb,py:percent"' in out
    assert err == (
        ".claudio.yaml:2:3: CFG004 [warning] unknown key $.notebooks.formatz\n"
        "  hint: did you mean 'formats'?\n"
        "Found 1 problem (1 warning).\n"
    )


@pytest.mark.parametrize("fmt", ["text", "json", "yaml"])
def test_show_prints_dates_of_claudios_sections(fmt: str, repo: Path, run_cli: RunCli) -> None:
    (repo / ".claudio.yaml").write_text("session:\n  since: 2024-05-01\n", encoding="utf-8")
    code, out, err = run_cli("config", "show", "--format", fmt)
    assert (code, err) == (0, "")
    assert "2024-05-01" in out


def test_show_works_outside_a_repository(
    tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "not-a-repo"
    plain.mkdir()
    (plain / ".claudio.yaml").write_text("branch:\n  prefix: ignored\n", encoding="utf-8")
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "claudio" / "config.yaml"
    user.parent.mkdir(parents=True)
    user.write_text("resources:\n  cost_limit: 7\n", encoding="utf-8")
    monkeypatch.chdir(plain)
    code, out, err = run_cli("config", "show", "--format", "json")
    shown = json.loads(out)
    assert (code, err) == (0, "")
    assert shown["config"]["branch"]["prefix"] == "claudio"  # no root, no .claudio.yaml
    assert shown["origins"]["resources.cost_limit"] == f"{user}:2"


# --- config validate ------------------------------------------------------------------------


def test_validate_says_a_good_configuration_is_valid(repo: Path, run_cli: RunCli) -> None:
    assert run_cli("config", "validate") == (0, "configuration is valid\n", "")


def test_validate_reports_every_problem_and_fails(repo: Path, run_cli: RunCli) -> None:
    (repo / ".claudio.yaml").write_text(
        "branch:\n  prefix: agent\nnotebooks:\n  formatz: x\nresources:\n  cost_limit: cheap\n",
        encoding="utf-8",
    )
    assert run_cli("config", "validate") == (
        1,
        ".claudio.yaml:4:3: CFG004 [warning] unknown key $.notebooks.formatz\n"
        "  hint: did you mean 'formats'?\n"
        ".claudio.yaml:6:15: CFG003 $.resources.cost_limit: 'cheap' is not of type 'number'\n"
        "Found 2 problems (1 error, 1 warning).\n",
        "",
    )


def test_validate_passes_with_only_an_unknown_key_warning(repo: Path, run_cli: RunCli) -> None:
    (repo / ".claudio.yaml").write_text("notebok: {}\n", encoding="utf-8")
    assert run_cli("config", "validate") == (
        0,
        ".claudio.yaml:1:1: CFG004 [warning] unknown key $.notebok\n"
        "  hint: did you mean 'notebooks'?\n"
        "Found 1 problem (1 warning).\n",
        "",
    )


def test_validate_reports_broken_yaml_as_a_finding(repo: Path, run_cli: RunCli) -> None:
    (repo / ".claudio.yaml").write_text("pr:\n  draft: 1\n  draft: 2\n", encoding="utf-8")
    code, out, err = run_cli("config", "validate", "--format", "json")
    assert (code, err) == (1, "")
    assert [(f["path"], f["line"], f["col"], f["code"]) for f in json.loads(out)] == [
        (".claudio.yaml", 3, 3, "CFG002")
    ]


def test_validate_in_github_actions_annotates_and_writes_the_summary(
    repo: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = repo.parent / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    (repo / ".claudio.yaml").write_text("branch:\n  include_id: maybe\n", encoding="utf-8")
    assert run_cli("config", "validate") == (
        1,
        "::error file=.claudio.yaml,line=2,col=15,title=CFG003"
        "::$.branch.include_id: 'maybe' is not of type 'boolean'\n",
        "",
    )
    assert "| ❌ | `CFG003` | `.claudio.yaml:2:15` |" in summary.read_text(encoding="utf-8")


# --- config schema --------------------------------------------------------------------------


def test_schema_is_a_valid_json_schema_that_accepts_the_defaults(
    run_cli: RunCli,
) -> None:
    from jsonschema import Draft202012Validator

    code, out, err = run_cli("config", "schema")
    assert (code, err) == (0, "")
    schema = json.loads(out)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert Draft202012Validator(schema).is_valid(builtin_defaults())
    assert not Draft202012Validator(schema).is_valid({"branch": {"prefix": 1}})


# --- bad input: exit 2 and one line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "argv", "message"),
    [
        (b"branch: [\n", [], ".claudio.yaml:2:1: CFG001 "),
        (b"pr:\n  draft: 1\n  draft: 2\n", [], ".claudio.yaml:3:3: CFG002 duplicate key"),
        (b"resources:\n  cost_limit: x\n", [], ".claudio.yaml:2:15: CFG003 "),
        (b"- a\n", [], ".claudio.yaml:1:1: CFG003 the file must hold a mapping"),
        (b"a:\n\tb: 1\n", [], ".claudio.yaml:2:1: CFG001 a tab cannot indent YAML"),
        (b"a: caf\xe9\n", [], ".claudio.yaml:1:7: CFG001 not UTF-8"),
        (b"a: \x00\n", [], ".claudio.yaml:1:4: CFG001 character #x0000 is not allowed"),
        (b"a: !!int x\n", [], ".claudio.yaml:1:4: CFG001 'x' is not a valid int"),
        (b"a: &a [*a]\n", [], ".claudio.yaml:1:4: CFG001 values nested more than"),
        (b"", ["--config", "missing.yaml"], "missing.yaml:1:1: CFG001 no such file"),
        (b"", ["--set", "branch.prefix"], "command line: CFG003 --set expects SECTION.KEY=VALUE"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    content: bytes,
    argv: list[str],
    message: str,
    repo: Path,
    run_cli: RunCli,
) -> None:
    (repo / ".claudio.yaml").write_bytes(content)
    code, out, err = run_cli("config", "show", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"claudio-ci: error: {message}")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert "Traceback" not in err


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _command_paths(sub, (*prefix, name))


COMMANDS = list(_command_paths(build_parser()))


def test_the_command_tree_has_the_config_commands() -> None:
    assert {("config", "show"), ("config", "validate"), ("config", "schema")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "claudio-ci")
def test_help_of_every_command_exits_0(command: tuple[str, ...], run_cli: RunCli) -> None:
    code, out, err = run_cli(*command, "--help")
    assert code == 0
    assert out.startswith(f"usage: {' '.join(('claudio-ci', *command))}")
    assert err == ""


def test_version(run_cli: RunCli) -> None:
    assert run_cli("--version") == (0, f"claudio-ci {__version__}\n", "")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["config"], "the following arguments are required: ACTION"),
        (["config", "show", "--format", "xml"], "invalid choice: 'xml'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], complaint: str, run_cli: RunCli) -> None:
    code, _, err = run_cli(*argv)
    assert code == 2
    assert err.startswith("usage: claudio-ci")
    assert complaint in err


def test_a_call_leaves_nothing_to_the_next(repo: Path, run_cli: RunCli) -> None:
    """The parser is built once a process: one call's `--set` must not reach the next."""
    once = run_cli("config", "show", "--format", "json", "--set", "branch.prefix=once")
    after = run_cli("config", "show", "--format", "json")
    assert json.loads(once.out)["config"]["branch"]["prefix"] == "once"
    assert json.loads(after.out)["config"]["branch"]["prefix"] == "agent"


# --- the installed console script -----------------------------------------------------------


def _claudio_ci() -> str:
    script = shutil.which("claudio-ci", path=str(Path(sys.executable).parent))
    script = script or shutil.which("claudio-ci")
    if script is None:
        pytest.fail("the claudio-ci console script is not installed: pip install -e .")
    return script


def test_an_error_stays_on_one_line_whatever_the_path_holds(repo: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("reviewers", "--event", "two\nlines.json")
    assert (code, out, err) == (2, "", "claudio-ci: error: two\\nlines.json: no such event file\n")


def test_a_reader_that_stops_early_is_not_an_error(repo: Path) -> None:
    """`claudio-ci config show --format json | head -c 10`: no "Broken pipe" error, exit 0."""
    proc = subprocess.Popen(
        [_claudio_ci(), "config", "show", "--format", "json"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # every write now fails with EPIPE
    err = proc.stderr.read()
    assert (proc.wait(timeout=60), err) == (0, b"")


def test_console_script_prints_file_names_that_are_not_utf8(repo: Path) -> None:
    """Under a strict UTF-8 stdout, a non-UTF-8 name is written back as its own bytes."""
    (repo / "experiments").mkdir()
    (repo / "experiments").joinpath(os.fsdecode(b"caf\xe9.yaml")).write_bytes(b"x: 1\n")
    proc = subprocess.run(
        [_claudio_ci(), "check", "experiments", os.fsdecode(b"experiments/caf\xe9.yaml")],
        cwd=repo,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
        capture_output=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (1, b"")
    assert b"model.name is missing; it must hold the experiment's name 'caf\xe9'" in proc.stdout


def test_console_script_shows_the_environment_origin(repo: Path) -> None:
    proc = subprocess.run(
        [_claudio_ci(), "config", "show", "--format", "json"],
        cwd=repo,
        env={**os.environ, "CLAUDIO_BRANCH_PREFIX": "from-env"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    shown = json.loads(proc.stdout)
    assert shown["config"]["branch"]["prefix"] == "from-env"
    assert shown["origins"]["branch.prefix"] == "env CLAUDIO_BRANCH_PREFIX"
    assert shown["origins"]["pr.reviewers.default"] == ".claudio.yaml:5"


def test_console_script_bad_config_is_one_line_and_exit_2(repo: Path) -> None:
    (repo / ".claudio.yaml").write_text("branch:\n  prefix: [x\n", encoding="utf-8")
    proc = subprocess.run(
        [_claudio_ci(), "config", "show"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith("claudio-ci: error: .claudio.yaml:3:1: CFG001 ")
    assert proc.stderr.count("\n") == 1
