"""On GitHub, nothing a training prints and no experiment file name starts a workflow command.

A forged `::error` or `::stop-commands` in the log once swallowed the real SMK001; the failure
tail was reprinted indented after the inert block (the runner trims indentation), and `\\r`
starts a new line for the runner. The parser below follows the runner's documented reading
(lines end at `\\r\\n`, `\\n` or a lone `\\r`; `::name ...::` after leading whitespace;
legacy `##[name]` anywhere in a line; `stop-commands` until a line naming its token).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.smoke.report import inert
from tests.gitutil import commit_all, git

HOSTILE_LOG = r"""
import sys
print("epoch 1 loss 1.0\r::error::forged by a carriage return")
print("    ::error file=train.py::indented, and reprinted in the tail")
print("##[add-mask]secret and ##[warning]legacy")
print("::stop-commands::guessed")
print("::guessed::")
sys.stdout.write("progress 50%\r::warning::after a bar")
sys.stdout.flush()
raise SystemExit(3)
"""
HOSTILE_NAME = "::warning::pwn ##[error]x\rnew"


def runner_commands(output: str) -> list[tuple[str, str]]:
    """(name, data) of every command the runner would act on, honouring stop-commands."""
    found, token = [], None
    for line in re.split(r"\r\n|\r|\n", output):
        body = line.lstrip()
        modern = re.match(r"::([^ :]+)[^:]*::(.*)", body) if body.startswith("::") else None
        legacy = re.search(r"##\[([^\] ;]+)[^\]]*\](.*)", line)
        match = modern or legacy
        if not match:
            continue
        name, data = match[1].lower(), match[2]
        if token is not None:
            if name == token:
                token = None
            continue
        if name == "stop-commands":
            token = data.lower()
            continue
        found.append((name, data))
    return found


def test_the_parser_finds_what_the_runner_would() -> None:
    assert runner_commands("a\r  ::error::x\nb ##[warning]y\n::stop-commands::t\n::error::z\n") == [
        ("error", "x"),
        ("warning", "y"),
    ]


@pytest.mark.parametrize(
    "text", ["::error::x\n", "  ::error::x", "a\r::warning::y\n##[add-mask]z\n", ""]
)
def test_inert_text_holds_no_command(text: str) -> None:
    assert runner_commands(inert(text)) == []
    assert text in inert(text)


def test_a_hostile_log_and_file_name_start_no_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "project"
    (repo / "experiments").mkdir(parents=True)
    (repo / "experiments" / f"{HOSTILE_NAME}.yaml").write_text("lr: 1\n", encoding="utf-8")
    (repo / "train.py").write_text(HOSTILE_LOG, encoding="utf-8")
    (repo / ".claudio.yaml").write_text(
        "smoke_test:\n  command: python train.py {config}\n  configs: ['experiments/*.yaml']\n"
        # no checkpoint to load: the probe would import torch alongside, for nothing
        "  expect:\n    checkpoint_loads: false\n",
        encoding="utf-8",
    )
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "hostile")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))

    code = main(["smoke-test", "--format", "github"])
    out = capsys.readouterr().out

    assert code == 1
    assert "forged by a carriage return" in out  # the log is shown, inert
    commands = runner_commands(out)
    assert [name for name, _ in commands] == ["group", "endgroup", "error"], commands
    assert commands[2][1].startswith("::warning::pwn ##[error]x%0Dnew: the training command ")
