"""Merge prediction's sandbox and parser, in real repositories (the corpus against a real
`git merge` is tests/adapters/test_merge_prediction.py)."""

from __future__ import annotations

import os
from pathlib import Path

from claudio_ci.adapters.git import discover, scrubbed_environ
from claudio_ci.adapters.merge import MergePrediction, MergeSandbox, parse_merge_tree
from tests.gitutil import commit_all, git


def test_a_merge_sandbox_works_where_the_state_dir_cannot_be_written(git_repo: Path) -> None:
    """A read-only repository (here: `<git dir>/claudio` is a file) still gets predictions."""
    (git_repo / ".git" / "claudio").write_text("not a directory", encoding="utf-8")
    (git_repo / "a.txt").write_text("base\n", encoding="utf-8")
    commit_all(git_repo, "base")
    for branch, text in (("ours", "one\n"), ("theirs", "two\n")):
        git(git_repo, "checkout", "-q", "-b", branch, "main")
        (git_repo / "a.txt").write_text(text, encoding="utf-8")
        commit_all(git_repo, branch)
    sandbox = MergeSandbox(discover(git_repo, environ=scrubbed_environ()))
    objects = sandbox.objects
    assert sandbox.merge("ours", "theirs") == MergePrediction(False, frozenset({"a.txt"}))
    assert not objects.is_relative_to(git_repo)
    del sandbox  # its private objects go with it
    assert not objects.exists()
    assert (git_repo / ".git" / "claudio").read_text(encoding="utf-8") == "not a directory"


def test_parse_merge_tree_reads_conflicts_and_where_git_moves_files() -> None:
    output = "\0".join(
        [
            "a" * 40,
            "e/new.py",
            "src/n0.py",
            "",
            "2",
            "e/new.py",
            "d/new.py",
            "CONFLICT (directory rename suggested)",
            "CONFLICT (file location): d/new.py added in ours ...\n",
            "3",
            "src/a.py",
            "src/n0.py",
            "lib/n3.py",
            "CONFLICT (rename/rename)",
            "CONFLICT (rename/rename): src/a.py renamed to ...\n",
            "1",
            "src/n0.py",
            "Auto-merging",
            "Auto-merging src/n0.py\n",
            "",
        ]
    )
    prediction = parse_merge_tree(output, clean=False)
    assert prediction == MergePrediction(False, frozenset({"e/new.py", "src/n0.py"}))
    assert prediction.conflicted_at(["d/new.py"]) == ["e/new.py"]
    assert prediction.conflicted_at(["src/a.py"]) == ["src/n0.py"]
    assert prediction.conflicted_at(["lib/n3.py"]) == []  # a destination leads nowhere else
    assert parse_merge_tree("b" * 40 + "\0", clean=True).conflicts == frozenset()


def test_a_worktree_snapshot_holds_what_git_add_all_would_stage(git_repo: Path) -> None:
    for name, text in (("kept.txt", "k\n"), ("edited.txt", "e\n"), ("gone.txt", "g\n")):
        (git_repo / name).write_text(text, encoding="utf-8")
    os.symlink("kept.txt", git_repo / "old-link")
    commit_all(git_repo, "base")
    (git_repo / "edited.txt").write_text("edited\n", encoding="utf-8")
    (git_repo / "gone.txt").unlink()
    (git_repo / "old-link").unlink()
    os.symlink("edited.txt", git_repo / "old-link")  # a link pointing elsewhere
    os.symlink("nowhere", git_repo / "new-link")
    (git_repo / "deep" / "er").mkdir(parents=True)
    (git_repo / "deep" / "er" / "run.sh").write_text("#!/bin/sh\n", encoding="utf-8")
    (git_repo / "deep" / "er" / "run.sh").chmod(0o755)
    (git_repo / "big.bin").write_bytes(b"\0" * 2048)
    repo = discover(git_repo, environ=scrubbed_environ())
    head = repo.head()

    snapshot = MergeSandbox(repo).worktree_commit(repo, head, max_untracked=1024)

    assert snapshot.too_big == ("big.bin",)
    (git_repo / "big.bin").unlink()
    git(git_repo, "add", "--all")
    expected = git(git_repo, "write-tree").strip()
    sandbox = MergeSandbox(repo)
    assert sandbox.repo.output("rev-parse", f"{snapshot.commit}^{{tree}}").strip() == expected


def test_a_snapshot_keeps_staged_modes_where_the_file_system_has_none(git_repo: Path) -> None:
    script = git_repo / "run.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    commit_all(git_repo, "base")
    git(git_repo, "config", "core.fileMode", "false")
    script.chmod(0o644)  # as a file system without modes shows it
    script.write_text("#!/bin/sh\necho edited\n", encoding="utf-8")
    repo = discover(git_repo, environ=scrubbed_environ())
    sandbox = MergeSandbox(repo)

    commit = sandbox.worktree_commit(repo, repo.head()).commit

    listed = sandbox.repo.output("ls-tree", commit, "run.sh")
    assert listed.startswith("100755 blob ")
    git(git_repo, "add", "--all")
    assert listed.split()[2] == git(git_repo, "ls-files", "--stage", "run.sh").split()[1]
