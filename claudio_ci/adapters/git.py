"""The only module that runs git: `run_git`, one primitive every git command goes through.

Everything goes through the git CLI: one cheap subprocess per question (no 80 ms GitPython
import for a hook with nothing to do), the CLI honours `GIT_INDEX_FILE`, which a
`git commit -a` hook depends on, and object reads share one `git cat-file --batch` process
per call (see ARCHITECTURE.md for why GitPython is not used). Commands aimed at *another*
worktree run with the `GIT_*` variables of the current commit scrubbed, so they never see
our index. Merge prediction, built on this module, is `adapters/merge.py`.
"""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, overload

from claudio_ci.core.errors import GitError, UsageError

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


@overload
def run_git(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    check: bool = ...,
    text: Literal[True] = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_git(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str] | None = ...,
    input: str | bytes | None = ...,
    check: bool = ...,
    text: Literal[False],
) -> subprocess.CompletedProcess[bytes]: ...


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    input: str | bytes | None = None,
    check: bool = True,
    text: bool = True,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """`git ARGS` in `cwd`, output captured: the one place claudio-ci starts git.

    `env` None inherits this process's environment. Text is UTF-8 with surrogate escapes both
    ways, decoded here rather than in text mode, whose universal newlines would turn a `\r`
    in a file name into `\n` (git's -z output keeps names byte for byte); `text=False`
    returns git's bytes (blob contents). `check`: a non-zero exit is a `GitError` naming the
    subcommand, the directory and git's last line of complaint.
    """
    if isinstance(input, str):
        input = input.encode("utf-8", "surrogateescape")
    raw = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=None if env is None else dict(env),
        input=input,
        capture_output=True,
        check=False,
    )
    if check and raw.returncode != 0:
        detail = (_decode(raw.stderr).strip().splitlines() or ["no message"])[-1]
        raise GitError(f"git {_subcommand(args)} failed in {cwd}: {detail}")
    if not text:
        return raw
    return subprocess.CompletedProcess(
        raw.args, raw.returncode, _decode(raw.stdout), _decode(raw.stderr)
    )


def _decode(output: bytes) -> str:
    return output.decode("utf-8", "surrogateescape")


def _subcommand(args: Sequence[str]) -> str:
    """The git command in ARGS, past the global options (`-c key=value`, `--no-pager` ...)."""
    at = 0
    while at < len(args) and args[at].startswith("-"):
        at += 2 if args[at] in ("-c", "-C") else 1
    return args[at] if at < len(args) else "(no command)"


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


def split_z(output: str) -> list[str]:
    """The items of git's `-z` output (NUL-terminated)."""
    return [item for item in output.split("\0") if item]


def parse_name_status(output: str) -> list[ChangedFile]:
    """Parse `--name-status -z --no-renames` output: status NUL path NUL ..."""
    items = split_z(output)
    return [ChangedFile(items[i + 1], items[i][0]) for i in range(0, len(items) - 1, 2)]


@dataclass
class Repository:
    """A worktree of a git repository, and the environment git runs in for it."""

    root: Path
    git_dir: Path
    common_dir: Path
    env: dict[str, str] | None = field(default=None, repr=False)  # None: inherit ours
    shallow: bool = False

    # --- running git ------------------------------------------------------------------

    def run(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`git ARGS` in this worktree, in its environment with `env` on top."""
        return run_git(args, cwd=self.root, env=self._environ(env), input=input, check=check)

    def _environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**(self.env if self.env is not None else os.environ), **(extra or {})}

    def output(self, *args: str, **kwargs: Any) -> str:
        return self.run(*args, **kwargs).stdout

    # --- where things are ---------------------------------------------------------------

    def state_dir(self, create: bool = True) -> Path:
        """`<common git dir>/claudio`: caches and ledgers shared by every worktree."""
        path = self.common_dir / STATE_DIRNAME
        if create:
            path.mkdir(parents=True, exist_ok=True)
        return path

    def hooks_dir(self) -> Path:
        """Where git looks for hooks: `core.hooksPath` when set, else `<common git dir>/hooks`."""
        path = Path(self.output("rev-parse", "--git-path", "hooks").strip())
        return path if path.is_absolute() else self.root / path

    def config_value(self, key: str) -> str | None:
        """A git configuration value (every scope merged, last wins); None when unset."""
        proc = self.run("config", "--get", key, check=False)
        return proc.stdout.rstrip("\n") if proc.returncode == 0 else None

    def worktrees(self) -> list[Worktree]:
        """Every worktree, the main one first."""
        return parse_worktree_porcelain(self.output("worktree", "list", "--porcelain", "-z"))

    def sibling_worktrees(self) -> list[Worktree]:
        """Every other worktree of this repository (bare entries left out)."""
        here = self.root.resolve()
        return [w for w in self.worktrees() if not w.bare and w.path.resolve() != here]

    def open_worktree(self, worktree: Worktree) -> Repository:
        """Another worktree, driven with a scrubbed environment. Its git dir is read from
        its `.git` file (a `git rev-parse` per sibling costs more than its `git status`)."""
        env = scrubbed_environ(self.env)
        dotgit = worktree.path / ".git"
        try:
            if dotgit.is_dir():
                git_dir = dotgit
            else:
                text = dotgit.read_text(encoding="utf-8", errors="surrogateescape")
                git_dir = worktree.path / text.removeprefix("gitdir:").strip()
        except OSError:
            return discover(worktree.path, environ=env)
        if not (git_dir / "HEAD").is_file():
            return discover(worktree.path, environ=env)
        return Repository(worktree.path, git_dir, self.common_dir, env, self.shallow)

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
        return split_z(self.output("ls-files", "--others", "--exclude-standard", "-z"))

    def uncommitted_files(self, paths: Sequence[str] = ()) -> list[ChangedFile]:
        """Staged, unstaged and untracked (not ignored, status "?") changes: one `git status`,
        limited to `paths` when given (git then looks at those files only).

        Optional locks are off, so git never rewrites the index to refresh it: an agent
        working in this worktree never finds its index locked by a check run elsewhere.
        A submodule counts when it points at another commit, not for edits inside it.
        """
        return [
            ChangedFile(path, xy[1] if xy[1] != " " else xy[0])
            for xy, path in self.status_entries(paths)
        ]

    def status_entries(self, paths: Sequence[str] = ()) -> list[tuple[str, str]]:
        """`git status --porcelain` entries (XY, path), as `uncommitted_files` lists them."""
        out = self.output(
            "status",
            "--porcelain",
            "-z",
            "--no-renames",
            "--untracked-files=all",
            "--ignore-submodules=dirty",
            "--",
            *(f":(literal){path}" for path in paths),
            env={"GIT_OPTIONAL_LOCKS": "0"},
        )
        return [(entry[:2], entry[3:]) for entry in split_z(out)]

    def changed_since(self, base: str, head: str = "HEAD") -> list[ChangedFile]:
        """Files `head` changed since its merge base with `base` (three-dot semantics)."""
        out = self.output("diff", "--name-status", "--no-renames", "-z", f"{base}...{head}", "--")
        return parse_name_status(out)

    def changed_between(self, base: str, head: str) -> list[ChangedFile]:
        """Files `head` changed since `base` (two dots: a known merge base, no history walk)."""
        out = self.output("diff", "--name-status", "--no-renames", "-z", base, head, "--")
        return parse_name_status(out)

    def renames(self, base: str, head: str) -> tuple[set[str], dict[str, str]]:
        """What `head` changed since `base` (every path, old and new of a rename), and the
        renames among it, old path -> new path, found as a merge finds them (`-M`)."""
        items = split_z(self.output("diff", "--name-status", "-M", "-z", base, head, "--"))
        changed, renamed, at = set(), {}, 0
        while at < len(items):
            if items[at][0] in "RC":  # "R<score>" old new
                changed.add(items[at + 2])
                if items[at][0] == "R":
                    changed.add(items[at + 1])
                    renamed[items[at + 1]] = items[at + 2]
                at += 3
            else:
                changed.add(items[at + 1])
                at += 2
        return changed, renamed

    def merge_bases(self, a: str, b: str) -> list[str]:
        """Every best common ancestor of `a` and `b` (several in a criss-cross history)."""
        return self.output("merge-base", "--all", a, b, check=False).split()

    def changed_in_worktree_since(self, base: str) -> list[ChangedFile]:
        """Tracked files the worktree (commits, staged and unstaged edits) changed since its
        merge base with `base`: what a PR from here would change, before it is committed."""
        if self.resolve(base) is None:
            raise GitError(f"unknown revision {base!r} (in CI, check out with fetch-depth: 0)")
        merge_base = self.merge_base(base, "HEAD")
        if merge_base is None:
            raise GitError(f"HEAD and {base} have no common ancestor")
        out = self.output("diff", "--name-status", "--no-renames", "-z", merge_base, "--")
        return parse_name_status(out)

    def tracked_files(self) -> list[str]:
        return split_z(self.output("ls-files", "-z"))

    def files_under(self, directory: str) -> list[str]:
        """Tracked and untracked (not ignored) files under a repo-relative directory."""
        flags = ("-z", "--cached", "--others", "--exclude-standard")
        out = self.output("ls-files", *flags, "--", f":(literal){directory}")
        return list(dict.fromkeys(split_z(out)))

    def tree_files(self, rev: str, directory: str) -> list[str]:
        """Files under a repo-relative directory in commit `rev`."""
        out = self.output("ls-tree", "-r", "-z", "--name-only", rev, "--", f":(literal){directory}")
        return split_z(out)

    def is_tracked(self, path: str) -> bool:
        return bool(self.output("ls-files", "-z", "--", path))

    # --- objects ------------------------------------------------------------------------

    def read_blobs(self, rev: str, paths: Sequence[str]) -> dict[str, bytes]:
        """Files' bytes at a commit (in the index when `rev` is "") through one
        `git cat-file --batch`; absent ones left out."""
        wanted = [path for path in paths if "\n" not in path]
        if not wanted:
            return {}
        request = "".join(f"{rev}:{path}\n" for path in wanted)
        proc = run_git(
            ["cat-file", "--batch"],
            cwd=self.root,
            env=self._environ(),
            input=request,
            check=False,
            text=False,
        )
        blobs: dict[str, bytes] = {}
        out, pos = proc.stdout, 0
        for path in wanted:
            end = out.find(b"\n", pos)
            if end < 0:
                break
            header = out[pos:end].split(b" ")
            pos = end + 1
            if len(header) == 3 and header[2].isdigit():  # "<oid> <type> <size>"
                size = int(header[2])
                if header[1] == b"blob":
                    blobs[path] = out[pos : pos + size]
                pos += size + 1
        return blobs

    def index_modes(self, paths: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
        """Modes of paths in the index `env` names (GIT_INDEX_FILE); the whole index is
        listed, as any number of paths could be asked for."""
        wanted, modes = set(paths), {}
        for entry in split_z(self.output("ls-files", "--stage", "-z", env=env)):
            meta, _, path = entry.partition("\t")
            if path in wanted:
                modes[path] = meta.split()[0]
        return modes

    def index_blob_ids(self, paths: Sequence[str]) -> dict[str, str]:
        """Blob ids of paths in the index (the staged content)."""
        if not paths:
            return {}
        out = self.output("ls-files", "--stage", "-z", "--", *paths)
        ids = {}
        for entry in split_z(out):
            meta, _, path = entry.partition("\t")
            ids[path] = meta.split()[1]
        return ids

    # --- history --------------------------------------------------------------------------

    def last_commit_time(self, path: str) -> int | None:
        """Committer time (epoch seconds) of the last commit that touched `path`."""
        out = self.output("log", "-1", "--format=%ct", "--", path, check=False).strip()
        return int(out) if out else None


@functools.lru_cache(maxsize=64)
def _discover(cwd: str, env_key: tuple[tuple[str, str], ...]) -> tuple[str, str, str, bool]:
    asked = ["--is-bare-repository", "--absolute-git-dir", "--git-common-dir"]
    asked += ["--is-shallow-repository", "--show-toplevel"]
    proc = run_git(["rev-parse", *asked], cwd=cwd, env=dict(env_key), check=False)
    if proc.stdout.startswith("true"):
        raise GitError(f"{cwd}: a bare repository has no work tree to check; run inside a worktree")
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["not a git repository"])[-1]
        raise GitError(f"{cwd}: {detail.removeprefix('fatal: ')}")
    lines = proc.stdout.splitlines()
    if len(lines) != 5:  # git writes one path a line: a path holding a line break splits
        raise GitError(
            f"{cwd}: the repository's path holds a line break, which git's output cannot "
            "carry; move it to a path without one"
        )
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


def find_repository(path: Path | str | None = None) -> Repository | None:
    """The worktree around `path`, None outside a repository (for commands that also
    work outside one)."""
    try:
        return discover(path)
    except GitError:
        return None


def relative_paths(repo: Repository, filenames: Sequence[str]) -> list[str]:
    """Paths as pre-commit passes them (relative to the root), whatever the caller's cwd;
    each once, in order.

    Symlinks are not followed: a linked notebook is checked under its own name.
    """
    out = []
    for name in filenames:
        try:
            rel = Path(os.path.abspath(name)).relative_to(repo.root)
        except ValueError:
            raise UsageError(f"{name}: outside the repository {repo.root}") from None
        out.append(PurePosixPath(rel).as_posix())
    return list(dict.fromkeys(out))
