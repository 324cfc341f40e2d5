"""Which experiments run, and with which command, from the `smoke_test` configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from claudio_ci.adapters.git import discover
from claudio_ci.core.config import load_config
from claudio_ci.core.errors import ConfigError, UsageError
from claudio_ci.smoke.plan import Settings, matrix, select_configs
from tests.gitutil import commit_all, git

ALL = ["experiments/test.yaml", "experiments/attention.yaml", "experiments/baseline.yaml"]


def _select(repo: Path, **options: object) -> list[str]:
    config = load_config(repo)
    return select_configs(discover(repo), config, Settings.from_config(config, repo), **options)


def test_default_is_the_configured_smoke_config(ml_repo: Path) -> None:
    assert _select(ml_repo) == ["experiments/test.yaml"]


def test_configs_may_be_globs_and_must_exist(ml_repo: Path) -> None:
    (ml_repo / ".claudio.yaml").write_text(
        "smoke_test:\n  configs: ['experiments/b*.yaml', experiments/test.yaml]\n",
        encoding="utf-8",
    )
    assert _select(ml_repo) == ["experiments/baseline.yaml", "experiments/test.yaml"]
    (ml_repo / ".claudio.yaml").write_text(
        "smoke_test:\n  configs: [experiments/gone.yaml]\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"^\.claudio\.yaml:2: smoke_test\.configs: "):
        _select(ml_repo)


def test_a_missing_configured_config_does_not_block_experiments_by_name(ml_repo: Path) -> None:
    """The error says "or pass --experiment": doing so must work."""
    (ml_repo / "experiments" / "test.yaml").unlink()  # the default smoke_test.configs
    assert _select(ml_repo, names=["baseline"]) == ["experiments/baseline.yaml"]
    with pytest.raises(ConfigError, match=r"experiments/test\.yaml does not exist"):
        _select(ml_repo)


def test_all_adds_every_experiment_config(ml_repo: Path) -> None:
    assert _select(ml_repo, every=True) == ALL


def test_experiments_by_name_or_path(ml_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ml_repo / "experiments")
    chosen = _select(ml_repo, names=["baseline", "attention.yaml", "baseline"])
    assert chosen == ["experiments/baseline.yaml", "experiments/attention.yaml"]
    with pytest.raises(UsageError) as error:
        _select(ml_repo, names=["basline"])
    assert str(error.value) == (
        "--experiment basline: is not an experiment (known: attention, baseline, test)"
    )


def test_changed_only_follows_the_worktree_since_the_merge_base(ml_repo: Path) -> None:
    git(ml_repo, "switch", "-q", "-c", "claudio/ab12-attention")
    assert _select(ml_repo, changed_only=True) == []
    attention = ml_repo / "experiments" / "attention.yaml"
    attention.write_text(attention.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert _select(ml_repo, changed_only=True) == ["experiments/attention.yaml"]
    (ml_repo / "experiments" / "wide.yaml").write_text("model: {name: wide}\n", encoding="utf-8")
    changed = ["experiments/attention.yaml", "experiments/wide.yaml"]
    assert _select(ml_repo, changed_only=True) == changed
    commit_all(ml_repo, "two experiments")
    assert _select(ml_repo, changed_only=True) == changed


def test_changed_shared_code_runs_every_experiment(ml_repo: Path) -> None:
    git(ml_repo, "switch", "-q", "-c", "claudio/cd34-model")
    model = ml_repo / "src" / "models" / "baseline.py"
    model.write_text(model.read_text(encoding="utf-8") + "# tweak\n", encoding="utf-8")
    assert _select(ml_repo, changed_only=True) == ALL


def test_changed_only_needs_a_base_that_exists(ml_repo: Path) -> None:
    with pytest.raises(
        UsageError, match=r"unknown revision 'origin/main'.*fetch-depth: 0.*with --base$"
    ):
        _select(ml_repo, changed_only=True, base="origin/main")


def test_the_command_template_is_filled_per_experiment(ml_repo: Path) -> None:
    (ml_repo / ".claudio.yaml").write_text(
        "smoke_test:\n"
        "  command: >-\n    python3 fit.py '{name} run' --cfg={config} --json '{\"a\": 1}'\n"
        "  metrics_path: runs/{name}.jsonl\n",
        encoding="utf-8",
    )
    settings = Settings.from_config(load_config(ml_repo), ml_repo)
    job = settings.job("experiments/test.yaml")
    assert job.argv == (
        sys.executable,
        "fit.py",
        "test run",
        "--cfg=experiments/test.yaml",
        "--json",
        '{"a": 1}',
    )
    assert job.experiment.command == (
        "python3 fit.py 'test run' --cfg=experiments/test.yaml --json '{\"a\": 1}'"
    )
    assert (job.metrics_path, job.checkpoint_path) == ("runs/test.jsonl", "outputs/test/model.pt")
    assert matrix([job]) == {"include": [{"experiment": "test", "config": "experiments/test.yaml"}]}
    assert settings.environment({"CUDA_VISIBLE_DEVICES": "0"})["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("command: python 'unclosed", r"^\.claudio\.yaml:2: smoke_test\.command: No closing"),
        ("python: .venv/bin/python", r"^\.claudio\.yaml:2: smoke_test\.python: '\.venv/bin/"),
        ("timeout_seconds: 0", r"smoke_test\.timeout_seconds: 0 is less than or equal"),
    ],
)
def test_bad_settings_are_configuration_errors(ml_repo: Path, setting: str, message: str) -> None:
    (ml_repo / ".claudio.yaml").write_text(f"smoke_test:\n  {setting}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        Settings.from_config(load_config(ml_repo), ml_repo)


def test_the_interpreter_may_be_a_project_venv(ml_repo: Path) -> None:
    venv_python = ml_repo / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    (ml_repo / ".claudio.yaml").write_text(
        "smoke_test:\n  python: .venv/bin/python\n", encoding="utf-8"
    )
    settings = Settings.from_config(load_config(ml_repo), ml_repo)
    assert settings.job("experiments/test.yaml").argv[0] == str(venv_python)
