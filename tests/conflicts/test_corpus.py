"""File by file, the hook's verdicts agree with a real `git merge`, renames included.

A generated corpus of 320 branch pairs (one `git fast-import`): files renamed (with and
without edits, into other directories), whole directories moved, files added, deleted and
edited on each side, and one pair in four forked through a criss-cross history (each side
merged the other's first commit, so the pair has two merge bases). For every pair, each
file the hook reports (`file_verdicts`, on what the hook would compare: the files this side
changed since the fork point against the other side's) must get the real merge's outcome at
every path that file has on either side, and every path the real merge leaves unmerged must
be named by one of the reported files.
"""

from __future__ import annotations

import posixpath
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from claudio_ci.adapters.git import discover, scrubbed_environ
from claudio_ci.adapters.merge import MergeSandbox
from claudio_ci.conflicts.command import Side, _shared_paths, file_verdicts
from claudio_ci.conflicts.rules import Merge, Other
from tests.gitutil import fast_import, git

SEED = 20261204
PAIRS = 320
CRISS_CROSS_EVERY = 4
DIRS = ("src", "lib", "pkg")


@dataclass
class File:
    content: bytes
    origin: str  # its path when it was created: a file's identity through renames


@dataclass
class State:
    files: dict[str, File]
    moved_dirs: dict[str, str] = field(default_factory=dict)  # directory renames, old -> new


def _lines(rng: random.Random, n: int = 8) -> list[str]:
    return [f"value_{rng.randrange(10**9)} = {rng.randrange(100)}" for _ in range(n)]


def _text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _base(rng: random.Random) -> State:
    paths = ["top.py", "src/a.py", "src/b.py", "lib/c.py", "lib/d.py", "lib/e.py", "pkg/f.py"]
    return State({path: File(_text(_lines(rng)), path) for path in paths})


def _edit_lines(file: File, rng: random.Random) -> File:
    lines = file.content.decode().splitlines()
    at = rng.randrange(len(lines) or 1)
    kind = rng.choice(["modify", "modify", "insert", "delete"])
    if kind == "modify" and lines:
        lines[at] = f"edited_{rng.randrange(10**9)} = 1"
    elif kind == "delete" and len(lines) > 2:
        del lines[at]
    else:
        lines.insert(at, f"inserted_{rng.randrange(10**9)} = 2")
    return File(_text(lines), file.origin)


def _new_name(rng: random.Random) -> str:
    return f"{rng.choice(DIRS)}/n{rng.randrange(6)}.py"


def _edit(state: State, rng: random.Random) -> None:
    """One random change."""
    files = state.files
    kind = rng.choice(["lines", "lines", "lines", "add", "delete", "rename", "rename", "movedir"])
    paths = sorted(files)
    if kind == "lines" and paths:
        path = rng.choice(paths)
        files[path] = _edit_lines(files[path], rng)
    elif kind == "add":
        path = _new_name(rng)
        files[path] = File(_text(_lines(rng)), files[path].origin if path in files else path)
    elif kind == "delete" and paths:
        del files[rng.choice(paths)]
    elif kind == "rename" and paths:
        source, target = rng.choice(paths), _new_name(rng)
        if target != source:
            moved = files.pop(source)
            files[target] = _edit_lines(moved, rng) if rng.random() < 0.5 else moved
    elif kind == "movedir":
        source = rng.choice(DIRS)
        inside = [p for p in paths if posixpath.dirname(p) == source]
        target = f"{source}{rng.randrange(2, 4)}"
        if len(inside) >= 2 and not any(p.startswith(target + "/") for p in paths):
            for path in inside:
                files[f"{target}/{posixpath.basename(path)}"] = files.pop(path)
            state.moved_dirs[source] = target


def _commits(state: State, rng: random.Random) -> list[State]:
    """One or two commits of one to three changes each."""
    out = []
    for _ in range(rng.choice([1, 1, 2])):
        state = State(dict(state.files), dict(state.moved_dirs))
        for _ in range(rng.randint(1, 3)):
            _edit(state, rng)
        out.append(state)
    return out


def _commit(ref: str, mark: int, parents: list[str], old: State | None, new: State) -> bytes:
    head = f"commit {ref}\nmark :{mark}\ncommitter C <c@example.com> {1_700_000_000 + mark} +0000\n"
    out = [head.encode(), b"data 6\ncorpus\n"]
    if parents:
        out.append(f"from {parents[0]}\n".encode())
    out += [f"merge {parent}\n".encode() for parent in parents[1:]]
    before = old.files if old else {}
    out += [f"D {path}\n".encode() for path in sorted(before.keys() - new.files.keys())]
    for path, file in sorted(new.files.items()):
        if path not in before or before[path].content != file.content:
            data = file.content
            out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    return b"".join(out) + b"\n"


def _merged(ours: State, theirs: State, base: State) -> State:
    """Both sides' line edits (of different files): the resolution both merges record."""
    files = dict(ours.files)
    for path, file in theirs.files.items():
        if base.files.get(path) != file:
            files[path] = file
    return State(files)


@dataclass
class Pair:
    ours: str
    theirs: str
    states: tuple[State, ...]  # every state either branch went through, base included


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Pair]]:
    rng = random.Random(SEED)
    repo = tmp_path_factory.mktemp("conflict-corpus") / "repo"
    repo.mkdir()
    env = {"HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    git(repo, "init", "-q", "-b", "main", env=env)
    base = _base(rng)
    stream, mark, pairs = [_commit("refs/heads/main", 1, [], None, base)], 2, []
    for n in range(PAIRS):
        refs = {side: f"refs/heads/{side}/{n:03d}" for side in "ab"}
        states: list[State] = [base]
        tips = {"a": (":1", base), "b": (":1", base)}
        if n % CRISS_CROSS_EVERY == 0:  # a1, b1 edit different files; each merges the other
            a_path, b_path = rng.sample(sorted(base.files), 2)
            firsts = {}
            for side, path in (("a", a_path), ("b", b_path)):
                state = State(dict(base.files))
                state.files[path] = _edit_lines(state.files[path], rng)
                stream.append(_commit(refs[side], mark, [":1"], base, state))
                firsts[side], mark = (f":{mark}", state), mark + 1
            merged = _merged(firsts["a"][1], firsts["b"][1], base)
            for side, other in (("a", "b"), ("b", "a")):
                parents = [firsts[side][0], firsts[other][0]]
                stream.append(_commit(refs[side], mark, parents, firsts[side][1], merged))
                tips[side], mark = (f":{mark}", merged), mark + 1
            states += [firsts["a"][1], firsts["b"][1], merged]
        for side in "ab":
            parent, old = tips[side]
            for state in _commits(old, rng):
                stream.append(_commit(refs[side], mark, [parent], old, state))
                parent, old, mark = f":{mark}", state, mark + 1
                states.append(state)
        pairs.append(Pair(f"a/{n:03d}", f"b/{n:03d}", tuple(states)))
    fast_import(repo, b"".join(stream), env)
    return repo, pairs


FILE_LOCATION = re.compile(
    r"^CONFLICT \(file location\): (\S+) (?:added in|renamed to (\S+) in) .*"
    r"suggesting it should perhaps be moved to (\S+)\.$",
    re.MULTILINE,
)


def _real_merge(scratch: Path, ours: str, theirs: str) -> tuple[set[str], dict[str, str]]:
    """`git merge` for real: the unmerged paths, and where it says a directory rename
    would put a file (path -> suggested path)."""
    repo = discover(scratch, environ=scrubbed_environ())
    repo.run("reset", "-q", "--hard", ours)
    proc = repo.run("merge", "--no-commit", "--no-ff", theirs, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    moved = {renamed or added: to for added, renamed, to in FILE_LOCATION.findall(proc.stdout)}
    unmerged = set(
        filter(None, repo.output("diff", "--name-only", "-z", "--diff-filter=U").split("\0"))
    )
    repo.run("merge", "--abort", check=False)
    repo.run("clean", "-q", "-f", "-d")
    return unmerged, moved


def _names(path: str, pair: Pair, moved: dict[str, str]) -> set[str]:
    """Every path the file known here as `path` has anywhere in the pair's history, and
    where the real merge said a directory rename would move it."""
    origins = {s.files[path].origin for s in pair.states if path in s.files} or {path}
    names = {path} | {p for s in pair.states for p, f in s.files.items() if f.origin in origins}
    return names | {moved[name] for name in names if name in moved}


def _hook_verdicts(repo: Path, pair: Pair) -> dict[str, tuple[Merge, set[str]]]:
    """What the hook reports for `ours` committing against `theirs`: path -> (merge, where)."""
    git_repo = discover(repo, environ=scrubbed_environ())
    sandbox = MergeSandbox(git_repo)
    ours, theirs = (git_repo.resolve(ref) for ref in (pair.ours, pair.theirs))
    assert ours and theirs
    base = git_repo.merge_bases(ours, theirs)[0]
    side = Side(Other("branch", pair.theirs, pair.theirs), theirs)
    side.record(git_repo.changed_between(base, theirs), "committed")
    files = [f.path for f in git_repo.changed_between(base, ours)]
    paths = _shared_paths(side, files)
    verdicts = file_verdicts(sandbox, base, ours, theirs, files, paths, side.changed)
    return {
        path: (v.merge, set(v.conflicts_at or ([path] if v.merge is Merge.CONFLICT else [])))
        for path, v in verdicts.items()
    }


@pytest.mark.slow
def test_every_reported_file_gets_the_real_merge_outcome(corpus: tuple[Path, list[Pair]]) -> None:
    repo, pairs = corpus
    scratches = [repo.parent / f"scratch{n}" for n in range(2)]
    for scratch in scratches:
        git(repo, "worktree", "add", "-q", "--detach", str(scratch), "main")

    def real(scratch: Path, share: list[Pair]) -> dict[str, tuple[set[str], dict[str, str]]]:
        return {pair.ours: _real_merge(scratch, pair.ours, pair.theirs) for pair in share}

    def hook() -> dict[str, dict[str, tuple[Merge, set[str]]]]:
        return {pair.ours: _hook_verdicts(repo, pair) for pair in pairs}

    merged: dict[str, tuple[set[str], dict[str, str]]] = {}
    with ThreadPoolExecutor(3) as pool:
        predicting = pool.submit(hook)
        for found in pool.map(real, scratches, [pairs[n::2] for n in range(2)]):
            merged.update(found)
        reported = predicting.result()

    disagreements, verdicts, renamed = [], 0, 0
    for pair in pairs:
        real_conflicts, moved = merged[pair.ours]
        named: set[str] = set()
        for path, (merge, where) in reported[pair.ours].items():
            verdicts += 1
            expected = real_conflicts & _names(path, pair, moved)
            renamed += bool(where - {path})
            named |= where
            if where != expected or (merge is Merge.CONFLICT) != bool(expected):
                disagreements.append(
                    (pair.ours, path, merge.value, sorted(where), sorted(expected))
                )
        if real_conflicts - named:
            disagreements.append((pair.ours, "unreported", sorted(real_conflicts - named)))
    assert disagreements == [], "\n".join(map(str, disagreements))
    conflicted = sum(bool(unmerged) for unmerged, _ in merged.values())
    assert conflicted >= 60 and len(pairs) - conflicted >= 60, conflicted
    assert verdicts >= 300 and renamed >= 60, (verdicts, renamed)
    git_repo = discover(repo, environ=scrubbed_environ())
    criss_cross = [p for p in pairs if len(git_repo.merge_bases(p.ours, p.theirs)) > 1]
    assert len(criss_cross) >= PAIRS // CRISS_CROSS_EVERY - 5, len(criss_cross)
