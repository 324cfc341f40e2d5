"""`claudio-ci check conflicts` in real repositories with real worktrees, and the
`conflict-risk` hook blocking a real `git commit` through the real pre-commit framework."""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from claudio_ci.adapters import git as gitlayer
from claudio_ci.cli import main
from tests.conftest import CliResult
from tests.github_server import GitHubServer
from tests.gitutil import add_worktree, commit_all, git, run_git, run_pre_commit

REQUIREMENTS = "torch==2.13.0\nnumpy\nPyYAML\n"
TRAIN = "".join(f"line {n}\n" for n in range(1, 21))

Check = Callable[..., tuple[int, str]]


@pytest.fixture
def check(run_cli: Callable[..., CliResult]) -> Check:
    """`check(cwd, *args)`: run `claudio-ci check conflicts ARGS` in `cwd`; (exit, output)."""

    def run(cwd: Path, *args: str) -> tuple[int, str]:
        result = run_cli("check", "conflicts", *args, cwd=cwd)
        return result.code, result.out + result.err

    return run


def write(root: Path, path: str, text: str) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


@pytest.fixture
def project(git_repo: Path) -> Path:
    """main: requirements.txt, src/train.py, a model file and an agent context file."""
    write(git_repo, "requirements.txt", REQUIREMENTS)
    write(git_repo, "src/train.py", TRAIN)
    write(git_repo, "src/models/cnn.py", TRAIN)
    write(git_repo, "CLAUDE.md", "# context\n")
    write(git_repo, ".gitignore", ".claudio/\n")
    commit_all(git_repo, "project")
    return git_repo


@pytest.fixture
def worktrees(project: Path) -> tuple[Path, Path]:
    """Claudio's layout: the baseline and attention agents' worktrees."""
    baseline = add_worktree(project, "ab12", "claudio/ab12-baseline")
    attention = add_worktree(project, "cd34", "claudio/cd34-attention")
    return baseline, attention


def stage(root: Path, path: str, text: str) -> None:
    write(root, path, text)
    git(root, "add", "--", path)


# --- the seed's scenario --------------------------------------------------------------------


def test_a_committed_pin_in_a_sibling_blocks_a_conflicting_staged_change(
    worktrees: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n"))
    commit_all(baseline, "pin numpy")
    stage(attention, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy<2\n"))

    code, out = check(attention)

    assert code == 1
    assert out == (
        "requirements.txt: CR001 high-risk file also changed in worktree "
        ".claudio/worktrees/ab12 on branch claudio/ab12-baseline (committed there): "
        "merging the two would conflict\n"
        "  hint: coordinate dependency changes: merge claudio/ab12-baseline first, then rebase "
        "this branch on it and re-apply your change to requirements.txt once; regenerate any "
        "lock file after merging claudio/ab12-baseline\n"
        "Found 1 problem (1 error).\n"
    )


def test_uncommitted_and_untracked_edits_of_a_sibling_count(
    worktrees: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "src/train.py", TRAIN.replace("line 5\n", "line five\n"))  # unstaged
    write(baseline, "environment.yml", "name: a\n")  # untracked
    stage(attention, "src/train.py", TRAIN.replace("line 5\n", "line 5 changed\n"))
    stage(attention, "environment.yml", "name: b\n")
    before = (baseline / "src/train.py").read_bytes()

    code, out = check(attention, "--format", "json")

    assert code == 1
    assert "environment.yml: CR001" not in out  # JSON, not text
    by_path = {f["path"]: f for f in json.loads(out)}
    assert set(by_path) == {"environment.yml", "src/train.py"}
    assert by_path["environment.yml"]["code"] == "CR001"
    assert by_path["environment.yml"]["extra"]["merge"] == "conflict"  # add/add
    assert by_path["environment.yml"]["extra"]["changed"] == ["uncommitted"]
    assert by_path["src/train.py"]["code"] == "CR003"
    assert by_path["src/train.py"]["severity"] == "warning"
    assert (baseline / "src/train.py").read_bytes() == before
    assert git(baseline, "status", "--porcelain") == " M src/train.py\n?? environment.yml\n"


def test_a_clean_merge_of_other_files_is_a_notice_and_does_not_fail(
    worktrees: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "src/train.py", TRAIN.replace("line 2\n", "line two\n"))
    commit_all(baseline, "edit the top")
    stage(attention, "src/train.py", TRAIN.replace("line 19\n", "line nineteen\n"))
    code, out = check(attention)
    assert code == 0
    assert out.startswith(
        "src/train.py: CR004 [notice] file also changed in worktree .claudio/worktrees/ab12 "
        "on branch claudio/ab12-baseline (committed there): git predicts a clean merge\n"
    )


def test_no_overlap_no_output(worktrees: tuple[Path, Path], check: Check) -> None:
    baseline, attention = worktrees
    write(baseline, "src/models/cnn.py", "cnn\n")
    commit_all(baseline, "cnn")
    stage(attention, "src/models/attention.py", "attention\n")
    assert check(attention) == (0, "")
    assert check(attention, "src/models/attention.py") == (0, "")


def test_nothing_staged_is_silent(worktrees: tuple[Path, Path], check: Check) -> None:
    assert check(worktrees[1]) == (0, "")


def test_ignored_files_are_never_reported(worktrees: tuple[Path, Path], check: Check) -> None:
    baseline, attention = worktrees
    write(baseline, "CLAUDE.md", "# baseline's notes\n")
    commit_all(baseline, "notes")
    stage(attention, "CLAUDE.md", "# attention's notes\n")
    assert check(attention) == (0, "")


@pytest.mark.parametrize(
    ("fail_on", "code", "tag"),
    [("high", 0, "[notice] "), ("any", 1, ""), ("never", 0, "[notice] ")],
)
def test_fail_on_decides_what_fails(
    worktrees: tuple[Path, Path], check: Check, fail_on: str, code: int, tag: str
) -> None:
    baseline, attention = worktrees
    write(baseline, "src/models/cnn.py", TRAIN.replace("line 1\n", "one\n"))
    commit_all(baseline, "cnn")
    stage(attention, "src/models/cnn.py", TRAIN.replace("line 1\n", "uno\n"))
    result = check(attention, "--set", f"conflicts.fail_on={fail_on}")
    assert result[0] == code
    assert result[1].startswith(f"src/models/cnn.py: CR005 {tag}low-risk file also changed")


def test_single_writer_from_the_repository_config(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "pyproject.toml", "[project]\nname = 'a'\n")
    commit_all(baseline, "pyproject")
    stage(attention, "pyproject.toml", "[tool.ruff]\n")
    write(attention, ".claudio.yaml", "conflicts:\n  single_writer: [pyproject.toml]\n")
    code, out = check(attention)
    assert code == 1
    assert out.startswith("pyproject.toml: CR002 single-writer file also changed in worktree")
    assert "hint: one instance for config changes: leave pyproject.toml to" in out


def test_files_this_branch_does_not_change_are_not_reported(
    worktrees: tuple[Path, Path], check: Check
) -> None:
    """`pre-commit run --all-files` passes every file: only shared changes count."""
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy\n")
    commit_all(baseline, "trim")
    assert check(attention, "requirements.txt", "src/train.py") == (0, "")


# --- compared branches ----------------------------------------------------------------------


def test_configured_local_and_remote_branches_are_compared(
    project: Path, tmp_path: Path, check: Check
) -> None:
    git(project, "branch", "claudio/ef56-optimizer")
    git(project, "checkout", "-q", "claudio/ef56-optimizer")
    write(project, "requirements.txt", REQUIREMENTS + "einops\n")
    commit_all(project, "einops")
    git(project, "checkout", "-q", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    git(clone, "branch", "claudio/gh78-local", "origin/claudio/ef56-optimizer")
    stage(clone, "requirements.txt", REQUIREMENTS + "scipy\n")

    assert check(clone) == (0, "")  # siblings only, by default
    code, out = check(
        clone,
        "--set",
        "conflicts.compare.branches=[claudio/*]",
        "--set",
        "conflicts.compare.remote_branches=[origin/claudio/*, origin/main]",
    )
    assert code == 1
    found = re.findall(
        r"^requirements.txt: CR001 high-risk file also changed (on [^(]*)", out, re.M
    )
    assert found == [
        "on branch claudio/gh78-local ",
        "on remote branch origin/claudio/ef56-optimizer ",
    ]
    assert "origin/main" not in out  # our own branch's remote is no other side


def test_a_branch_without_common_history_is_a_notice(project: Path, check: Check) -> None:
    git(project, "checkout", "-q", "--orphan", "claudio/orphan")
    git(project, "rm", "-q", "-r", "--cached", ".")
    write(project, "requirements.txt", "other\n")
    git(project, "add", "requirements.txt")
    git(project, "commit", "-q", "-m", "orphan")
    git(project, "checkout", "-q", "-f", "main")
    stage(project, "requirements.txt", "mine\n")
    code, out = check(project, "--set", "conflicts.compare.branches=[claudio/*]")
    assert code == 0
    assert out.startswith(
        "claudio/orphan: CR102 [notice] branch claudio/orphan was not compared: "
        "it has no commit in common with this branch\n"
        "  hint: unrelated histories never merge; leave it out of conflicts.compare\n"
    )


# --- merge prediction: drivers, no trace, no lock -------------------------------------------


def test_union_merges_cleanly_and_custom_drivers_are_never_run(
    project: Path, tmp_path: Path, check: Check
) -> None:
    marker = tmp_path / "driver-ran"
    write(project, ".gitattributes", "requirements.txt merge=union\nsrc/train.py merge=mine\n")
    commit_all(project, "attributes")
    git(project, "config", "merge.mine.driver", f"touch '{marker}'; exit 0")
    baseline = add_worktree(project, "ab12", "claudio/ab12-baseline")
    attention = add_worktree(project, "cd34", "claudio/cd34-attention")
    write(baseline, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n"))
    write(baseline, "src/train.py", TRAIN.replace("line 3\n", "three\n"))
    commit_all(baseline, "baseline")
    stage(attention, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy==1.26.4\n"))
    stage(attention, "src/train.py", TRAIN.replace("line 3\n", "drei\n"))

    code, out = check(attention)

    assert not marker.exists(), "the custom merge driver ran during the prediction"
    assert code == 1
    assert (
        "requirements.txt: CR001 high-risk file also changed in worktree .claudio/worktrees/ab12 "
        "on branch claudio/ab12-baseline (committed there): git predicts a clean merge\n"
    ) in out
    assert (
        "src/train.py: CR003 [warning] file also changed in worktree .claudio/worktrees/ab12 on "
        "branch claudio/ab12-baseline (committed there): merging the two would conflict "
        "(git's text merge; the custom merge driver 'mine' was not run)\n"
    ) in out
    # What a real merge does with the union file: both pins, no conflict.
    commit_all(attention, "attention")
    git(project, "config", "--unset", "merge.mine.driver")
    scratch = tmp_path / "scratch"
    git(project, "worktree", "add", "-q", "--detach", str(scratch), "claudio/cd34-attention")
    proc = gitlayer.discover(scratch).run(
        "merge", "--no-commit", "claudio/ab12-baseline", check=False
    )
    assert proc.returncode == 1
    assert git(scratch, "diff", "--name-only", "--diff-filter=U") == "src/train.py\n"
    assert "numpy==1.26.4\nnumpy==2.1.3\n" in (scratch / "requirements.txt").read_text()


def _object_files(repo: Path) -> set[str]:
    objects = repo / ".git" / "objects"
    return {str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file()}


def test_a_prediction_leaves_no_trace_and_takes_no_lock(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy==2.1.3\n")  # uncommitted: snapshot needed
    stage(attention, "requirements.txt", "numpy==1.26.4\n")
    sibling_index = project / ".git" / "worktrees" / "ab12" / "index"
    lock = sibling_index.with_name("index.lock")
    lock.write_bytes(b"")  # the baseline agent is in the middle of a `git add`
    index_before = sibling_index.read_bytes()
    objects_before = _object_files(project)
    refs_before = git(project, "for-each-ref")

    code, out = check(attention)

    assert code == 1
    assert "merging the two would conflict" in out
    assert sibling_index.read_bytes() == index_before
    assert _object_files(project) == objects_before
    assert git(project, "for-each-ref") == refs_before
    assert git(project, "stash", "list") == ""
    lock.unlink()


def test_prediction_objects_older_than_an_hour_are_deleted(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    sandbox = project / ".git" / "claudio" / "merge-objects"
    stale, recent = sandbox / "ab" / "stale", sandbox / "cd" / "recent"
    for path in (stale, recent):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    os.utime(stale, (1, time.time() - 3700))
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy==2.1.3\n")
    commit_all(baseline, "pin")
    stage(attention, "requirements.txt", "numpy==1.26.4\n")

    assert check(attention)[0] == 1

    assert not stale.exists()
    assert recent.exists()
    assert stale.parent.is_dir()
    assert [p for p in sandbox.rglob("*") if p.is_file() and p != recent]  # this run's objects


def test_the_index_git_commit_passes_is_the_one_checked(
    worktrees: tuple[Path, Path], check: Check, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`git commit -a` and `git commit PATH` hand the hook a temporary GIT_INDEX_FILE."""
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy==2.1.3\n")
    commit_all(baseline, "pin")
    write(attention, "requirements.txt", "numpy==1.26.4\n")  # not staged in the real index
    temporary = tmp_path / "index"
    shutil.copy(git(attention, "rev-parse", "--git-path", "index").strip(), temporary)
    git(attention, "add", "requirements.txt", env={"GIT_INDEX_FILE": str(temporary)})

    assert check(attention, "requirements.txt") == (0, "")  # the real index: no change
    monkeypatch.setenv("GIT_INDEX_FILE", str(temporary))
    code, out = check(attention, "requirements.txt")
    assert code == 1
    assert "merging the two would conflict" in out


# --- bad input -----------------------------------------------------------------------------


def test_detached_head_here_and_in_a_sibling(project: Path, check: Check) -> None:
    detached = add_worktree(project, "gh78")
    write(detached, "requirements.txt", "a\n")
    commit_all(detached, "detached work")
    sha = git(detached, "rev-parse", "HEAD").strip()
    here = add_worktree(project, "ij90")
    stage(here, "requirements.txt", "b\n")
    code, out = check(here)
    assert code == 1
    assert (
        f"requirements.txt: CR001 high-risk file also changed in worktree .claudio/worktrees/gh78 "
        f"(detached at {sha[:8]}) (committed there): merging the two would conflict\n"
        f"  hint: coordinate dependency changes: merge its commit {sha[:12]} first"
    ) in out


def test_an_unborn_branch_is_a_notice(tmp_path: Path, check: Check) -> None:
    git(tmp_path, "init", "-q", "-b", "main", "fresh")
    stage(tmp_path / "fresh", "requirements.txt", "numpy\n")
    assert check(tmp_path / "fresh") == (
        0,
        ".: CR103 [notice] branch main has no commit yet: there is no fork point to compare "
        "sibling worktrees and branches with\n"
        "  hint: conflict risks are checked from the next commit on\n"
        "Found 1 problem (1 notice).\n",
    )


def test_prunable_locked_and_missing_worktrees(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy==2.1.3\n")
    commit_all(baseline, "pin")
    on_usb = add_worktree(project, "ef56", "claudio/ef56-optimizer")
    git(project, "worktree", "lock", "--reason", "on a USB disk", str(on_usb))
    shutil.rmtree(baseline)
    shutil.rmtree(on_usb)
    locked = add_worktree(project, "gh78", "claudio/gh78-locked")
    git(project, "worktree", "lock", str(locked))
    write(locked, "requirements.txt", "numpy<2\n")  # a locked, present worktree is read
    stage(attention, "requirements.txt", "numpy==1.26.4\n")

    code, out = check(attention)

    assert code == 1
    assert (
        ".claudio/worktrees/ab12: CR101 [notice] worktree .claudio/worktrees/ab12 (branch "
        "claudio/ab12-baseline) is not reachable (gitdir file points to non-existent location): "
        "its commits were compared, its uncommitted edits could not be\n"
    ) in out
    assert "worktree .claudio/worktrees/ef56 (branch claudio/ef56-optimizer) is not " in out
    assert "(locked and missing)" in out
    shared = re.findall(r"^requirements.txt: CR001 .* in worktree (\S+)", out, re.M)
    assert shared == [".claudio/worktrees/ab12", ".claudio/worktrees/gh78"]


def test_a_shallow_clone_says_what_it_could_not_compare(
    project: Path, tmp_path: Path, check: Check
) -> None:
    git(project, "checkout", "-q", "-b", "claudio/ab12-baseline")
    write(project, "requirements.txt", "numpy==2.1.3\n")
    commit_all(project, "pin")
    git(project, "checkout", "-q", "main")
    write(project, "src/train.py", "moved on\n")
    commit_all(project, "main moves on")
    clone = tmp_path / "shallow"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        "--no-single-branch",
        f"file://{project}",
        "shallow",
    )
    stage(clone, "requirements.txt", "numpy<2\n")
    code, out = check(clone, "--set", "conflicts.compare.remote_branches=[origin/claudio/*]")
    assert code == 0
    assert out.startswith(
        "origin/claudio/ab12-baseline: CR102 [notice] remote branch origin/claudio/ab12-baseline "
        "was not compared: it has no commit in common with this branch within this shallow "
        "clone's history\n  hint: fetch more history: git fetch --unshallow (in CI: "
        "fetch-depth: 0)\n"
    )


def test_submodule_pointers_moved_on_both_sides(
    worktrees: tuple[Path, Path], tmp_path: Path, check: Check
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    git(library, "init", "-q", "-b", "main")
    first = commit_all(library, "one")
    second = commit_all(library, "two")
    baseline, attention = worktrees
    for root, sha in ((baseline, first), (attention, second)):
        (root / "vendor" / "library").mkdir(parents=True)  # a submodule not checked out
        git(root, "update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/library")
    git(baseline, "commit", "-q", "-m", "vendor library")

    code, out = check(attention)

    assert code == 0
    assert out.startswith(
        "vendor/library: CR003 [warning] file also changed in worktree .claudio/worktrees/ab12 "
        "on branch claudio/ab12-baseline (committed there): merging the two would conflict\n"
    )
    git(attention, "commit", "-q", "-m", "vendor library, later")
    real = gitlayer.discover(attention).run("merge", "claudio/ab12-baseline", check=False)
    assert real.returncode == 1
    assert "CONFLICT (submodule): Merge conflict in vendor/library" in real.stdout


def test_a_bare_repository_is_a_one_line_error(tmp_path: Path, check: Check) -> None:
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    code, out = check(tmp_path / "bare.git")
    assert code == 2
    assert out == (
        f"claudio-ci: error: {tmp_path / 'bare.git'}: a bare repository has no work tree to "
        "check; run inside a worktree\n"
    )


def test_worktrees_of_a_bare_repository(tmp_path: Path, project: Path, check: Check) -> None:
    git(tmp_path, "clone", "-q", "--bare", str(project), "hub.git")
    hub = tmp_path / "hub.git"
    one, two = tmp_path / "agent one ü", tmp_path / "agent two"
    git(hub, "worktree", "add", "-q", "-b", "claudio/one", str(one))
    git(hub, "worktree", "add", "-q", "-b", "claudio/two", str(two))
    write(one, "requirements.txt", "numpy==2.1.3\n")
    commit_all(one, "pin")
    stage(two, "requirements.txt", "numpy<2\n")
    code, out = check(two)
    assert code == 1
    assert out.startswith(
        f"requirements.txt: CR001 high-risk file also changed in worktree {one} on branch "
        "claudio/one (committed there): merging the two would conflict\n"
    )


@pytest.mark.parametrize(
    "name",
    ["my notebook.ipynb", "ünïcödé/requirements-é.txt", "requirements new\nline.txt"],
)
def test_odd_file_names(worktrees: tuple[Path, Path], check: Check, name: str) -> None:
    baseline, attention = worktrees
    write(baseline, name, "theirs\n")
    commit_all(baseline, "odd name")
    stage(attention, name, "ours\n")
    code, out = check(attention, "--format", "json")
    assert code == 1
    (found,) = json.loads(out)
    assert (found["path"], found["code"], found["extra"]["merge"]) == (name, "CR001", "conflict")


# --- the real pre-commit framework ----------------------------------------------------------


def test_git_commit_in_a_linked_worktree_is_blocked_by_the_hook(
    project: Path, hook_repo: tuple[Path, str], pre_commit_home: Path
) -> None:
    snapshot, sha = hook_repo
    write(
        project,
        ".pre-commit-config.yaml",
        textwrap.dedent(
            f"""\
            repos:
              - repo: {snapshot}
                rev: {sha}
                hooks:
                  - id: conflict-risk
            """
        ),
    )
    commit_all(project, "pre-commit config")
    proc = run_pre_commit(project, "install", home=pre_commit_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    baseline = add_worktree(project, "ab12", "claudio/ab12-baseline")
    attention = add_worktree(project, "cd34", "claudio/cd34-attention")
    env = {"PRE_COMMIT_HOME": str(pre_commit_home), "PRE_COMMIT_COLOR": "never"}
    write(baseline, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n"))
    git(baseline, "commit", "-q", "-am", "pin numpy", env=env)  # nothing shared yet: passes

    write(attention, "requirements.txt", REQUIREMENTS + "einops==0.8.0\n")
    commit = gitlayer.discover(attention, environ=gitlayer.scrubbed_environ())
    proc = commit.run("commit", "-am", "einops", check=False, env=env)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert re.search(r"files a sibling worktree or branch also changes\.+Failed", output)
    assert (
        "requirements.txt: CR001 high-risk file also changed in worktree .claudio/worktrees/ab12 "
        "on branch claudio/ab12-baseline (committed there): git predicts a clean merge"
    ) in output
    assert git(attention, "log", "-1", "--format=%s") == "pre-commit config\n"  # blocked

    proc = commit.run("commit", "-am", "einops", check=False, env={**env, "SKIP": "conflict-risk"})
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # pre-commit passes no deleted file: the hook reads the staged changes itself.
    git(attention, "rm", "-q", "requirements.txt")
    proc = commit.run("commit", "-m", "no requirements", check=False, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "requirements.txt: CR001 high-risk file also changed" in proc.stdout + proc.stderr
    git(attention, "reset", "-q", "--hard")

    # A predicted conflict on an ordinary file does not fail the commit, but it shows.
    write(baseline, "src/train.py", TRAIN.replace("line 3\n", "theirs\n"))  # uncommitted
    write(attention, "src/train.py", TRAIN.replace("line 3\n", "ours\n"))
    proc = commit.run("commit", "-am", "train", check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert re.search(r"files a sibling worktree or branch also changes\.+Passed", output)
    assert (
        "src/train.py: CR003 [warning] file also changed in worktree .claudio/worktrees/ab12"
        in output
    )


def test_the_plain_git_hook_sees_a_staged_deletion(
    worktrees: tuple[Path, Path], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline, attention = worktrees
    monkeypatch.chdir(project)
    assert main(["install-hooks", "--hook", "pre-commit"]) == 0
    write(baseline, "requirements.txt", "numpy==2.1.3\n")  # uncommitted
    git(attention, "rm", "-q", "requirements.txt")

    proc = run_git(attention, "commit", "-q", "-m", "no requirements")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "requirements.txt: CR001 high-risk file also changed" in proc.stderr


# --- pull requests in CI (--pr) ------------------------------------------------------------


@pytest.fixture
def pull_request(
    github_server: GitHubServer, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> GitHubServer:
    """Pull request #7 in GitHub Actions, the project checked out; #5, #6 and #8 are open."""
    github_server.add_pull(7, head_ref="claudio/cd34-attention")
    github_server.repo.pulls[7].files = ["requirements.txt", "src/train.py", "CLAUDE.md"]
    for number, branch, files in (
        (5, "claudio/ab12-baseline", ["requirements.txt", "README.md"]),
        (6, "claudio/ef56-optimizer", ["src/optim.py"]),
        (8, "claudio/gh78-docs", ["CLAUDE.md"]),
    ):
        github_server.add_pull(number, head_ref=branch, files=files)
    github_server.add_pull(4, head_ref="old", files=["requirements.txt"], state="closed")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}), encoding="utf-8")
    for name, value in {
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/ml",
        "GITHUB_API_URL": github_server.url,
        "GITHUB_TOKEN": "t0ken",
    }.items():
        monkeypatch.setenv(name, value)
    return github_server


def test_a_pull_request_is_compared_with_the_other_open_ones(
    pull_request: GitHubServer, project: Path, check: Check
) -> None:
    code, out = check(project, "--pr")

    assert code == 1
    assert out == (
        "requirements.txt: CR001 high-risk file also changed in pull request #5 "
        "(claudio/ab12-baseline): the merge could not be predicted (its commits are not "
        "fetched: fetch +refs/pull/*/head to predict it)\n"
        "  hint: coordinate dependency changes: merge #5 first, then check that "
        "requirements.txt pins each package once; regenerate any lock file after merging #5\n"
        "Found 1 problem (1 error).\n"
    )
    gets = sorted(r.path.removeprefix("/repos/acme/ml") for r in pull_request.calls("GET"))
    assert gets == [
        "",
        "/pulls",
        "/pulls/5/files",
        "/pulls/6/files",
        "/pulls/7",
        "/pulls/7/files",
        "/pulls/8/files",
    ]


def test_a_pull_request_merge_is_predicted_when_its_head_is_fetched(
    pull_request: GitHubServer, project: Path, check: Check
) -> None:
    git(project, "checkout", "-q", "-b", "claudio/ab12-baseline")
    write(project, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n"))
    pull_request.repo.pulls[5].head_sha = commit_all(project, "pin numpy")
    git(project, "checkout", "-q", "-b", "claudio/cd34-attention", "main")
    write(project, "requirements.txt", REQUIREMENTS.replace("numpy\n", "numpy<2\n"))
    commit_all(project, "numpy below 2")
    code, out = check(project, "--pr", "--format", "json")
    assert code == 1
    (found,) = json.loads(out)
    assert found["message"] == (
        "high-risk file also changed in pull request #5 (claudio/ab12-baseline): "
        "merging the two would conflict"
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"ref": "refs/heads/main"}, "the event has no pull request: run on pull_request"),
        ({"pull_request": {"number": 99}}, "GitHub: reading pull request #99 failed: 404"),
    ],
)
def test_without_pull_requests_to_compare_it_is_a_notice(
    pull_request: GitHubServer, project: Path, check: Check, event: dict, expected: str
) -> None:
    Path(os.environ["GITHUB_EVENT_PATH"]).write_text(json.dumps(event), encoding="utf-8")
    code, out = check(project, "--pr")
    assert code == 0
    assert out.startswith(
        f".: CR104 [notice] the other open pull requests could not be compared: {expected}"
    )


def test_pr_outside_github_actions_is_a_usage_error(project: Path, check: Check) -> None:
    assert check(project, "--pr") == (
        2,
        "claudio-ci: error: --pr runs in GitHub Actions on a pull request: "
        "GITHUB_EVENT_PATH is not set\n",
    )


# --- renames, identical edits, deletions: judged by a real `git merge` ---------------------


def real_merge(here: Path, theirs: Path) -> set[str]:
    """Commit what is staged here and what is uncommitted in `theirs`, then `git merge` it
    for real: the paths the merge leaves unmerged."""
    commit_all(theirs, "theirs, committed for the real merge")
    git(here, "commit", "-q", "--no-verify", "--allow-empty", "-m", "ours")
    branch = git(theirs, "rev-parse", "HEAD").strip()
    proc = run_git(here, "merge", "-q", "--no-commit", "--no-ff", branch)
    assert proc.returncode in (0, 1), proc.stderr
    return set(filter(None, git(here, "diff", "--name-only", "-z", "--diff-filter=U").split("\0")))


def json_findings(check: Check, cwd: Path, *args: str) -> list[dict]:
    code, out = check(cwd, "--format", "json", *args)
    found = json.loads(out)
    assert code == (1 if any(f["severity"] == "error" for f in found) else 0), out
    return found


def only_overlap(found: list[dict]) -> dict:
    overlaps = [f for f in found if "merge" in f.get("extra", {})]
    assert len(overlaps) == 1, found
    return overlaps[0]


def numbered(edit: int | None = None, text: str = "") -> str:
    return "".join(f"{text if n == edit else f'line {n}'}\n" for n in range(1, 21))


@pytest.fixture
def model(project: Path) -> tuple[Path, Path]:
    """model.py and d/ (three files) on main, then the two agents' worktrees."""
    write(project, "model.py", numbered())
    for name in ("a", "b", "c"):
        write(project, f"d/{name}.py", numbered(text=name) + f"# {name}\n")
    commit_all(project, "model")
    baseline = add_worktree(project, "ab12", "claudio/ab12-baseline")
    attention = add_worktree(project, "cd34", "claudio/cd34-attention")
    return baseline, attention


def test_a_sibling_renamed_and_edited_the_file_we_edit(
    model: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = model
    (baseline / "src").mkdir(exist_ok=True)
    git(baseline, "mv", "model.py", "src/net.py")
    write(baseline, "src/net.py", numbered(5, "theirs"))
    commit_all(baseline, "move the model")
    stage(attention, "model.py", numbered(5, "ours"))

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["code"], found["extra"]["merge"]) == (
        "model.py",
        "CR003",
        "conflict",
    )
    assert found["extra"]["renamed"] == "to src/net.py there"
    assert found["extra"]["conflicts_at"] == ["src/net.py"]
    assert "conflict at src/net.py" in found["message"]
    assert real_merge(attention, baseline) == {"src/net.py"}


def test_we_renamed_and_edited_the_file_a_sibling_edits(
    model: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = model
    write(baseline, "model.py", numbered(5, "theirs"))  # uncommitted
    (attention / "src").mkdir(exist_ok=True)
    git(attention, "mv", "model.py", "src/net.py")
    stage(attention, "src/net.py", numbered(5, "ours"))

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == ("model.py", "conflict")
    assert found["extra"]["renamed"] == "to src/net.py here"
    assert found["extra"]["conflicts_at"] == ["src/net.py"]
    assert found["extra"]["changed"] == ["uncommitted"]
    assert real_merge(attention, baseline) == {"src/net.py"}


def test_renamed_apart_without_overlapping_lines_merges_cleanly(
    model: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = model
    git(baseline, "mv", "model.py", "net.py")
    write(baseline, "net.py", numbered(2, "theirs"))
    commit_all(baseline, "move")
    stage(attention, "model.py", numbered(18, "ours"))

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == ("model.py", "clean")
    assert found["extra"]["renamed"] == "to net.py there"
    assert real_merge(attention, baseline) == set()


def test_a_rename_here_and_a_deletion_there(model: tuple[Path, Path], check: Check) -> None:
    baseline, attention = model
    git(baseline, "rm", "-q", "model.py")
    commit_all(baseline, "drop the model")
    git(attention, "mv", "model.py", "net.py")

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == ("model.py", "conflict")
    assert found["extra"]["conflicts_at"] == ["net.py"]
    assert real_merge(attention, baseline) == {"net.py"}


def test_a_file_added_in_a_directory_a_sibling_renamed(
    model: tuple[Path, Path], check: Check
) -> None:
    baseline, attention = model
    git(baseline, "mv", "d", "e")
    commit_all(baseline, "rename the directory")
    stage(attention, "d/new.py", "new\n")

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == ("d/new.py", "conflict")
    assert found["extra"]["changed"] == ["its directory renamed"]
    assert found["extra"]["conflicts_at"] == ["e/new.py"]
    assert real_merge(attention, baseline) == {"e/new.py"}


def test_an_edit_in_a_directory_a_sibling_renamed(model: tuple[Path, Path], check: Check) -> None:
    baseline, attention = model
    git(baseline, "mv", "d", "e")
    write(baseline, "e/a.py", numbered(3, "theirs") + "# a\n")
    stage(attention, "d/a.py", numbered(3, "ours") + "# a\n")

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == ("d/a.py", "conflict")
    assert found["extra"]["renamed"] == "to e/a.py there"
    assert real_merge(attention, baseline) == {"e/a.py"}


@pytest.mark.parametrize("committed", [True, False])
def test_the_same_edit_on_both_sides_is_still_an_overlap(
    worktrees: tuple[Path, Path], check: Check, committed: bool
) -> None:
    baseline, attention = worktrees
    pinned = REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n")
    write(baseline, "requirements.txt", pinned)
    if committed:
        commit_all(baseline, "pin")
    stage(attention, "requirements.txt", pinned)

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["code"], found["extra"]["merge"]) == (
        "requirements.txt",
        "CR001",
        "clean",
    )
    assert found["extra"]["changed"] == ["committed" if committed else "uncommitted"]
    assert real_merge(attention, baseline) == set()


# --- nothing written ------------------------------------------------------------------------


def _times(directory: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}


def test_a_split_index_and_existing_objects_are_left_untouched(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    baseline, attention = worktrees
    git(project, "config", "core.splitIndex", "true")
    pinned = REQUIREMENTS.replace("numpy\n", "numpy==2.1.3\n")
    write(baseline, "src/train.py", "changed\n")
    git(baseline, "add", "src/train.py")  # the sibling's index is now split
    write(baseline, "requirements.txt", pinned)  # unstaged, equal to a blob we stage
    write(baseline, "scratch.py", TRAIN)  # untracked, equal to a committed blob
    for n in range(10):  # enough for git to write a new shared index, were it allowed to
        write(baseline, f"notes/{n}.md", f"{n}\n")
    stage(attention, "requirements.txt", pinned)
    git_dir = project / ".git" / "worktrees" / "ab12"
    assert list(git_dir.glob("sharedindex.*"))
    before = _times(git_dir)
    objects = _times(project / ".git" / "objects")
    os.utime(project / ".git" / "objects", (1, 1))
    time.sleep(0.02)

    found = only_overlap(json_findings(check, attention))

    assert found["extra"]["merge"] == "clean"
    after = _times(git_dir)
    assert after.keys() == before.keys()  # no new sharedindex.*, no lock left behind
    # Reading a split index refreshes its shared index's time, as any `git status` does.
    assert {p: t for p, t in after.items() if "sharedindex." not in p} == {
        p: t for p, t in before.items() if "sharedindex." not in p
    }
    assert _times(project / ".git" / "objects") == objects


def test_big_untracked_files_are_left_out_with_a_notice(
    worktrees: tuple[Path, Path], project: Path, check: Check
) -> None:
    baseline, attention = worktrees
    write(baseline, "requirements.txt", "numpy==2.1.3\n")
    (baseline / "checkpoint.pt").write_bytes(b"\0" * 300_000)
    write(baseline, "small.py", "x = 1\n")
    stage(attention, "requirements.txt", "numpy==1.26.4\n")
    sandbox = project / ".git" / "claudio" / "merge-objects"

    found = json_findings(check, attention, "--set", "conflicts.untracked_max_mb=0.1")

    (notice,) = [f for f in found if f["code"] == "CR105"]
    assert notice["path"] == ".claudio/worktrees/ab12"
    assert "checkpoint.pt" in notice["message"] and "small.py" not in notice["message"]
    assert only_overlap(found)["extra"]["merge"] == "conflict"
    assert max(p.stat().st_size for p in sandbox.rglob("*") if p.is_file()) < 100_000


def test_a_carriage_return_in_a_file_name(worktrees: tuple[Path, Path], check: Check) -> None:
    baseline, attention = worktrees
    name = "requirements\rlocal.txt"
    write(baseline, name, "theirs\n")
    commit_all(baseline, "odd name")
    stage(attention, name, "ours\n")

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == (name, "conflict")


@pytest.mark.parametrize("name", ["line\nbreak.txt", "carriage\rreturn.txt", '"quoted\\name".txt'])
def test_a_sibling_uncommitted_edit_of_an_odd_name_is_merged(
    worktrees: tuple[Path, Path], project: Path, check: Check, name: str
) -> None:
    write(project, name, "base\n")
    commit_all(project, "odd name")
    baseline, attention = worktrees
    git(baseline, "merge", "-q", "main")
    git(attention, "merge", "-q", "main")
    write(baseline, name, "theirs\n")  # unstaged: hashed from the sibling's worktree
    write(baseline, "new " + name, "untracked\n")
    stage(attention, name, "ours\n")

    found = only_overlap(json_findings(check, attention))

    assert (found["path"], found["extra"]["merge"]) == (name, "conflict")


def test_a_pull_request_that_renamed_the_file_conflicts_where_it_moved(
    pull_request: GitHubServer, project: Path, check: Check
) -> None:
    write(project, "model.py", numbered())
    commit_all(project, "model")
    git(project, "checkout", "-q", "-b", "claudio/ab12-baseline")
    git(project, "mv", "model.py", "net.py")
    write(project, "net.py", numbered(5, "theirs"))
    pull_request.repo.pulls[5].head_sha = commit_all(project, "move the model")
    pull_request.repo.pulls[5].files = ["net.py"]
    pull_request.repo.pulls[5].renamed = {"net.py": "model.py"}
    pull_request.repo.pulls[7].files = ["model.py"]
    git(project, "checkout", "-q", "-b", "claudio/cd34-attention", "main")
    write(project, "model.py", numbered(5, "ours"))
    commit_all(project, "edit the model")

    (found,) = json.loads(check(project, "--pr", "--format", "json")[1])

    assert (found["path"], found["extra"]["merge"]) == ("model.py", "conflict")
    assert found["extra"]["conflicts_at"] == ["net.py"]
