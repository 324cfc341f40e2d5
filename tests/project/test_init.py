"""`claudio-ci init`: writes the templates, never overwrites without --force, idempotent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from claudio_ci.cli import main
from claudio_ci.core.config import load_config, load_schema
from claudio_ci.core.resources import repo_templates_dir
from tests.gitutil import REPO_ROOT

EXPECTED = {
    ".pre-commit-config.yaml",
    ".claudio.yaml",
    ".github/workflows/ml-ci.yml",
    "experiments/template.yaml",
}


def _written(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file()} - {"README.md"}


def test_init_writes_every_template_and_says_what_next(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(git_repo)]) == 0
    out = capsys.readouterr().out
    assert {p for p in _written(git_repo) if not p.startswith(".git/")} == EXPECTED
    for name in EXPECTED:
        assert f"{name}: created" in out
        assert (git_repo / name).read_bytes() == (repo_templates_dir() / name).read_bytes()
    assert "pre-commit install" in out


def test_init_twice_changes_nothing(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", str(git_repo)])
    before = {p: (git_repo / p).read_bytes() for p in EXPECTED}
    capsys.readouterr()
    assert main(["init", str(git_repo)]) == 0
    out = capsys.readouterr().out
    assert out.count(": unchanged") == len(EXPECTED)
    assert "Next:" not in out
    assert {p: (git_repo / p).read_bytes() for p in EXPECTED} == before


def test_init_keeps_a_users_file_unless_forced(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = git_repo / ".claudio.yaml"
    mine.write_text("pr:\n  reviewers:\n    default: [me]\n", encoding="utf-8")
    assert main(["init", str(git_repo)]) == 0
    assert ".claudio.yaml: skipped (exists and differs" in capsys.readouterr().out
    assert "default: [me]" in mine.read_text(encoding="utf-8")

    assert main(["init", "--dry-run", "--force", str(git_repo)]) == 0
    assert ".claudio.yaml: would be overwritten" in capsys.readouterr().out
    assert "default: [me]" in mine.read_text(encoding="utf-8")

    assert main(["init", "--force", str(git_repo)]) == 0
    assert ".claudio.yaml: overwritten" in capsys.readouterr().out
    assert mine.read_bytes() == (repo_templates_dir() / ".claudio.yaml").read_bytes()


def test_dry_run_writes_nothing(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--dry-run", str(git_repo)]) == 0
    assert ".pre-commit-config.yaml: would be created" in capsys.readouterr().out
    assert _written(git_repo) - {p for p in _written(git_repo) if p.startswith(".git/")} == set()


def test_init_outside_a_repository_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path)]) == 2
    assert "not a git repository" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_a_target_that_cannot_be_written_stops_init_before_it_writes_anything(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / ".github").write_text("a file, not a directory", encoding="utf-8")
    assert main(["init", str(git_repo)]) == 2
    assert capsys.readouterr().err == (
        f"claudio-ci: error: .github/workflows/ml-ci.yml: cannot be written: "
        f"{git_repo / '.github'} is not a directory\n"
    )
    assert {p for p in _written(git_repo) if not p.startswith(".git/")} == {".github"}
    (git_repo / ".github").unlink()
    (git_repo / ".claudio.yaml").mkdir()
    assert main(["init", str(git_repo)]) == 0  # kept as it is, like any file that differs
    assert ".claudio.yaml: skipped" in capsys.readouterr().out
    assert main(["init", "--force", str(git_repo)]) == 2
    assert "claudio-ci: error: .claudio.yaml: cannot be written: " in capsys.readouterr().err


def test_the_config_template_is_valid_and_shows_every_section_of_ours() -> None:
    template = repo_templates_dir() / ".claudio.yaml"
    config = load_config(None, repo_file=template)
    assert config.warnings == []
    written = yaml.safe_load(template.read_text(encoding="utf-8"))

    ours = [
        name
        for name, sub in load_schema()["properties"].items()
        if sub.get("additionalProperties") is False
    ]
    assert ours, "the schema has no section of claudio-ci's own"
    for section in ours:
        assert section in written, f"section {section} is missing from the .claudio.yaml template"
        assert set(written[section]) == set(load_schema()["properties"][section]["properties"])


def test_the_workflow_template_is_least_privilege() -> None:
    workflow = yaml.safe_load(
        (repo_templates_dir() / ".github" / "workflows" / "ml-ci.yml").read_text(encoding="utf-8")
    )
    assert workflow["permissions"] == {"contents": "read"}
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout"):
                assert step["with"]["persist-credentials"] is False
            assert "${{" not in step.get("run", ""), "expressions belong in env:, not in run:"


def test_the_workflow_template_and_every_action_fit_githubs_schemas() -> None:
    """check-jsonschema ships GitHub's own workflow and action schemas (no network)."""
    workflow = repo_templates_dir() / ".github" / "workflows" / "ml-ci.yml"
    actions = sorted((REPO_ROOT / "actions").glob("*/action.yml"))
    assert len(actions) == 3
    for schema, files in (("workflows", [workflow]), ("actions", actions)):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "--builtin-schema",
                f"vendor.github-{schema}",
                *map(str, files),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_workflow_template_uses_our_actions() -> None:
    text = (repo_templates_dir() / ".github" / "workflows" / "ml-ci.yml").read_text("utf-8")
    for action in ("smoke-test", "assign-reviewers", "gpu-cost"):
        assert f"claudio-ci/claudio-ci/actions/{action}@" in text
        assert (REPO_ROOT / "actions" / action / "action.yml").is_file()


def test_init_on_a_hydra_project_writes_a_config_that_fits_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """lightning-hydra-template's layout: configs/train.yaml with a defaults list and
    configs/experiment/; the written config checks every experiment composed, cleanly."""
    pytest.importorskip("hydra")
    import textwrap

    from tests.experiments.test_rules import HYDRA_FILES, hydra_experiments
    from tests.gitutil import commit_all, git

    repo = tmp_path / "hydra-project"
    for path, text in {**HYDRA_FILES, **hydra_experiments()}.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(textwrap.dedent(text), encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "hydra project")
    assert main(["init", str(repo)]) == 0
    config = load_config(repo)
    assert config.warnings == []
    assert config.get("experiments.hydra") == {"config_dir": "configs", "config_name": "train"}
    assert config.get("experiments.dir") == "configs/experiment/"
    assert (config.get("experiments.name_key"), config.get("experiments.schema_mode")) == (
        None,
        "none",
    )
    capsys.readouterr()
    monkeypatch.chdir(repo)
    assert main(["check", "experiments"]) == 0
    assert capsys.readouterr().out == ""


def test_init_keeps_the_tutorial_layout_where_there_is_no_hydra(git_repo: Path) -> None:
    (git_repo / "configs" / "experiment").mkdir(parents=True)
    assert main(["init", str(git_repo), "--dry-run"]) == 0
    assert main(["init", str(git_repo)]) == 0
    config = load_config(git_repo)
    assert config.get("experiments.dir") == "configs/experiment/"
    assert config.get("experiments.hydra") is None
    (git_repo / "configs" / "experiment").rmdir()
    (git_repo / ".claudio.yaml").unlink()
    assert main(["init", str(git_repo)]) == 0
    written = (git_repo / ".claudio.yaml").read_bytes()
    assert written == (repo_templates_dir() / ".claudio.yaml").read_bytes()


def test_init_on_plain_configs_in_configs_experiments_keeps_every_check(git_repo: Path) -> None:
    """configs/experiments/ with no `defaults:` list anywhere is not Hydra: only the
    directory changes; name, output and schema checks stay on."""
    plain = git_repo / "configs" / "experiments"
    plain.mkdir(parents=True)
    (plain / "baseline.yaml").write_text("model:\n  name: baseline\n")
    assert main(["init", str(git_repo)]) == 0
    config = load_config(git_repo)
    defaults = load_config(REPO_ROOT / "templates" / "repo")
    assert config.get("experiments.dir") == "configs/experiments/"
    assert config.get("experiments.hydra") is None
    for key in ("name_key", "output_key", "schema_mode", "identity"):
        assert config.get(f"experiments.{key}") == defaults.get(f"experiments.{key}"), key


def test_init_on_a_hydra_project_writes_no_tutorial_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.experiments.test_rules import HYDRA_FILES
    from tests.gitutil import git

    repo = tmp_path / "hydra-project"
    (repo / "configs" / "experiment").mkdir(parents=True)
    (repo / "configs" / "train.yaml").write_text(HYDRA_FILES["configs/train.yaml"])
    git(repo, "init", "-q", "-b", "main")
    assert main(["init", str(repo)]) == 0
    out = capsys.readouterr().out
    assert not (repo / "experiments").exists()
    assert "experiments/template.yaml" not in out
    assert load_config(repo).get("experiments.hydra") == {
        "config_dir": "configs",
        "config_name": "train",
    }
