"""The only module that runs git.

Everything goes through the git CLI: one cheap subprocess per question (no 80 ms GitPython
import for a hook with nothing to do), the CLI honours `GIT_INDEX_FILE`, which a
`git commit -a` hook depends on, and object reads share one `git cat-file --batch` process
per call (see ARCHITECTURE.md for why GitPython is not used). Commands aimed at *another*
worktree run with the `GIT_*` variables of the current commit scrubbed, so they never see
our index.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claudio_ci.core.errors import GitError

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
        # Bytes, decoded here: text mode's universal newlines would turn a `\r` in a file
        # name into `\n` (git's -z output keeps names byte for byte).
        raw = subprocess.run(
            ["git", *args],
            cwd=self.root,
            env=environ,
            input=None if input is None else input.encode("utf-8", "surrogateescape"),
            capture_output=True,
            check=False,
        )
        proc = subprocess.CompletedProcess(
            raw.args,
            raw.returncode,
            raw.stdout.decode("utf-8", "surrogateescape"),
            raw.stderr.decode("utf-8", "surrogateescape"),
        )
        if check and proc.returncode != 0:
            detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise GitError(f"git {args[0]} failed in {self.root}: {detail}")
        return proc

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
        return _split_z(self.output("ls-files", "--others", "--exclude-standard", "-z"))

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
        return [(entry[:2], entry[3:]) for entry in _split_z(out)]

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
        items = _split_z(self.output("diff", "--name-status", "-M", "-z", base, head, "--"))
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
        return _split_z(self.output("ls-files", "-z"))

    def files_under(self, directory: str) -> list[str]:
        """Tracked and untracked (not ignored) files under a repo-relative directory."""
        flags = ("-z", "--cached", "--others", "--exclude-standard")
        out = self.output("ls-files", *flags, "--", f":(literal){directory}")
        return list(dict.fromkeys(_split_z(out)))

    def tree_files(self, rev: str, directory: str) -> list[str]:
        """Files under a repo-relative directory in commit `rev`."""
        out = self.output("ls-tree", "-r", "-z", "--name-only", rev, "--", f":(literal){directory}")
        return _split_z(out)

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
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            env=dict(self.env if self.env is not None else os.environ),
            input=request.encode("utf-8", "surrogateescape"),
            capture_output=True,
            check=False,
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
        for entry in _split_z(self.output("ls-files", "--stage", "-z", env=env)):
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
        for entry in _split_z(out):
            meta, _, path = entry.partition("\t")
            ids[path] = meta.split()[1]
        return ids

    # --- writing (demo and setup) ---------------------------------------------------------

    def last_commit_time(self, path: str) -> int | None:
        """Committer time (epoch seconds) of the last commit that touched `path`."""
        out = self.output("log", "-1", "--format=%ct", "--", path, check=False).strip()
        return int(out) if out else None


# --- merge prediction -------------------------------------------------------------------

# A fixed identity: a prediction's temporary commits need no configured user. Each is dated
# like its parent, so the same inputs give the same commit ids, and a history walk without
# a commit-graph (which goes by date) stops where it would for the parent.
_PREDICTION_IDENTITY = {
    "GIT_AUTHOR_NAME": "claudio-ci",
    "GIT_AUTHOR_EMAIL": "claudio-ci@localhost",
    "GIT_COMMITTER_NAME": "claudio-ci",
    "GIT_COMMITTER_EMAIL": "claudio-ci@localhost",
}
# Commands on a copied index: never split it (a split index writes `sharedindex.*` into the
# worktree's git dir), never leave a lock or a refreshed stat anywhere but the copy.
_COPIED_INDEX_CONFIG = ("-c", "core.splitIndex=false", "-c", "core.fsmonitor=false")

SANDBOX_DIRNAME = "merge-objects"
SANDBOX_MAX_AGE_S = 3600

# git's built-in text merge, run in place of a user's merge driver: it rewrites %A and
# exits with the number of conflicts, which is what git expects of a driver.
TEXT_MERGE_DRIVER = "git merge-file --quiet --marker-size=%L %A %O %B"


@dataclass(frozen=True)
class MergePrediction:
    """What a real `git merge` of two commits would do, as `git merge-tree` predicts it."""

    clean: bool
    conflicts: frozenset[str] = frozenset()  # paths the merge would leave conflicted
    # Where git's conflicts move files, beyond the renames a diff finds: a rename/rename
    # (source -> both new names) and a file put where a directory rename suggests.
    moves: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)

    def conflicted_at(self, paths: Sequence[str]) -> list[str]:
        """Where the merge leaves a conflict for a file known by any of `paths` (its name
        at the merge base and on each side): those conflicted paths, sorted."""
        names = set(paths)
        names |= {target for source, targets in self.moves if source in names for target in targets}
        return sorted(names & self.conflicts)


@dataclass(frozen=True)
class WorktreeSnapshot:
    """A temporary commit of a worktree, and the untracked files it leaves out as too big."""

    commit: str
    too_big: tuple[str, ...] = ()


def parse_merge_tree(output: str, clean: bool) -> MergePrediction:
    """Parse `git merge-tree --write-tree --name-only -z`: the tree, the conflicted paths,
    an empty item, then messages (`<count> NUL <path>... NUL <type> NUL <text> NUL`)."""
    items = output.split("\0")
    conflicts, at = [], 1
    while at < len(items) and items[at]:
        conflicts.append(items[at])
        at += 1
    at += 1
    moves = []
    while at < len(items) and items[at].isdigit():
        count = int(items[at])
        paths = items[at + 1 : at + 1 + count]
        kind = items[at + 1 + count] if at + 1 + count < len(items) else ""
        if kind == "CONFLICT (rename/rename)" and len(paths) == 3:  # source, ours, theirs
            moves.append((paths[0], tuple(paths[1:])))
        elif kind == "CONFLICT (directory rename suggested)" and len(paths) == 2:  # to, from
            moves.append((paths[1], (paths[0],)))
        at += count + 3
    return MergePrediction(clean, frozenset(conflicts), tuple(moves))


def _c_quote(path: str) -> str:
    """A path as git reads one per line (`--stdin-paths`): C-quoted when it needs to be."""
    if path.isprintable() and not path.startswith('"') and "\\" not in path:
        return path
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for char in path:
        if char in escapes:
            out.append(escapes[char])
        elif char.isprintable():
            out.append(char)
        else:
            out.append("".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape")))
    return '"' + "".join(out) + '"'


def _delete_stale_objects(directory: Path, before: float) -> None:
    """Delete the loose objects (and temporary files) under `directory` older than `before`."""
    for fanout in os.scandir(directory):
        if not fanout.is_dir():
            continue
        for entry in os.scandir(fanout.path):
            with contextlib.suppress(FileNotFoundError):  # another check got there first
                if entry.stat().st_mtime < before:
                    os.unlink(entry.path)


def _quote_alternate(path: str) -> str:
    """A path as `GIT_ALTERNATE_OBJECT_DIRECTORIES` reads it (C-quoted when it holds a `:`)."""
    if ":" not in path and not path.startswith('"'):
        return path
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MergeSandbox:
    """Predicts merges without touching the repository's objects, refs or indexes, and
    without running anyone's merge driver.

    - Trees, temporary commits and merge results go to an object directory of their own,
      `<common git dir>/claudio/merge-objects`, put in front of the repository's
      (`GIT_OBJECT_DIRECTORY` over `GIT_ALTERNATE_OBJECT_DIRECTORIES`, the way git
      quarantines a push): the repository's object store gains nothing and no ref moves.
      Objects untouched for an hour go when the next sandbox opens (git refreshes an
      object's time whenever it writes it again); the fan-out directories stay, since
      removing directories costs more than a whole prediction on some disks.
    - Indexes are read from temporary copies, so no worktree's index is ever locked.
      (`git stash create` refreshes and locks the sibling's index, and fails while that
      sibling's agent is in the middle of a `git add`; it also leaves untracked files out.)
    - `git merge-tree` (2.39) reads `.gitattributes` from the worktree it runs in, as a
      real merge does, and runs each path's `merge=<driver>`. The built-in drivers (text,
      union, binary) stay; every custom driver the configuration defines
      (`merge.<name>.driver`) is replaced by `git merge-file`, the built-in text merge, with
      `-c merge.<name>.driver=...` for this command only. (git 2.39 has no `--attr-source`,
      and `core.attributesFile` cannot override a tree's `.gitattributes`.)

    It is safe to share between threads and processes. `repo` is the repository seen
    through the sandbox: it reads the sandbox's commits too.
    """

    def __init__(self, repo: Repository) -> None:
        objects = Path(repo.output("rev-parse", "--git-path", "objects").strip())
        self.objects = repo.state_dir(create=False) / SANDBOX_DIRNAME
        try:
            self.objects.mkdir(parents=True, exist_ok=True)
            shared = os.access(self.objects, os.W_OK)  # False on a read-only file system
        except OSError:
            shared = False
        if shared:
            _delete_stale_objects(self.objects, time.time() - SANDBOX_MAX_AGE_S)
        else:  # a read-only repository still gets its prediction, from objects of its own
            self.objects = Path(tempfile.mkdtemp(prefix="claudio-merge-objects-"))
            weakref.finalize(self, shutil.rmtree, self.objects, ignore_errors=True)
        self.env = {
            **_PREDICTION_IDENTITY,
            "GIT_OBJECT_DIRECTORY": str(self.objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": _quote_alternate(str(repo.root / objects)),
        }
        inherited = repo.env if repo.env is not None else os.environ
        self.repo = Repository(
            repo.root, repo.git_dir, repo.common_dir, {**inherited, **self.env}, repo.shallow
        )
        self.custom_drivers = self._custom_drivers()
        self._times: dict[str, int] = {}

    def _custom_drivers(self) -> list[str]:
        """Names of the merge drivers the configuration defines (`merge.<name>.driver`)."""
        pattern = r"^merge\..+\.driver$"
        out = self.repo.run("config", "-z", "--get-regexp", pattern, check=False).stdout
        keys = (entry.partition("\n")[0] for entry in _split_z(out))
        return list(dict.fromkeys(key[len("merge.") : -len(".driver")] for key in keys))

    def index_commit(self, repo: Repository, parent: str | None) -> str:
        """A commit of what `repo`'s index holds (`GIT_INDEX_FILE` honoured): the next commit."""
        return self._commit(self._tree(repo), parent)

    def worktree_commit(
        self, repo: Repository, parent: str | None, max_untracked: int | None = None
    ) -> WorktreeSnapshot:
        """A commit of `repo`'s worktree as `git add --all` would stage it: staged, unstaged
        and untracked (not ignored) files, all of which its next commits may hold; untracked
        files over `max_untracked` bytes are left out (a checkpoint, a data dump)."""
        too_big: list[str] = []
        tree = self._tree(repo, lambda env: self._add_worktree(repo, env, max_untracked, too_big))
        return WorktreeSnapshot(self._commit(tree, parent), tuple(too_big))

    def _tree(
        self, repo: Repository, update: Callable[[dict[str, str]], None] | None = None
    ) -> str:
        """The tree of a copy of `repo`'s index, after `update(env)` changed the copy."""
        index = repo.root / repo.output("rev-parse", "--git-path", "index").strip()
        fd, copy = tempfile.mkstemp(prefix="claudio-", suffix=".index")
        os.close(fd)
        try:
            if index.exists():
                shutil.copyfile(index, copy)
            else:  # nothing staged yet: git starts from an empty index
                os.unlink(copy)
            env = {**self.env, "GIT_INDEX_FILE": copy}  # on top of a sibling's own environment
            if update is not None:
                update(env)
            return repo.output(*_COPIED_INDEX_CONFIG, "write-tree", env=env).strip()
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(copy)

    def _add_worktree(
        self, repo: Repository, env: dict[str, str], max_untracked: int | None, too_big: list[str]
    ) -> None:
        """Put the worktree's unstaged and untracked files in the copied index, writing into
        the sandbox only the blobs the repository lacks: `git add` would write every one, and
        writing an object that exists refreshes its file's time in the repository."""
        files: list[tuple[str, str]] = []  # (path, mode)
        links: list[tuple[str, bytes]] = []
        entries: list[str] = []
        gone: list[str] = []
        for xy, path in repo.status_entries():
            if xy[1] == " ":  # staged as it is in the worktree: the index has it already
                continue
            try:
                info = os.lstat(repo.root / path)
            except (FileNotFoundError, NotADirectoryError):
                gone.append(path)
                continue
            if stat.S_ISLNK(info.st_mode):
                links.append((path, os.fsencode(os.readlink(repo.root / path))))
            elif not stat.S_ISREG(info.st_mode):
                continue  # a submodule: its recorded commit stays
            elif xy == "??" and max_untracked is not None and info.st_size > max_untracked:
                too_big.append(path)
            else:
                files.append((path, "100755" if info.st_mode & stat.S_IXUSR else "100644"))
        if files and repo.config_value("core.filemode") == "false":
            # git add keeps the staged mode of a tracked file where the file system has none
            staged = repo.index_modes([path for path, _ in files], env)
            files = [(path, staged.get(path, mode)) for path, mode in files]
        ids = self._file_blobs(repo, env, [path for path, _ in files])
        entries += [f"{mode} {ids[path]}\t{path}" for path, mode in files]
        entries += [
            f"120000 {self._link_blob(repo, env, target)}\t{path}" for path, target in links
        ]
        if gone:
            remove = ("update-index", "-z", "--force-remove", "--stdin")
            repo.run(*_COPIED_INDEX_CONFIG, *remove, input="\0".join(gone) + "\0", env=env)
        if entries:
            repo.run(
                *_COPIED_INDEX_CONFIG,
                "update-index",
                "-z",
                "--index-info",
                input="".join(entry + "\0" for entry in entries),
                env=env,
            )

    def _missing(self, repo: Repository, env: dict[str, str], ids: Sequence[str]) -> set[str]:
        """Which objects neither the repository nor the sandbox has (reading changes no time)."""
        if not ids:
            return set()
        out = repo.output(
            "cat-file", "--batch-check", input="".join(i + "\n" for i in ids), env=env
        )
        return {line.split()[0] for line in out.splitlines() if line.endswith(" missing")}

    def _file_blobs(
        self, repo: Repository, env: dict[str, str], paths: list[str]
    ) -> dict[str, str]:
        """Blob ids of worktree files, filtered as `git add` would; new ones written."""
        if not paths:
            return {}
        request = "".join(_c_quote(path) + "\n" for path in paths)
        hashed = repo.output("hash-object", "--stdin-paths", input=request, env=env).split()
        ids = dict(zip(paths, hashed, strict=True))
        absent = self._missing(repo, env, hashed)
        missing = [path for path in paths if ids[path] in absent]
        if missing:
            request = "".join(_c_quote(path) + "\n" for path in missing)
            written = repo.output("hash-object", "-w", "--stdin-paths", input=request, env=env)
            ids.update(zip(missing, written.split(), strict=True))
        return ids

    def _link_blob(self, repo: Repository, env: dict[str, str], target: bytes) -> str:
        text = target.decode("utf-8", "surrogateescape")
        flags = ("hash-object", "--stdin", "--no-filters")
        blob = repo.output(*flags, input=text, env=env).strip()
        if self._missing(repo, env, [blob]):
            repo.run(*flags, "-w", input=text, env=env)
        return blob

    def _commit(self, tree: str, parent: str | None) -> str:
        parents = ["-p", parent] if parent else []
        message = "claudio-ci merge prediction"
        when = self._time(parent) if parent else 0
        date = {"GIT_AUTHOR_DATE": f"@{when} +0000", "GIT_COMMITTER_DATE": f"@{when} +0000"}
        return self.repo.output("commit-tree", tree, *parents, "-m", message, env=date).strip()

    def _time(self, commit: str) -> int:
        if commit not in self._times:
            out = self.repo.output("log", "-1", "--format=%ct", commit, "--")
            self._times[commit] = int(out.strip() or 0)
        return self._times[commit]

    def merge(self, ours: str, theirs: str) -> MergePrediction:
        """`git merge-tree --write-tree`: exit 0 is a clean merge, 1 a conflicted one."""
        overrides = []
        for name in self.custom_drivers:
            overrides += ["-c", f"merge.{name}.driver={TEXT_MERGE_DRIVER}"]
        flags = ("--write-tree", "--name-only", "-z")
        proc = self.repo.run(*overrides, "merge-tree", *flags, ours, theirs, check=False)
        if proc.returncode not in (0, 1):
            detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise GitError(f"git merge-tree failed: {detail.removeprefix('fatal: ')}")
        return parse_merge_tree(proc.stdout, clean=proc.returncode == 0)

    def custom_driver_paths(self, paths: Sequence[str]) -> dict[str, str]:
        """Which of `paths` a custom merge driver would merge in a real merge: path -> name."""
        if not self.custom_drivers or not paths:
            return {}
        default = self.repo.config_value("merge.default")
        out = self.repo.output(
            "check-attr", "-z", "--stdin", "merge", input="\0".join(paths) + "\0"
        )
        items = _split_z(out)
        drivers = {}
        for path, value in zip(items[::3], items[2::3], strict=True):
            driver = default if value == "unspecified" else value
            if driver in self.custom_drivers:
                drivers[path] = driver
        return drivers


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
