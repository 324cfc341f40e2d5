"""The merge prediction agrees with a real `git merge`, on a generated corpus.

One repository, 240 branch pairs forked from one base, written by one `git fast-import`.
Each side makes 1 to 3 random edits to a few short files, so that they often collide:
line edits, inserts and deletes, a `merge=union` requirements file, a binary file, files
added, deleted, renamed and made executable. For every pair, `MergeSandbox.merge`
must give the real merge's verdict (exit 0 or 1 of `git merge --no-commit`) and the same
conflicted paths. The snapshots the hook merges (a temporary commit of an index, and of
a sibling's uncommitted worktree) must hold exactly the trees of the branches they stand for.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from claudio_ci.adapters.git import discover, scrubbed_environ
from claudio_ci.adapters.merge import MergePrediction, MergeSandbox
from tests.gitutil import fast_import, git

SEED = 20250605
PAIRS = 240
SNAPSHOT_PAIRS = 30
TEXT_FILES = [f"src/part{n}.py" for n in range(4)]
NEW_NAMES = ["src/new_a.py", "src/new_b.py", "docs/notes.md"]
LINES = 10
ATTRIBUTES = "requirements.txt merge=union\n*.bin binary\n"

Tree = dict[str, tuple[str, bytes]]  # path -> (mode, content)


def _lines(rng: random.Random, n: int = LINES) -> list[str]:
    return [f"value_{rng.randrange(10**6)} = {rng.randrange(100)}" for _ in range(n)]


def _base(rng: random.Random) -> Tree:
    tree: Tree = {path: ("100644", _text(_lines(rng))) for path in TEXT_FILES}
    tree["requirements.txt"] = ("100644", b"numpy\ntorch\npandas\n")
    tree["model.bin"] = ("100644", bytes(rng.randrange(256) for _ in range(64)) + b"\0")
    tree[".gitattributes"] = ("100644", ATTRIBUTES.encode())
    return tree


def _text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def _edit(tree: Tree, rng: random.Random) -> None:
    """One random edit, always a real change."""
    texts = [p for p in tree if p.endswith((".py", ".md"))]
    kinds = ["modify", "modify", "insert", "delete-line", "union", "binary", "add", "delete"]
    kind = rng.choice([*kinds, "rename", "chmod"])
    if kind in ("modify", "insert", "delete-line") and texts:
        path = rng.choice(texts)
        mode, content = tree[path]
        lines = content.decode().splitlines()
        at = rng.randrange(len(lines) or 1)
        if kind == "modify" and lines:
            lines[at] = f"edited_{rng.randrange(10**6)} = 1"
        elif kind == "delete-line" and len(lines) > 1:
            del lines[at]
        else:
            lines.insert(at, f"inserted_{rng.randrange(10**6)} = 2")
        tree[path] = (mode, _text(lines))
    elif kind == "union":
        mode, content = tree["requirements.txt"]
        pin = rng.choice(["numpy", "torch", "pandas", "einops"])
        tree["requirements.txt"] = (mode, content + f"{pin}=={rng.randrange(3)}.0\n".encode())
    elif kind == "binary" and "model.bin" in tree:
        tree["model.bin"] = ("100644", bytes(rng.randrange(256) for _ in range(64)) + b"\0")
    elif kind == "add":
        tree[rng.choice(NEW_NAMES)] = ("100644", _text(_lines(rng, 4)))
    elif kind == "delete" and texts:
        del tree[rng.choice(texts)]
    elif kind == "rename" and texts:
        source = rng.choice(texts)
        tree[rng.choice([n for n in NEW_NAMES if n != source])] = tree.pop(source)
    elif texts:  # chmod
        path = rng.choice(texts)
        mode, content = tree[path]
        tree[path] = ("100755" if mode == "100644" else "100644", content)


def _side(base: Tree, rng: random.Random) -> list[Tree]:
    """One or two commits of one to three edits each."""
    commits, tree = [], dict(base)
    for _ in range(rng.choice([1, 1, 1, 2])):
        for _ in range(rng.randint(1, 3)):
            _edit(tree, rng)
        commits.append(dict(tree))
    return commits


def _fast_import_commit(ref: str, parent: str, old: Tree, new: Tree, mark: int) -> bytes:
    out = [
        f"commit {ref}\nmark :{mark}\ncommitter Corpus <c@example.com> 0 +0000\n".encode(),
        b"data 6\ncorpus\n",
        f"from {parent}\n".encode(),
    ]
    for path in sorted(old.keys() - new.keys()):
        out.append(f"D {path}\n".encode())
    for path, (mode, content) in sorted(new.items()):
        if old.get(path) != (mode, content):
            out.append(f"M {mode} inline {path}\ndata {len(content)}\n".encode() + content + b"\n")
    return b"".join(out) + b"\n"


@dataclass
class Corpus:
    repo: Path
    pairs: int


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    rng = random.Random(SEED)
    repo = tmp_path_factory.mktemp("corpus") / "repo"
    repo.mkdir()
    env = {"HOME": str(repo.parent), "GIT_CONFIG_NOSYSTEM": "1"}
    git(repo, "init", "-q", "-b", "main", env=env)
    base = _base(rng)
    stream = [
        _fast_import_commit("refs/heads/main", "0" * 40, {}, base, 1).replace(
            b"from " + b"0" * 40 + b"\n", b""
        )
    ]
    mark = 2
    for pair in range(PAIRS):
        for side in "ab":
            ref, parent, old = f"refs/heads/{side}/{pair:03d}", ":1", base
            for tree in _side(base, rng):
                stream.append(_fast_import_commit(ref, parent, old, tree, mark))
                parent, old, mark = f":{mark}", tree, mark + 1
    fast_import(repo, b"".join(stream), env)
    yield Corpus(repo, PAIRS)


Real = tuple[bool, frozenset[str]]


def _real_merge(scratch: Path, ours: str, theirs: str) -> Real:
    """`git merge --no-commit` in a scratch worktree: (clean, conflicted paths)."""
    repo = discover(scratch, environ=scrubbed_environ())
    repo.run("reset", "-q", "--hard", ours)
    proc = repo.run("merge", "-q", "--no-commit", "--no-ff", theirs, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    if proc.returncode == 0:
        return True, frozenset()
    unmerged = repo.output("diff", "--name-only", "-z", "--diff-filter=U")
    repo.run("clean", "-q", "-f", "-d")  # conflict leftovers such as `name~HEAD`
    return False, frozenset(filter(None, unmerged.split("\0")))


def test_prediction_agrees_with_a_real_merge_on_every_pair(corpus: Corpus) -> None:
    repo = discover(corpus.repo, environ=scrubbed_environ())
    scratches = [corpus.repo.parent / f"scratch{n}" for n in range(2)]
    for scratch in scratches:
        git(corpus.repo, "worktree", "add", "-q", "--detach", str(scratch), "main")
    pairs = [(f"a/{pair:03d}", f"b/{pair:03d}") for pair in range(corpus.pairs)]

    def real_merges(scratch: Path, share: list[tuple[str, str]]) -> dict[tuple[str, str], Real]:
        return {pair: _real_merge(scratch, *pair) for pair in share}

    def predictions() -> dict[tuple[str, str], MergePrediction]:
        sandbox = MergeSandbox(repo)
        return {pair: sandbox.merge(*pair) for pair in pairs}

    real: dict[tuple[str, str], Real] = {}
    with ThreadPoolExecutor(len(scratches) + 1) as pool:
        predicting = pool.submit(predictions)
        for found in pool.map(real_merges, scratches, [pairs[n::2] for n in range(2)]):
            real.update(found)
        predicted = predicting.result()

    disagreements = [
        (pair, predicted[pair], real[pair])
        for pair in pairs
        if (predicted[pair].clean, predicted[pair].conflicts) != real[pair]
    ]
    assert disagreements == []
    # The corpus must exercise both outcomes, or agreement would mean little.
    conflicted = sum(not clean for clean, _ in real.values())
    assert conflicted >= 40 and corpus.pairs - conflicted >= 40, conflicted


def test_snapshots_hold_the_trees_they_stand_for(corpus: Corpus) -> None:
    """An index (our staged commit) and a sibling's unstaged and untracked edits."""
    repo = discover(corpus.repo, environ=scrubbed_environ())
    base = repo.output("rev-parse", "main").strip()
    staged_tree = corpus.repo.parent / "staged"
    sibling_tree = corpus.repo.parent / "sibling"
    for path in (staged_tree, sibling_tree):
        git(corpus.repo, "worktree", "add", "-q", "--detach", str(path), "main")
    staged = discover(staged_tree, environ=scrubbed_environ())
    sibling = discover(sibling_tree, environ=scrubbed_environ())
    sandbox = MergeSandbox(repo)
    for pair in range(SNAPSHOT_PAIRS):
        ours, theirs = f"a/{pair:03d}", f"b/{pair:03d}"
        staged.run("read-tree", "-u", "--reset", ours)  # staged, HEAD stays at base
        sibling.run("clean", "-q", "-f", "-d")
        sibling.run("read-tree", "-u", "--reset", theirs)
        sibling.run("read-tree", "--reset", base)  # every edit unstaged or untracked
        ours_commit = sandbox.index_commit(staged, base)
        theirs_commit = sandbox.worktree_commit(sibling, base).commit
        for commit, branch in ((ours_commit, ours), (theirs_commit, theirs)):
            assert sandbox.repo.output("rev-parse", f"{commit}^{{tree}}", f"{commit}^") == (
                repo.output("rev-parse", f"{branch}^{{tree}}") + base + "\n"
            )
        assert sandbox.merge(ours_commit, theirs_commit) == sandbox.merge(ours, theirs)
    assert sibling.uncommitted_files(), "the sibling's edits were committed or lost"
