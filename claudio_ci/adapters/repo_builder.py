"""Throw-away repositories built with GitPython, for `claudio-ci demo`.

`git.py` is the read facade every hook uses (the git CLI: fast start-up, and it honours
`GIT_INDEX_FILE`). Building the demo's repository and its worktrees is the opposite case:
it writes, runs once, and start-up does not matter, so GitPython reads best here. It is
imported only when the demo runs (`pip install 'claudio-ci[demo]'`).
"""

from __future__ import annotations

from pathlib import Path

import git as gitpython

from claudio_ci.adapters.git import Repository, discover, scrubbed_environ

DEMO_IDENTITY = ("claudio-ci demo", "demo@claudio-ci.invalid")


class RepoBuilder:
    """One worktree of a repository being built: stage, commit, add worktrees."""

    def __init__(self, repo: gitpython.Repo) -> None:
        self.repo = repo
        self.root = Path(repo.working_tree_dir or ".")

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> RepoBuilder:
        """`git init` a new repository, with a committer identity if none is configured."""
        path.mkdir(parents=True, exist_ok=True)
        repo = gitpython.Repo.init(path, initial_branch=branch)
        reader = repo.config_reader()
        if not reader.has_option("user", "email"):
            with repo.config_writer() as writer:
                writer.set_value("user", "name", DEMO_IDENTITY[0])
                writer.set_value("user", "email", DEMO_IDENTITY[1])
        return cls(repo)

    def commit_all(self, message: str) -> str:
        """Stage everything (as `git add --all`) and commit, skipping hooks; the commit id."""
        self.repo.git.add(all=True)
        return self.commit_staged(message)

    def stage(self, *paths: str) -> None:
        self.repo.index.add(list(paths))
        self.repo.index.write()

    def commit_staged(self, message: str) -> str:
        self.repo.git.commit("--quiet", "--allow-empty", "--no-verify", "-m", message)
        return self.repo.head.commit.hexsha

    def add_worktree(self, path: Path, branch: str, start: str = "HEAD") -> RepoBuilder:
        """`git worktree add -b BRANCH PATH START` (the post-checkout hook runs, as for a user)."""
        self.repo.git.worktree("add", "--quiet", "-b", branch, str(path), start)
        return RepoBuilder(gitpython.Repo(path))

    def reader(self) -> Repository:
        """The read facade on this worktree, as every claudio-ci command sees it."""
        return discover(self.root, environ=scrubbed_environ())
