"""The ledger keeps command lines: a secret on one is stored as ***, never in clear."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from claudio_ci.cli import main
from claudio_ci.gpu.ledger import FILENAME, redact_command
from tests.gitutil import REPO_ROOT

TRACE = REPO_ROOT / "claudio_ci" / "gpu" / "traces" / "h100-training.jsonl"


@pytest.mark.parametrize(
    ("command", "stored"),
    [
        ("python t.py --token=s3cr3t --epochs 3", "python t.py '--token=***' --epochs 3"),
        ("python t.py --api-key s3cr3t --lr 0.1", "python t.py --api-key '***' --lr 0.1"),
        ("python t.py --hf_token s3cr3t", "python t.py --hf_token '***'"),
        ("WANDB_API_KEY=s3cr3t python t.py", "'WANDB_API_KEY=***' python t.py"),
        ("git clone https://me:s3cr3t@example.com/r", "git clone 'https://me:***@example.com/r'"),
        ("python t.py --tokenizer gpt2 --max-tokens 5",) * 2,
        ("python t.py --password", "python t.py --password"),
        ('python "unbalanced https://me:s3cr3t@h', 'python "unbalanced https://me:***@h'),
    ],
)  # fmt: skip
def test_secret_looking_values_are_redacted(command: str, stored: str) -> None:
    assert redact_command(command) == stored


def test_gpu_run_never_writes_a_token_into_the_ledger(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    argv = [sys.executable, "-c", "pass", "--token=s3cr3t", "--password", "hunter2"]
    assert main(["gpu", "run", "--replay", str(TRACE), "--", *argv]) == 0
    capsys.readouterr()
    ledger = git_repo / ".git" / "claudio" / FILENAME
    with sqlite3.connect(ledger) as db:
        (command,) = db.execute("SELECT command FROM runs").fetchone()
    assert "s3cr3t" not in command and "hunter2" not in command
    assert command.endswith("-c pass '--token=***' --password '***'")
    assert b"s3cr3t" not in ledger.read_bytes()
