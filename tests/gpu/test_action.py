"""`actions/gpu-cost`: a composite action whose scripts take inputs through `env:` only; its
steps run here with bash as the runner would, against the local GitHub server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from claudio_ci.gpu.comment import MARKER, is_sticky
from tests.gitutil import REPO_ROOT, git

ACTION = REPO_ROOT / "actions" / "gpu-cost" / "action.yml"


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _step(step_id_or_name: str) -> dict[str, Any]:
    steps = _action()["runs"]["steps"]
    return next(s for s in steps if step_id_or_name in (s.get("id"), s.get("name")))


def test_a_composite_action_that_never_interpolates_into_scripts() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["command"]["required"] is True
    assert MARKER in ACTION.read_text(encoding="utf-8")
    for step in action["runs"]["steps"]:
        assert "${{" not in step["run"], step["name"]
        assert step["shell"] == "bash"
    used = {m for s in action["runs"]["steps"] for m in re.findall(r"inputs\.([\w-]+)", str(s))}
    assert used == set(action["inputs"])


def test_the_action_is_valid_for_github() -> None:
    schema = ["--builtin-schema", "vendor.github-actions"]
    proc = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *schema, str(ACTION)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run_step(step: dict[str, Any], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """As the runner runs a `shell: bash` step: bash --noprofile --norc -eo pipefail."""
    script = cwd.parent / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_steps_train_comment_and_pass_the_exit_code_on(
    git_repo: Path, tmp_path: Path, github_server
) -> None:
    claudio = shutil.which("claudio-ci", path=str(Path(sys.executable).parent))
    if claudio is None:
        pytest.skip("the claudio-ci script is not installed next to this Python")
    git(git_repo, "checkout", "-q", "-b", "claudio/ab12-baseline")
    github_server.add_pull(7, head_ref="claudio/ab12-baseline")
    outputs = tmp_path / "github_output"
    common = {
        "CLAUDIO_CI": claudio,
        "BRANCH": "claudio/ab12-baseline",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_API_URL": github_server.url,
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_ACTIONS": "true",
    }

    train = _run_step(
        _step("train"),
        git_repo,
        {**common, "COMMAND": "echo training; exit 3", "GPUS": ""},
    )
    assert train.returncode == 0, train.stderr
    assert "training" in train.stdout
    assert outputs.read_text(encoding="utf-8").splitlines() == ["exit-code=3"]

    comment_step = "Sticky PR comment, step summary and cost thresholds"
    posted = _run_step(
        _step(comment_step),
        git_repo,
        {**common, "COMMENT": "true", "PR_NUMBER": "7", "GITHUB_TOKEN": "t"},
    )
    assert posted.returncode == 0, posted.stderr
    (comment,) = github_server.repo.comments
    assert is_sticky(comment.body)
    assert "### GPU cost of `claudio/ab12-baseline`" in comment.body
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith(MARKER)

    on_push = _run_step(_step(comment_step), git_repo, {**common, "COMMENT": "true"})
    assert on_push.returncode == 0, on_push.stderr
    assert len(github_server.repo.comments) == 1

    final = _run_step(_step("Pass the command's exit code on"), git_repo, {"CODE": "3"})
    assert final.returncode == 3
    assert final.stdout == (
        "::error title=claudio-ci gpu run::the training command exited with 3\n"
    )


def test_the_comment_author_input_reaches_gpu_comment(
    git_repo: Path, tmp_path: Path, github_server
) -> None:
    """With a GitHub App's token the action is told the App's login, and finds its comment."""
    claudio = shutil.which("claudio-ci", path=str(Path(sys.executable).parent))
    if claudio is None:
        pytest.skip("the claudio-ci script is not installed next to this Python")
    assert _action()["inputs"]["comment-author"]["default"] == ""
    git(git_repo, "checkout", "-q", "-b", "claudio/ab12-baseline")
    github_server.add_pull(7, head_ref="claudio/ab12-baseline")
    github_server.identity = "claudio-app[bot]"
    env = {
        "CLAUDIO_CI": claudio,
        "BRANCH": "claudio/ab12-baseline",
        "GITHUB_API_URL": github_server.url,
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_ACTIONS": "true",
        "COMMENT": "true",
        "PR_NUMBER": "7",
        "GITHUB_TOKEN": "t",
        "COMMENT_AUTHOR": "claudio-app[bot]",
    }
    step = _step("Sticky PR comment, step summary and cost thresholds")
    for _ in range(2):
        posted = _run_step(step, git_repo, env)
        assert posted.returncode == 0, posted.stderr
        assert "GPU006" not in posted.stdout
    (comment,) = github_server.repo.comments
    assert comment.author == "claudio-app[bot]"
