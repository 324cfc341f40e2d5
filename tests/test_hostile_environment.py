"""Faults of the machine rather than of the input (hardening #14): a stdout that cannot encode
a file name, a repository whose path holds a line break, a state dir that is a file. Each runs
the real command line in a subprocess, as a hook or a CI step would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.gitutil import commit_all, git

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "claudio_ci" / "gpu" / "traces" / "h100-training.jsonl"


def claudio(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claudio_ci", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )


def test_an_ascii_only_stdout_shows_a_non_ascii_file_name_escaped(git_repo: Path) -> None:
    (git_repo / "experiments").mkdir()
    (git_repo / "experiments" / "é.yaml").write_text("model:\n  name: x\n", encoding="utf-8")
    commit_all(git_repo, "a non-ASCII name")

    proc = claudio(git_repo, "check", "experiments", PYTHONIOENCODING="ascii")

    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "experiments/\\xe9.yaml:" in proc.stdout


def test_a_repository_path_with_a_line_break_is_one_clear_error(tmp_path: Path) -> None:
    repo = tmp_path / "new\nline"
    git(tmp_path, "init", "-q", str(repo))

    proc = claudio(repo, "check", "experiments")

    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "new\\nline: the repository's path holds a line break" in proc.stderr


def test_gpu_run_still_runs_the_command_when_the_state_dir_is_a_file(git_repo: Path) -> None:
    state = git_repo / ".git" / "claudio"
    assert not state.exists()
    state.write_text("not a directory\n", encoding="utf-8")
    marker = git_repo / "trained"

    proc = claudio(
        git_repo,
        *("gpu", "run", "--replay", str(TRACE), "--"),
        *(sys.executable, "-c", f"open({str(marker)!r}, 'w').close(); raise SystemExit(3)"),
    )

    assert marker.exists(), proc.stderr
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    assert "GPU cost not recorded; running the command" in proc.stderr
    assert state.read_text(encoding="utf-8") == "not a directory\n"
