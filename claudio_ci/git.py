"""The only module that runs git.

Discovery, the index and worktree listings go through the git CLI (one cheap subprocess,
no 80 ms GitPython import for a hook with nothing to do, and the CLI honours
`GIT_INDEX_FILE`, which a `git commit -a` hook depends on); object reads go through
GitPython's persistent `cat-file` process. Commands aimed at *another* worktree run with
the `GIT_*` variables of the current commit scrubbed, so they never see our index.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claudio_ci.errors import GitError

if TYPE_CHECKING:
    import git as gitpython

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
STATE_DIRNAME = "claudio"

# What `git rev-parse --local-env-vars` prints (git 2.39), plus hook-time extras.
REPO_LOCAL_ENV = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_QUARANTINE_PATH",
)


def scrubbed_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without the variables that bind git to the current repository."""
    env = dict(os.environ if environ is None else environ)
    for name in REPO_LOCAL_ENV:
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class ChangedFile:
    """A path and its one-letter git status (A, M, D, T, U ...)."""

    path: str
    status: str

    @property
    def deleted(self) -> bool:
        return self.status == "D"


@dataclass(frozen=True)
class Worktree:
    path: Path
    head: str | None
    branch: str | None  # short name; None when detached or bare
    bare: bool = False
    detached: bool = False
    locked: str | None = None  # reason ("" when locked without one)
    prunable: str | None = None

    @property
    def label(self) -> str:
        return self.branch or (f"detached at {self.head[:8]}" if self.head else "no commit")


def parse_worktree_porcelain(output: str) -> list[Worktree]:
    """Parse `git worktree list --porcelain -z` (NUL-terminated lines, empty line between)."""
    worktrees: list[Worktree] = []
    fields: dict[str, str] = {}
    for line in [*output.split("\0"), ""]:
        if line:
            key, _, value = line.partition(" ")
            fields[key] = value
            continue
        if "worktree" in fields:
            branch = fields.get("branch")
            worktrees.append(
                Worktree(
                    path=Path(fields["worktree"]),
                    head=fields.get("HEAD"),
                    branch=branch.removeprefix("refs/heads/") if branch else None,
                    bare="bare" in fields,
                    detached="detached" in fields,
                    locked=fields.get("locked"),
                    prunable=fields.get("prunable"),
                )
            )
        fields = {}
    return worktrees


def _split_z(output: str) -> list[str]:
    return [item for item in output.split("\0") if item]


def parse_name_status(output: str) -> list[ChangedFile]:
    """Parse `--name-status -z --no-renames` output: status NUL path NUL ..."""
    items = _split_z(output)
    return [ChangedFile(items[i + 1], items[i][0]) for i in range(0, len(items) - 1, 2)]


@dataclass
class Repository:
    """A worktree of a git repository, and the environment git runs in for it."""

    root: Path
    git_dir: Path
    common_dir: Path
    env: dict[str, str] | None = field(default=None, repr=False)  # None: inherit ours
    shallow: bool = False
    _gitpython: Any = field(default=None, repr=False)

    # --- running git ------------------------------------------------------------------

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environ = dict(self.env if self.env is not None else os.environ)
        environ.update(env or {})
        proc = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=environ,
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise GitError(f"git {args[0]} failed in {self.root}: {detail}")
        return proc

    def output(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).stdout

    @property
    def gitpython(self) -> gitpython.Repo:
        """GitPython's view of this repository, for reading objects (imported lazily)."""
        if self._gitpython is None:
            import git as gitpython

            self._gitpython = gitpython.Repo(self.root)
            if self.env is not None:
                self._gitpython.git.update_environment(
                    GIT_DIR=str(self.git_dir),
                    GIT_WORK_TREE=str(self.root),
                    GIT_INDEX_FILE=str(self.git_dir / "index"),
                )
        return self._gitpython

    # --- where things are ---------------------------------------------------------------

    def state_dir(self, create: bool = True) -> Path:
        """`<common git dir>/claudio`: caches and ledgers shared by every worktree."""
        path = self.common_dir / STATE_DIRNAME
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def worktrees(self) -> list[Worktree]:
        return parse_worktree_porcelain(self.output("worktree", "list", "--porcelain", "-z"))

    def sibling_worktrees(self) -> list[Worktree]:
        """Every other worktree of this repository (bare entries left out)."""
        here = self.root.resolve()
        return [w for w in self.worktrees() if not w.bare and w.path.resolve() != here]

    def open_worktree(self, worktree: Worktree) -> Repository:
        """Another worktree, driven with a scrubbed environment."""
        return discover(worktree.path, environ=scrubbed_environ(self.env))

    # --- refs -----------------------------------------------------------------------------

    def current_branch(self) -> str | None:
        """The checked-out branch's short name, None on a detached HEAD."""
        proc = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return proc.stdout.strip() or None

    def head(self) -> str | None:
        """The commit HEAD points at, None on an unborn branch."""
        return self.resolve("HEAD")

    def resolve(self, rev: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        return proc.stdout.strip() or None

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.run("merge-base", a, b, check=False)
        return proc.stdout.strip() or None

    def branches(self, patterns: Sequence[str] = (), remote: bool = False) -> list[str]:
        prefix = "refs/remotes/" if remote else "refs/heads/"
        refs = [prefix + p for p in patterns] if patterns else [prefix]
        out = self.output("for-each-ref", "--format=%(refname)", *refs)
        return [line.removeprefix(prefix) for line in out.splitlines() if line]

    # --- changes --------------------------------------------------------------------------

    def staged_files(self) -> list[ChangedFile]:
        """What the next commit changes (honours `GIT_INDEX_FILE`); works on unborn branches."""
        base = self.head() or EMPTY_TREE
        out = self.output("diff", "--cached", "--name-status", "--no-renames", "-z", base, "--")
        return parse_name_status(out)

    def unstaged_files(self) -> list[ChangedFile]:
        return parse_name_status(self.output("diff", "--name-status", "--no-renames", "-z"))

    def untracked_files(self) -> list[str]:
        return _split_z(self.output("ls-files", "--others", "--exclude-standard", "-z"))

    def changed_since(self, base: str, head: str = "HEAD") -> list[ChangedFile]:
        """Files `head` changed since its merge base with `base` (three-dot semantics)."""
        out = self.output("diff", "--name-status", "--no-renames", "-z", f"{base}...{head}", "--")
        return parse_name_status(out)

    def tracked_files(self) -> list[str]:
        return _split_z(self.output("ls-files", "-z"))

    def is_tracked(self, path: str) -> bool:
        return bool(self.output("ls-files", "-z", "--", path))

    def ignored(self, paths: Sequence[str]) -> set[str]:
        if not paths:
            return set()
        proc = self.run("check-ignore", "-z", "--stdin", input="\0".join(paths) + "\0", check=False)
        return set(_split_z(proc.stdout))

    # --- objects ------------------------------------------------------------------------

    def read_blob(self, rev: str, path: str) -> bytes | None:
        """A file's bytes at a commit (or `:path` in the index when `rev` is ""), None if absent."""
        spec = f"{rev}:{path}" if rev else f":{path}"
        proc = subprocess.run(
            ["git", "cat-file", "blob", spec],
            cwd=self.root,
            env=dict(self.env if self.env is not None else os.environ),
            capture_output=True,
            check=False,
        )
        return proc.stdout if proc.returncode == 0 else None

    def index_blob_ids(self, paths: Sequence[str]) -> dict[str, str]:
        """Blob ids of paths in the index (the staged content)."""
        if not paths:
            return {}
        out = self.output("ls-files", "--stage", "-z", "--", *paths)
        ids = {}
        for entry in _split_z(out):
            meta, _, path = entry.partition("\t")
            ids[path] = meta.split()[1]
        return ids

    def hash_file(self, path: Path) -> str:
        return self.output("hash-object", "--", str(path)).strip()

    # --- writing (demo and setup) ---------------------------------------------------------

    def commit_all(self, message: str) -> str:
        """Stage everything and commit; the new commit's id."""
        self.run("add", "--all")
        self.run("commit", "--quiet", "--allow-empty", "--no-verify", "-m", message)
        return self.output("rev-parse", "HEAD").strip()

    def stage(self, *paths: str) -> None:
        self.run("add", "--", *paths)

    def commit_staged(self, message: str) -> str:
        self.run("commit", "--quiet", "--no-verify", "-m", message)
        return self.output("rev-parse", "HEAD").strip()

    def add_worktree(self, path: Path, branch: str, start: str = "HEAD") -> Repository:
        """`git worktree add -b <branch> <path> <start>`; the new worktree."""
        self.run("worktree", "add", "--quiet", "-b", branch, str(path), start)
        return discover(path, environ=scrubbed_environ(self.env))

    def last_commit_time(self, path: str) -> int | None:
        """Committer time (epoch seconds) of the last commit that touched `path`."""
        out = self.output("log", "-1", "--format=%ct", "--", path, check=False).strip()
        return int(out) if out else None


@functools.lru_cache(maxsize=64)
def _discover(cwd: str, env_key: tuple[tuple[str, str], ...]) -> tuple[str, str, str, bool]:
    proc = subprocess.run(
        [
            "git",
            "rev-parse",
            "--is-bare-repository",
            "--absolute-git-dir",
            "--git-common-dir",
            "--is-shallow-repository",
            "--show-toplevel",
        ],
        cwd=cwd,
        env=dict(env_key),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.stdout.startswith("true"):
        raise GitError(f"{cwd}: a bare repository has no work tree to check; run inside a worktree")
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["not a git repository"])[-1]
        raise GitError(f"{cwd}: {detail.removeprefix('fatal: ')}")
    lines = proc.stdout.splitlines()
    git_dir = lines[1]
    common = Path(lines[2])
    common_dir = common if common.is_absolute() else Path(cwd, common)
    return lines[4], git_dir, os.path.normpath(common_dir), lines[3] == "true"


def discover(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Repository:
    """The worktree containing `path` (default: the current directory, or `GIT_WORK_TREE`).

    `environ` None inherits this process's environment, as a hook must; pass
    `scrubbed_environ()` to look at a repository unrelated to the current commit.
    """
    env = dict(os.environ if environ is None else environ)
    cwd = str(Path(path or Path.cwd()).resolve())
    root, git_dir, common_dir, shallow = _discover(cwd, tuple(sorted(env.items())))
    return Repository(
        root=Path(root),
        git_dir=Path(git_dir),
        common_dir=Path(common_dir),
        env=None if environ is None else env,
        shallow=shallow,
    )


def init_repository(path: Path, branch: str = "main") -> Repository:
    """`git init` a new repository (with a committer identity if none is configured)."""
    env = scrubbed_environ()
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "--quiet", "-b", branch, str(path)],
        env=env,
        check=True,
        capture_output=True,
    )
    repo = discover(path, environ=env)
    if not repo.output("config", "user.email", check=False).strip():
        repo.run("config", "user.email", "demo@claudio-ci.invalid")
        repo.run("config", "user.name", "claudio-ci demo")
    return repo


def find_root(path: Path | str | None = None) -> Path | None:
    """The worktree root around `path`, None outside a repository."""
    try:
        return discover(path).root
    except GitError:
        return None
