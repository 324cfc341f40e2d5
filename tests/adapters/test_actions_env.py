"""The Actions adapter, with outputs read back the way GitHub's runner reads the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claudio_ci.adapters.actions_env import API_URL, ActionsEnv, file_command
from claudio_ci.core.errors import UsageError


def runner_reads(text: str) -> dict[str, str]:
    """The runner's file-command parser (actions/runner, FileCommandManager), on Linux:
    per line, `NAME=VALUE` when `=` comes before `<<`, else `NAME<<DELIMITER` and every line
    up to the one equal to DELIMITER, without the newline before it."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
        else:
            assert heredoc >= 0, f"invalid line {line!r}"
            name, delimiter = line.split("<<", 1)
            assert name and delimiter, f"invalid line {line!r}"
            block = []
            while lines[index] != delimiter:  # IndexError: the delimiter never came
                block.append(lines[index])
                index += 1
            index += 1
            value = "\n".join(block)
        values[name] = value
    return values


VALUES = [
    "",
    "plain",
    "a=b<<c",
    "[1, 2]",
    "two\nlines",
    "ends with a newline\n",
    "\n",
    "looks like\nEOF\nname=injected",
    "carriage\r\nreturns",
]


@pytest.mark.parametrize("value", VALUES)
def test_outputs_read_back_as_written(tmp_path: Path, value: str) -> None:
    output = tmp_path / "output"
    output.write_text("earlier=kept\n", encoding="utf-8")
    env = ActionsEnv({"GITHUB_OUTPUT": str(output)})
    assert env.set_output("value", value)
    assert env.set_output("after", "x")
    assert runner_reads(output.read_bytes().decode()) == {
        "earlier": "kept",
        "value": value,
        "after": "x",
    }


def test_a_value_cannot_close_its_block_early() -> None:
    text = file_command("out", "x\nghadelimiter_0\ninjected=1")
    delimiter = text.split("\n", 1)[0].split("<<", 1)[1]
    assert delimiter.startswith("ghadelimiter_") and delimiter != "ghadelimiter_0"
    assert runner_reads(text) == {"out": "x\nghadelimiter_0\ninjected=1"}


@pytest.mark.parametrize("name", ["", "a=b", "a<<b", "two\nlines"])
def test_bad_output_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid output name"):
        ActionsEnv({"GITHUB_OUTPUT": str(tmp_path / "o")}).set_output(name, "v")


def test_outside_actions_nothing_is_written() -> None:
    env = ActionsEnv({})
    assert not env.active
    assert env.set_output("a", "b") is False
    assert env.append_summary("# hi") is False


def test_the_step_summary_is_appended_with_a_final_newline(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = ActionsEnv({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"})
    assert env.active
    assert env.append_summary("# one") and env.append_summary("two\n")
    assert summary.read_text(encoding="utf-8") == "# one\ntwo\n"


@pytest.mark.parametrize(
    ("variables", "token"),
    [
        ({"INPUT_TOKEN": "input", "GITHUB_TOKEN": "env"}, "input"),
        ({"INPUT_TOKEN": "", "GITHUB_TOKEN": "env"}, "env"),  # an unset input is ""
        ({"GITHUB_TOKEN": "env"}, "env"),
        ({"INPUT_TOKEN": ""}, None),
        ({}, None),
    ],
)
def test_the_token_comes_from_the_input_then_github_token(
    variables: dict[str, str], token: str | None
) -> None:
    assert ActionsEnv(variables).token == token


def test_api_url_defaults_to_github_com_and_takes_enterprise() -> None:
    assert ActionsEnv({}).api_url == API_URL
    assert ActionsEnv({"GITHUB_API_URL": ""}).api_url == API_URL
    enterprise = {"GITHUB_API_URL": "https://ghe.example.com/api/v3/"}
    assert ActionsEnv(enterprise).api_url == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize("bad", ["owner", "owner/", "/name", "a/b/c"])
def test_a_malformed_repository_is_one_usage_line(bad: str) -> None:
    assert ActionsEnv({"GITHUB_REPOSITORY": "octo/repo"}).repository == "octo/repo"
    assert ActionsEnv({}).repository is None
    with pytest.raises(UsageError, match="GITHUB_REPOSITORY must be OWNER/NAME"):
        _ = ActionsEnv({"GITHUB_REPOSITORY": bad}).repository


def test_the_repository_falls_back_to_the_events(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"full_name": "octo/from-event"}}), "utf-8")
    assert ActionsEnv({"GITHUB_EVENT_PATH": str(event)}).repository == "octo/from-event"
    both = {"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "octo/from-env"}
    assert ActionsEnv(both).repository == "octo/from-env"
    event.write_text(json.dumps({"repository": {"full_name": "no-slash"}}), "utf-8")
    with pytest.raises(UsageError, match="no-slash"):
        _ = ActionsEnv({"GITHUB_EVENT_PATH": str(event)}).repository


def test_refs_are_none_when_unset_or_empty() -> None:
    env = ActionsEnv({"GITHUB_HEAD_REF": "claudio/ab12", "GITHUB_BASE_REF": ""})
    assert (env.head_ref, env.base_ref) == ("claudio/ab12", None)


@pytest.mark.parametrize(
    ("event", "number"),
    [
        ({"pull_request": {"number": 7}, "number": 7}, 7),  # pull_request
        ({"issue": {"number": 9, "pull_request": {}}}, 9),  # issue_comment on a PR
        ({"ref": "refs/heads/main"}, None),  # push
        ({"pull_request": {"number": True}}, None),
    ],
)
def test_the_pull_request_number_comes_from_the_event(
    tmp_path: Path, event: dict, number: int | None
) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    env = ActionsEnv({"GITHUB_EVENT_PATH": str(path)})
    assert env.event() == event
    assert env.pull_request_number() == number


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        (b"{not json", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[1]", "not a JSON object"),
    ],
)
def test_an_unusable_event_is_one_usage_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "event.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as caught:
        ActionsEnv({"GITHUB_EVENT_PATH": str(path)}).event()
    assert "\n" not in str(caught.value)


def test_no_event_outside_actions() -> None:
    assert ActionsEnv({}).event() is None
    assert ActionsEnv({}).pull_request_number() is None


def test_the_default_snapshot_is_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "from-the-process")
    assert ActionsEnv().token == "from-the-process"


# --- step summary and default format (moved here from core/findings.py) -----------------


def test_the_step_summary_keeps_what_earlier_steps_wrote(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    env = ActionsEnv({"GITHUB_STEP_SUMMARY": str(summary)})
    assert env.append_summary("### one") is True
    assert env.append_summary("### two\n") is True
    assert summary.read_text(encoding="utf-8") == "earlier step\n### one\n### two\n"


@pytest.mark.parametrize("environ", [{}, {"GITHUB_STEP_SUMMARY": ""}])
def test_the_step_summary_is_skipped_outside_github(
    environ: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ActionsEnv(environ).append_summary("### nothing") is False
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"GITHUB_ACTIONS": "true"}, "github"),
        ({"GITHUB_ACTIONS": "false"}, "text"),
        ({"GITHUB_ACTIONS": ""}, "text"),
        ({}, "text"),
    ],
)
def test_the_default_format_is_github_under_github_actions(
    environ: dict[str, str], expected: str
) -> None:
    assert ActionsEnv(environ).default_format == expected


def test_the_default_format_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert ActionsEnv().default_format == "text"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert ActionsEnv().default_format == "github"
