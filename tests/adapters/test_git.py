"""The git layer, in real repositories with real worktrees and inside a real commit hook."""

from __future__ import annotations

import ast
import json
import stat
import sys
from pathlib import Path

import pytest

from claudio_ci.adapters import git as gitlayer
from claudio_ci.core.errors import GitError, UsageError
from tests.gitutil import add_worktree, commit_all, git


def test_discover_reports_root_git_dir_and_common_dir(git_repo: Path) -> None:
    (git_repo / "sub").mkdir()
    repo = gitlayer.discover(git_repo / "sub")
    assert repo.root == git_repo
    assert repo.git_dir == git_repo / ".git"
    assert repo.common_dir == git_repo / ".git"
    assert repo.state_dir() == git_repo / ".git" / "claudio"
    assert repo.state_dir().is_dir()
    assert repo.shallow is False


def test_linked_worktree_shares_the_common_dir(git_repo: Path) -> None:
    linked = add_worktree(git_repo, "ab12", "claudio/ab12-baseline")
    repo = gitlayer.discover(linked)
    assert repo.root == linked
    assert repo.git_dir == git_repo / ".git" / "worktrees" / "ab12"
    assert repo.common_dir == git_repo / ".git"
    assert repo.state_dir() == gitlayer.discover(git_repo).state_dir()
    assert repo.current_branch() == "claudio/ab12-baseline"


def test_outside_a_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        gitlayer.discover(tmp_path)
    assert gitlayer.find_repository(tmp_path) is None


def test_bare_repository_is_a_clear_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    with pytest.raises(GitError, match="bare repository"):
        gitlayer.discover(tmp_path / "bare.git")


def test_worktree_listing_covers_locked_prunable_detached_and_odd_names(git_repo: Path) -> None:
    feature = add_worktree(git_repo, "feature", "feature/ünïcödé")
    detached = add_worktree(git_repo, "detached")
    git(git_repo, "worktree", "lock", "--reason", "on a USB disk", str(detached))
    gone = add_worktree(git_repo, "gone", "gone")
    spaced = git_repo.parent / "with space\nand newline"
    git(git_repo, "worktree", "add", "-q", "-b", "spaced", str(spaced))
    for path in gone.rglob("*"):
        if path.is_file():
            path.unlink()
    for path in sorted(gone.rglob("*"), reverse=True):
        path.rmdir()
    gone.rmdir()

    by_path = {w.path: w for w in gitlayer.discover(git_repo).worktrees()}

    assert by_path[git_repo].branch == "main"
    assert by_path[feature].branch == "feature/ünïcödé"
    assert by_path[detached].detached and by_path[detached].branch is None
    assert by_path[detached].locked == "on a USB disk"
    assert by_path[detached].label.startswith("detached at ")
    assert by_path[gone].prunable
    assert by_path[spaced].branch == "spaced"
    siblings = {w.path for w in gitlayer.discover(feature).sibling_worktrees()}
    assert siblings == {git_repo, detached, gone, spaced}


def test_unborn_branch_has_no_head_but_lists_staged_files(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main", "fresh")
    fresh = tmp_path / "fresh"
    (fresh / "a b.txt").write_text("x\n", encoding="utf-8")
    git(fresh, "add", "a b.txt")
    repo = gitlayer.discover(fresh)
    assert repo.head() is None
    assert repo.current_branch() == "main"
    assert repo.staged_files() == [gitlayer.ChangedFile("a b.txt", "A")]


def test_detached_head_has_no_branch(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "--detach")
    repo = gitlayer.discover(git_repo)
    assert repo.current_branch() is None
    assert repo.head() == git(git_repo, "rev-parse", "HEAD").strip()


def test_staged_unstaged_untracked_and_deleted(git_repo: Path) -> None:
    (git_repo / "keep.txt").write_text("1\n", encoding="utf-8")
    (git_repo / "gone.txt").write_text("1\n", encoding="utf-8")
    commit_all(git_repo)
    (git_repo / "keep.txt").write_text("2\n", encoding="utf-8")
    (git_repo / "new\tname.txt").write_text("n\n", encoding="utf-8")
    git(git_repo, "add", "new\tname.txt")
    git(git_repo, "rm", "-q", "gone.txt")
    (git_repo / "loose.txt").write_text("u\n", encoding="utf-8")
    repo = gitlayer.discover(git_repo)

    staged = {f.path: f for f in repo.staged_files()}
    assert set(staged) == {"new\tname.txt", "gone.txt"}
    assert staged["gone.txt"].deleted
    assert [f.path for f in repo.unstaged_files()] == ["keep.txt"]
    assert repo.untracked_files() == ["loose.txt"]
    assert repo.read_blobs("", ["new\tname.txt"]) == {"new\tname.txt": b"n\n"}
    assert repo.read_blobs("HEAD", ["gone.txt", "missing"]) == {"gone.txt": b"1\n"}


def test_changed_since_uses_the_merge_base(git_repo: Path) -> None:
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "model.py").write_text("m\n", encoding="utf-8")
    commit_all(git_repo, "feature work")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "other.py").write_text("o\n", encoding="utf-8")
    commit_all(git_repo, "main work")
    repo = gitlayer.discover(git_repo)
    assert [f.path for f in repo.changed_since("main", "feature")] == ["model.py"]
    assert repo.merge_base("main", "feature") == git(git_repo, "rev-parse", "HEAD~1").strip()
    assert repo.branches() == ["feature", "main"]
    assert repo.branches(["feat*"]) == ["feature"]


def test_shallow_clone_is_detected(git_repo: Path, tmp_path: Path) -> None:
    commit_all(git_repo, "second")
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{git_repo}", "shallow")
    assert gitlayer.discover(tmp_path / "shallow").shallow is True


def test_scrubbed_environ_drops_repository_bindings() -> None:
    env = {
        "GIT_DIR": "x",
        "GIT_INDEX_FILE": "y",
        "GIT_WORK_TREE": "z",
        "GIT_EDITOR": "vi",
        "A": "1",
    }
    assert gitlayer.scrubbed_environ(env) == {"GIT_EDITOR": "vi", "A": "1"}


def test_run_git_gives_text_or_bytes_and_takes_stdin(git_repo: Path) -> None:
    odd = "line\rbreak.txt"  # text mode's universal newlines would read `\r` as `\n`
    (git_repo / odd).write_bytes(b"\xff\x00binary\r\n")
    git(git_repo, "add", "--", odd)

    listed = gitlayer.run_git(["ls-files", "-z"], cwd=git_repo).stdout
    assert gitlayer.split_z(listed) == ["README.md", odd]
    (git_repo / "raw.bin").write_bytes(b"\xff\x00")
    expected = git(git_repo, "hash-object", "raw.bin")
    for stdin in (b"\xff\x00", "\udcff\x00"):  # bytes, or text with surrogate escapes
        assert (
            gitlayer.run_git(["hash-object", "--stdin"], cwd=git_repo, input=stdin).stdout
            == expected
        )
    staged = gitlayer.run_git(["show", f":{odd}"], cwd=git_repo, text=False).stdout
    assert staged == b"\xff\x00binary\r\n"
    repo = gitlayer.discover(git_repo)
    assert repo.read_blobs("", [odd, "README.md", "absent"]) == {
        odd: b"\xff\x00binary\r\n",
        "README.md": b"# test\n",
    }


def test_run_git_failures_name_the_command_past_global_options(git_repo: Path) -> None:
    with pytest.raises(GitError, match=r"^git cat-file failed in .*: fatal: Not a valid object"):
        gitlayer.run_git(["-c", "core.quotePath=false", "cat-file", "-p", "nope"], cwd=git_repo)
    unchecked = gitlayer.run_git(["cat-file", "-e", "nope"], cwd=git_repo, check=False)
    assert unchecked.returncode != 0


def test_git_starts_in_one_place() -> None:
    """`run_git` is the only call that starts a process in the git adapter."""
    tree = ast.parse(Path(gitlayer.__file__).read_text(encoding="utf-8"))
    starts = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "subprocess"
        and node.attr in ("run", "Popen", "call", "check_call", "check_output")
    ]
    *_, primitive = (  # the implementation, after its overloads
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "run_git"
    )
    assert len(starts) == 1
    assert primitive.lineno <= starts[0] <= (primitive.end_lineno or 0)


def test_relative_paths_are_root_relative_from_any_directory(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "a.py").write_text("a\n", encoding="utf-8")
    repo = gitlayer.discover(git_repo)
    monkeypatch.chdir(git_repo / "sub")
    named = ["a.py", str(git_repo / "sub" / "a.py"), "../README.md"]
    assert gitlayer.relative_paths(repo, named) == ["sub/a.py", "README.md"]
    with pytest.raises(UsageError, match="outside the repository"):
        gitlayer.relative_paths(repo, ["../../elsewhere.py"])


HOOK = """#!{python}
import json, os, sys
sys.path.insert(0, {src!r})
from claudio_ci.adapters import git
here = git.discover()
sibling = here.open_worktree(here.sibling_worktrees()[0])
json.dump({{
    "index_file": os.environ.get("GIT_INDEX_FILE"),
    "root": str(here.root),
    "branch": here.current_branch(),
    "staged": [f.path for f in here.staged_files()],
    "sibling_root": str(sibling.root),
    "sibling_branch": sibling.current_branch(),
    "sibling_staged": [f.path for f in sibling.staged_files()],
}}, open({out!r}, "w"))
"""


def _install_hook(repo: Path, out: Path) -> None:
    hooks = Path(git(repo, "rev-parse", "--git-common-dir").strip())
    hooks = (hooks if hooks.is_absolute() else repo / hooks) / "hooks"
    hook = hooks / "pre-commit"
    src = str(Path(gitlayer.__file__).resolve().parents[2])
    hook.write_text(HOOK.format(python=sys.executable, src=src, out=str(out)), encoding="utf-8")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)


def test_inside_a_commit_hook_the_index_is_ours_and_siblings_are_scrubbed(
    git_repo: Path, tmp_path: Path
) -> None:
    (git_repo / "requirements.txt").write_text("torch\n", encoding="utf-8")
    commit_all(git_repo, "requirements")
    (git_repo / "main-only.txt").write_text("s\n", encoding="utf-8")
    git(git_repo, "add", "main-only.txt")
    linked = add_worktree(git_repo, "cd34", "claudio/cd34-attention")
    out = tmp_path / "hook.json"
    _install_hook(git_repo, out)

    # `commit -a` makes git use a temporary index and pass it in GIT_INDEX_FILE.
    (linked / "requirements.txt").write_text("torch==2.13.0\n", encoding="utf-8")
    git(linked, "commit", "-q", "-a", "-m", "pin torch")

    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["index_file"], "git did not pass GIT_INDEX_FILE to the hook"
    assert seen["root"] == str(linked)
    assert seen["branch"] == "claudio/cd34-attention"
    assert seen["staged"] == ["requirements.txt"]
    assert seen["sibling_root"] == str(git_repo)
    assert seen["sibling_branch"] == "main"
    assert seen["sibling_staged"] == ["main-only.txt"]
