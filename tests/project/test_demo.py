"""`claudio-ci demo`, end to end, as a new user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.gitutil import git


def test_demo_runs_every_step_as_expected_and_keeps_the_repo(tmp_path: Path) -> None:
    keep = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "claudio_ci", "demo", "--keep", str(keep)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Traceback" not in out + proc.stderr
    assert "UNEXPECTED" not in out
    assert "== Summary" in out
    for branch in ("claudio/ab12-baseline", "claudio/cd34-attention", "claudio/ef56-optimizer"):
        assert branch in out
        assert branch in git(keep, "branch", "--list", branch)
    worktrees = git(keep, "worktree", "list")
    for instance in ("ab12", "cd34", "ef56"):
        assert f".claudio/worktrees/{instance}" in worktrees
    assert (keep / ".claudio.yaml").is_file()
    # Each collision the demo stages is caught by the capability made for it.
    for expected in (
        "CR001 high-risk file also changed in worktree .claudio/worktrees/ab12",
        "NB004 out of sync with notebooks/exploration/data_eda.ipynb",
        "fixed: wrote notebooks/exploration/data_eda.ipynb",
        "EXP104 model.name is 'adam_w' but the file is named adamw.yaml",
        "EXP401 output.dir 'outputs/baseline' is also the output directory",
        "claudio-ci smoke-test",
        "claudio-ci gpu report",
        "claudio-ci worktree status",
    ):
        assert expected in out, expected
    adamw = (keep / ".claudio" / "worktrees" / "ef56" / "experiments" / "adamw.yaml").read_text(
        encoding="utf-8"
    )
    assert "name: adamw\n" in adamw
    assert "dir: outputs/baseline\n" in adamw


def test_demo_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "claudio_ci", "demo", "--keep", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith("not empty; --keep needs a new or empty directory")
    assert (tmp_path / "something").read_text(encoding="utf-8") == "x"
