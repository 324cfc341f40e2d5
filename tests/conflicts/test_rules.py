"""The `conflict-risk` check itself: risk classification, findings, severities and hints.
Plain data in, findings out; the command is tested in tests/test_conflicts_hook.py."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from claudio_ci.conflicts import rules as cr
from claudio_ci.conflicts.rules import Merge, Other, Overlap, Risk, RiskRules
from claudio_ci.core.findings import Severity
from claudio_ci.core.settings import ConflictsSection

DEFAULTS = RiskRules.from_config(ConflictsSection())


def only(**globs: tuple[str, ...]) -> RiskRules:
    """Rules with just these globs: every other list is empty."""
    empty = ConflictsSection(high=(), low=(), ignore=(), single_writer=())
    return RiskRules.from_config(dataclasses.replace(empty, **globs))


BASELINE = Other(
    "worktree",
    "claudio/ab12-baseline",
    merge_first="claudio/ab12-baseline",
    location=".claudio/worktrees/ab12",
)


@pytest.mark.parametrize(
    ("path", "risk"),
    [
        # The seed's "Common Conflict Points" table.
        ("requirements.txt", Risk.HIGH),
        ("requirements-dev.txt", Risk.HIGH),
        ("services/api/requirements.txt", Risk.HIGH),
        ("pyproject.toml", Risk.HIGH),
        ("notebooks/exploration/data_eda.ipynb", Risk.HIGH),
        ("src/models/attention.py", Risk.LOW),
        ("experiments/attention.yaml", Risk.LOW),
        # The other defaults.
        ("setup.cfg", Risk.HIGH),
        ("environment-gpu.yml", Risk.HIGH),
        ("poetry.lock", Risk.HIGH),
        ("uv.lock", Risk.HIGH),
        (".pre-commit-config.yaml", Risk.HIGH),
        (".github/workflows/ml-ci.yml", Risk.HIGH),
        ("CLAUDE.md", Risk.IGNORED),
        ("src/CLAUDE.md", Risk.IGNORED),
        ("AGENTS.md", Risk.IGNORED),
        (".claudio/worktrees/ab12/requirements.txt", Risk.IGNORED),
        # Neither: reported only with a predicted conflict (or fail_on: any).
        ("src/training/train.py", Risk.OTHER),
        ("notebooks/exploration/data_eda.py", Risk.OTHER),
        ("docs/.github/workflows/x.yml", Risk.OTHER),  # anchored: only the top-level one
        # Odd names are matched like any other.
        ("my notebooks/ünïcödé eda.ipynb", Risk.HIGH),
        ("requirements\n.txt", Risk.HIGH),
    ],
)
def test_default_rules_follow_the_seed_table(path: str, risk: Risk) -> None:
    assert DEFAULTS.classify(path) is risk


def test_precedence_is_ignore_then_single_writer_then_high_then_low() -> None:
    rules = only(
        ignore=("vendor/**",),
        single_writer=("pyproject.toml", "vendor/pyproject.toml"),
        high=("pyproject.toml", "*.txt", "!notes.txt", "src/models/registry.py"),
        low=("*.txt", "src/models/**"),
    )
    assert rules.classify("vendor/pyproject.toml") is Risk.IGNORED
    assert rules.classify("pyproject.toml") is Risk.SINGLE_WRITER
    assert rules.classify("src/models/registry.py") is Risk.HIGH
    assert rules.classify("src/models/cnn.py") is Risk.LOW
    assert rules.classify("notes.txt") is Risk.LOW  # `!` takes it out of high only
    assert rules.relevant(["vendor/a", "pyproject.toml", "b"]) == ["pyproject.toml", "b"]


def test_empty_sections_classify_everything_as_other() -> None:
    rules = only()
    assert rules.classify("requirements.txt") is Risk.OTHER


def finding(path: str, merge: Merge = Merge.CONFLICT, fail_on: str = "high", **kwargs: object):
    overlap = Overlap(path, kwargs.pop("other", BASELINE), merge=merge, **kwargs)  # type: ignore[arg-type]
    (found,) = cr.overlap_findings([overlap], DEFAULTS, fail_on)
    return found


def test_a_high_risk_overlap_names_the_worktree_the_branch_and_the_prediction() -> None:
    found = finding("requirements.txt", how=("committed", "uncommitted"))
    assert found.code == cr.HIGH_RISK
    assert found.severity is Severity.ERROR
    assert found.message == (
        "high-risk file also changed in worktree .claudio/worktrees/ab12 on branch "
        "claudio/ab12-baseline (committed and uncommitted there): merging the two would conflict"
    )
    assert "merge claudio/ab12-baseline first" in (found.hint or "")
    assert "regenerate any lock file after merging claudio/ab12-baseline" in (found.hint or "")
    assert (found.line, found.col) == (0, 0)
    assert found.location == "requirements.txt"
    assert found.extra == {
        "risk": "high-risk",
        "other": "in worktree .claudio/worktrees/ab12 on branch claudio/ab12-baseline",
        "changed": ["committed", "uncommitted"],
        "merge": "conflict",
    }


def test_a_clean_prediction_on_a_high_risk_file_is_still_reported() -> None:
    found = finding("requirements.txt", Merge.CLEAN)
    assert found.code == cr.HIGH_RISK
    assert found.severity is Severity.ERROR
    assert found.message.endswith(": git predicts a clean merge")
    assert "pins each package once" in (found.hint or "")


def test_an_unknown_prediction_says_why() -> None:
    found = finding("pyproject.toml", Merge.UNKNOWN, note="git merge-tree failed: boom")
    assert found.message.endswith(
        ": the merge could not be predicted (git merge-tree failed: boom)"
    )


@pytest.mark.parametrize(
    ("path", "merge", "code", "high", "any_", "never"),
    [
        ("requirements.txt", Merge.CONFLICT, cr.HIGH_RISK, "error", "error", "warning"),
        ("requirements.txt", Merge.CLEAN, cr.HIGH_RISK, "error", "error", "warning"),
        ("src/train.py", Merge.CONFLICT, cr.CONFLICT, "warning", "error", "warning"),
        ("src/train.py", Merge.CLEAN, cr.OVERLAP, "notice", "error", "notice"),
        ("src/train.py", Merge.UNKNOWN, cr.OVERLAP, "notice", "error", "notice"),
        ("src/models/cnn.py", Merge.CONFLICT, cr.LOW_RISK, "notice", "error", "notice"),
    ],
)
def test_fail_on_sets_the_severity(
    path: str, merge: Merge, code: str, high: str, any_: str, never: str
) -> None:
    seen = {f: finding(path, merge, f) for f in cr.FAIL_ON}
    assert {found.code for found in seen.values()} == {code}
    assert [seen[f].severity.label for f in cr.FAIL_ON] == [high, any_, never]


def test_single_writer_is_an_error_with_one_instance_for_config_changes() -> None:
    rules = only(single_writer=("pyproject.toml",))
    overlap = Overlap("pyproject.toml", BASELINE, merge=Merge.CLEAN)
    (found,) = cr.overlap_findings([overlap], rules)
    assert found.code == cr.SINGLE_WRITER
    assert found.severity is Severity.ERROR
    assert found.message.startswith("single-writer file also changed in worktree")
    assert found.hint is not None
    assert found.hint.startswith("one instance for config changes: leave pyproject.toml to")
    assert found.hint.endswith("git restore --staged -- pyproject.toml")
    (relaxed,) = cr.overlap_findings([overlap], rules, "never")
    assert relaxed.severity is Severity.WARNING


@pytest.mark.parametrize(
    ("path", "merge", "expected"),
    [
        ("poetry.lock", Merge.CONFLICT, "regenerate the lock after merging claudio/x"),
        ("uv.lock", Merge.CLEAN, "never merge a lock file by hand"),
        ("notebooks/eda.ipynb", Merge.CONFLICT, "notebooks merge badly"),
        ("src/train.py", Merge.CONFLICT, "merge order: merge claudio/x first, then rebase"),
        ("src/train.py", Merge.CLEAN, "no conflict expected"),
        ("src/models/cnn.py", Merge.CONFLICT, "usually harmless; merge claudio/x first"),
        (".github/workflows/ci.yml", Merge.CLEAN, "merge claudio/x first"),
    ],
)
def test_every_hint_gives_a_way_out(path: str, merge: Merge, expected: str) -> None:
    other = Other("branch", "claudio/x", merge_first="claudio/x")
    assert expected in (finding(path, merge, other=other).hint or "")


def test_ignored_files_give_no_finding() -> None:
    overlaps = [Overlap("CLAUDE.md", BASELINE), Overlap(".claudio/state.json", BASELINE)]
    assert cr.overlap_findings(overlaps, DEFAULTS) == []


@pytest.mark.parametrize(
    ("other", "described"),
    [
        (Other("branch", "claudio/x", "claudio/x"), "on branch claudio/x"),
        (Other("remote branch", "origin/x", "origin/x"), "on remote branch origin/x"),
        (Other("pull request", "#12 (claudio/x)", "#12"), "in pull request #12 (claudio/x)"),
        (
            Other("worktree", "detached at 0123abcd", "its commit 0123abcd", "wt", True),
            "in worktree wt (detached at 0123abcd)",
        ),
    ],
)
def test_every_other_side_is_described(other: Other, described: str) -> None:
    assert other.describe() == described
    found = finding("src/train.py", how=(), other=other)
    assert f"also changed {described}: merging" in found.message


def test_notices_never_fail() -> None:
    notices = [
        cr.worktree_gone(BASELINE, "gitdir file points to non-existent location"),
        cr.not_compared(BASELINE, "it has no commit in common with this branch", "fetch"),
        cr.no_commit_yet("main"),
        cr.pull_requests_unavailable("not a pull request event"),
    ]
    assert [n.code for n in notices] == ["CR101", "CR102", "CR103", "CR104"]
    assert {n.severity for n in notices} == {Severity.NOTICE}
    assert all(n.hint for n in notices)
    assert notices[0].path == ".claudio/worktrees/ab12"
    assert notices[0].message == (
        "worktree .claudio/worktrees/ab12 (branch claudio/ab12-baseline) is not reachable "
        "(gitdir file points to non-existent location): its commits were compared, its "
        "uncommitted edits could not be"
    )
    assert notices[2].message.startswith("branch main has no commit yet")


def test_the_hint_names_an_odd_file_as_its_location_shows_it() -> None:
    (found,) = cr.overlap_findings([Overlap("requirements new\nline.txt", BASELINE)], DEFAULTS)
    assert found.location == "requirements new\\nline.txt"
    assert found.hint is not None and "check that requirements new\\nline.txt pins" in found.hint


def test_the_single_writer_hint_is_a_command_the_shell_runs_as_written(tmp_path: Path) -> None:
    name = "it's a $HOME (config).toml"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    empty = [
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "0",
    ]
    subprocess.run(["git", *empty], cwd=tmp_path, check=True)
    (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    subprocess.run(["git", "add", "--", name], cwd=tmp_path, check=True)
    (found,) = cr.overlap_findings([Overlap(name, BASELINE)], only(single_writer=("*.toml",)))
    assert found.hint is not None
    command = found.hint.partition("out of this commit: ")[2]
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True)
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert staged.stdout == ""
