"""Merge prediction: what a real `git merge` of two commits would leave conflicted, found with
`git merge-tree --write-tree` in a sandbox that changes nothing in the repository.

conflict-risk's door to git's merge machinery. It starts no process itself: every git command
goes through `Repository.run`, and so through `run_git`, the one primitive of `adapters/git.py`.
What it adds is what a prediction needs around it: temporary commits of an index or a
worktree, an object directory of its own, merge drivers replaced by git's text merge, and the
parse of `merge-tree`'s output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from claudio_ci.adapters.git import Repository, split_z
from claudio_ci.core.errors import GitError

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
        keys = (entry.partition("\n")[0] for entry in split_z(out))
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
        items = split_z(out)
        drivers = {}
        for path, value in zip(items[::3], items[2::3], strict=True):
            driver = default if value == "unspecified" else value
            if driver in self.custom_drivers:
                drivers[path] = driver
        return drivers
