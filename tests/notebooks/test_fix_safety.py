"""`check notebooks --fix` never loses an edit: every staged, unstaged and untracked state of
both files of a pair, run as the CLI, as pre-commit (which stashes unstaged edits around its
hooks), through the plain git hook and through the real pre-commit framework."""

from __future__ import annotations

import itertools
import json
import subprocess
import textwrap
from pathlib import Path

import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli

from claudio_ci.cli import main
from tests.gitutil import commit_all, git, run_git, run_pre_commit
from tests.notebooks.test_command import edit_cell, make_pair

NB, PY = "notebooks/nb.ipynb", "notebooks/nb.py"
# Each file's edits touch cells of their own, so that every edit can be found afterwards.
CELLS = ("a = 1", "b = 2", "c = 3", "d = 4")
EDITS = {NB: {"staged": (1, "a = 1"), "unstaged": (2, "b = 2")},
         PY: {"staged": (3, "c = 3"), "unstaged": (4, "d = 4")}}  # fmt: skip
STATES = ("committed", "staged", "unstaged", "staged+unstaged", "added", "untracked")


@pytest.fixture
def cli(run_cli):
    """`cli(cwd, *args)`: `claudio-ci check notebooks ARGS` in `cwd`; (exit, all output)."""

    def run(cwd: Path, *args: str) -> tuple[int, str]:
        result = run_cli("check", "notebooks", *args, cwd=cwd)
        return result.code, result.out + result.err

    return run


def marker(path: str, kind: str) -> str:
    return f"{'nb' if path == NB else 'py'}_{kind} = 1"


def edit(repo: Path, path: str, kind: str) -> str:
    """One user edit of `path` (a cell's source replaced by a marker); the marker."""
    index, old = EDITS[path][kind]
    new = marker(path, kind)
    if path == NB:
        edit_cell(repo / NB, index, new)
    else:
        twin = repo / PY
        twin.write_text(twin.read_text("utf-8").replace(old, new), "utf-8")
    return new


def set_up(repo: Path, states: dict[str, str]) -> list[tuple[str, str]]:
    """A pair in the given states; the (file, marker) of every edit made."""
    make_pair(repo, "notebooks/nb", *CELLS)
    tracked = [p for p in (NB, PY) if states[p] not in ("added", "untracked")]
    if tracked:
        git(repo, "add", *tracked)
    git(repo, "commit", "-q", "--allow-empty", "-m", "pair")
    made = []
    for path in (NB, PY):
        state = states[path]
        if state in ("staged", "staged+unstaged", "added"):
            made.append((path, edit(repo, path, "staged")))
            git(repo, "add", path)
        if state in ("unstaged", "staged+unstaged", "untracked"):
            made.append((path, edit(repo, path, "unstaged")))
    return made


def worktree_text(repo: Path, path: str) -> str:
    return (repo / path).read_text("utf-8")


def index_text(repo: Path, path: str) -> str | None:
    proc = run_git(repo, "show", f":{path}")
    return proc.stdout if proc.returncode == 0 else None


def stashed_like_pre_commit(repo: Path, run) -> tuple[int, str]:
    """What pre-commit does around its hooks: unstaged edits of tracked files are saved as a
    patch and reverted, the hooks run, the patch is applied again; if it conflicts with what
    the hooks changed, their changes are rolled back (pre-commit's staged_files_only)."""
    patch = git(repo, "diff", "--binary", "--no-color", "--no-ext-diff")
    if patch:
        git(repo, "checkout", "--", ".")
    result = run()
    if patch:
        applied = subprocess.run(
            ["git", "apply", "--whitespace=nowarn"], cwd=repo, input=patch, text=True, check=False
        )
        if applied.returncode != 0:
            git(repo, "checkout", "--", ".")
            subprocess.run(["git", "apply"], cwd=repo, input=patch, text=True, check=True)
    return result


@pytest.mark.parametrize("stash", [False, True], ids=["plain", "pre-commit-stash"])
@pytest.mark.parametrize(
    ("nb_state", "py_state"), list(itertools.product(STATES, STATES)), ids="-".join
)
def test_every_edit_survives_fix(
    git_repo: Path, cli, nb_state: str, py_state: str, stash: bool
) -> None:
    made = set_up(git_repo, {NB: nb_state, PY: py_state})
    staged_before = {p: index_text(git_repo, p) for p in (NB, PY)}
    before = {p: worktree_text(git_repo, p) for p in (NB, PY)}

    def fix() -> tuple[int, str]:
        return cli(git_repo, "--fix", NB, PY)

    code, out = stashed_like_pre_commit(git_repo, fix) if stash else fix()

    assert "Traceback" not in out
    for path, text in made:
        assert text in worktree_text(git_repo, path), (path, text, out)
    assert {p: index_text(git_repo, p) for p in (NB, PY)} == staged_before  # never staged
    edited = {path for path, _ in made}
    if len(edited) == 2 and not stash:
        assert "NB005" in out, out
        assert {p: worktree_text(git_repo, p) for p in (NB, PY)} == before
    if len(edited) == 1 and code == 1 and not stash:
        ((source,),) = [edited]
        other = PY if source == NB else NB
        for _, text in made:
            assert text in worktree_text(git_repo, other)  # the edit was carried over
        assert "fixed: wrote" in out


def test_a_fresh_pair_first_commit_syncs_from_the_notebook(git_repo: Path, cli) -> None:
    """`jupytext --set-formats ipynb,md:myst` on a notebook with a language_info, both new:
    jupytext's own sync adds `default_lexer`; the notebook is the source."""
    folder = git_repo / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")],
        metadata={
            "kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
            "language_info": {"name": "R", "pygments_lexer": "r", "version": "4.3.1"},
        },
    )
    notebook.nbformat_minor = 4
    for cell in notebook.cells:
        del cell["id"]
    nbformat.write(notebook, folder / "nb.ipynb", version=nbformat.NO_CONVERT)
    pairing = ["--quiet", "--set-formats", "ipynb,md:myst", str(folder / "nb.ipynb")]
    assert jupytext_cli(pairing) == 0
    git(git_repo, "add", "notebooks")
    flag = "--set=notebooks.formats=ipynb,md:myst"
    code, out = cli(git_repo, flag)
    assert code == 1
    assert "NB005" not in out and "NB006" not in out
    assert (
        "--fix syncs from notebooks/nb.ipynb (notebooks/nb.md is exactly what jupytext writes "
        "from it)"
    ) in out
    assert cli(git_repo, flag, "--fix")[0] == 1
    assert cli(git_repo, flag) == (0, "")
    synced = {p.name: p.read_bytes() for p in folder.iterdir()}
    jupytext_cli(["--quiet", "--sync", str(folder / "nb.ipynb")])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == synced


def julia_pair(repo: Path) -> Path:
    """A Julia notebook as IJulia saves it (metadata keys unsorted, `name` first; a markdown
    cell ending in a blank line), paired by `jupytext --set-formats ipynb,md:myst`: jupytext
    writes the header in the notebook's key order but saves the notebook sorted, and MyST
    drops the blank line, so the twin is neither what jupytext writes from the saved
    notebook nor does it read back as that notebook."""
    folder = repo / "notebooks"
    folder.mkdir()
    code = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Julia\n"]},
            {"cell_type": "markdown", "metadata": {}, "source": ["Hello\n", "\n"]},
            {**code, "source": ["x = 1"]},
        ],
        "metadata": {
            "language_info": {"name": "julia", "file_extension": ".jl", "version": "1.0.3"},
            "kernelspec": {"name": "julia-1.0", "display_name": "Julia 1.0.3", "language": "julia"},
        },
        "nbformat": 4,
        "nbformat_minor": 2,
    }
    path = folder / "nb.ipynb"
    path.write_text(json.dumps(notebook, indent=1), "utf-8")
    assert jupytext_cli(["--quiet", "--set-formats", "ipynb,md:myst", str(path)]) == 0
    return path


MYST = "--set=notebooks.formats=ipynb,md:myst"


def test_a_fresh_myst_pair_that_jupytext_round_trips_differently_syncs(git_repo: Path, cli) -> None:
    notebook = julia_pair(git_repo)
    git(git_repo, "add", "notebooks")
    code, out = cli(git_repo, MYST)
    assert code == 1
    assert "NB005" not in out
    assert (
        "--fix syncs from notebooks/nb.ipynb (a new pair: notebooks/nb.md reads back as what "
        "jupytext writes from the notebook)"
    ) in out
    assert cli(git_repo, MYST, "--fix")[0] == 1
    assert cli(git_repo, MYST) == (0, "")
    folder = notebook.parent
    synced = {p.name: p.read_bytes() for p in folder.iterdir()}
    jupytext_cli(["--quiet", "--sync", str(notebook)])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == synced
    assert "Hello" in worktree_text(git_repo, "notebooks/nb.md")


@pytest.mark.parametrize("staged", [True, False])
def test_a_fresh_myst_pair_whose_twin_got_an_edit_refuses(
    git_repo: Path, cli, staged: bool
) -> None:
    julia_pair(git_repo)
    git(git_repo, "add", "notebooks")
    twin = git_repo / "notebooks" / "nb.md"
    twin.write_text(twin.read_text("utf-8").replace("Hello", "Hello, typed in the twin"), "utf-8")
    if staged:
        git(git_repo, "add", "notebooks")
    before = {p.name: p.read_bytes() for p in twin.parent.iterdir()}
    code, out = cli(git_repo, MYST, "--fix")
    assert (code, "NB005" in out, "fixed" in out) == (1, True, False)
    assert {p.name: p.read_bytes() for p in twin.parent.iterdir()} == before


def test_a_new_twin_with_an_edit_of_its_own_is_not_overwritten(git_repo: Path, cli) -> None:
    make_pair(git_repo, "notebooks/nb", *CELLS)
    edit(git_repo, PY, "unstaged")
    edit_cell(git_repo / NB, 1, "nb_edit = 1")
    code, out = cli(git_repo, "--fix")
    assert (code, "NB005" in out) == (1, True)
    assert "py_unstaged = 1" in worktree_text(git_repo, PY)
    assert "nb_edit = 1" in worktree_text(git_repo, NB)


# --- the issue's case through the hooks users install -----------------------------------------


def issue_case(repo: Path) -> None:
    """Stage an edit of the twin, then change another cell of the notebook, unstaged."""
    make_pair(repo, "notebooks/nb", *CELLS)
    commit_all(repo, "pair")
    edit(repo, PY, "staged")
    git(repo, "add", PY)
    edit(repo, NB, "unstaged")


def test_the_plain_git_hook_refuses_both_sides_changed(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(git_repo)
    assert main(["install-hooks", "--hook", "pre-commit"]) == 0
    capsys.readouterr()
    issue_case(git_repo)
    proc = run_git(git_repo, "commit", "-q", "-m", "edit")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "NB005 both files changed since the last commit and are out of sync" in output
    assert f"{NB} changed, not staged and {PY} staged" in output
    assert marker(NB, "unstaged") in worktree_text(git_repo, NB)
    assert marker(PY, "staged") in worktree_text(git_repo, PY)


def use_fix_hook(repo: Path, hook_repo: tuple[Path, str]) -> None:
    """A `.pre-commit-config.yaml` running this repository's jupytext-pairing with --fix."""
    snapshot, sha = hook_repo
    config = f"""\
        repos:
          - repo: {snapshot}
            rev: {sha}
            hooks:
              - id: jupytext-pairing
                args: [--fix, --]
        """
    (repo / ".pre-commit-config.yaml").write_text(textwrap.dedent(config), "utf-8")


def test_the_pre_commit_framework_with_fix_keeps_the_unstaged_notebook_edit(
    git_repo: Path, hook_repo: tuple[Path, str], pre_commit_home: Path
) -> None:
    use_fix_hook(git_repo, hook_repo)
    commit_all(git_repo, "pre-commit config")
    issue_case(git_repo)
    proc = run_pre_commit(git_repo, "run", home=pre_commit_home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert marker(NB, "unstaged") in worktree_text(git_repo, NB)
    assert marker(PY, "staged") in worktree_text(git_repo, PY)
    assert "jupytext-pairing" in proc.stdout


@pytest.mark.parametrize("text_format", ["py:percent", "md:myst"])
def test_a_twin_edit_synced_by_jupytext_is_not_ambiguous(
    git_repo: Path, cli, text_format: str
) -> None:
    """As jupytext's docs say: add a cell to the text, run `jupytext --sync`. Both files then
    changed, but the notebook is exactly what jupytext wrote from the text: no NB005, and
    --fix (if jupytext's sync left anything to do) syncs from the text."""
    folder = git_repo / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python", "pygments_lexer": "ipython3"},
        },
    )
    nbformat.write(notebook, folder / "nb.ipynb")
    pairing = ["--quiet", "--set-formats", f"ipynb,{text_format}", str(folder / "nb.ipynb")]
    assert jupytext_cli(pairing) == 0
    flag = f"--set=notebooks.formats=ipynb,{text_format}"
    cli(git_repo, flag, "--fix")
    commit_all(git_repo, "pair")
    assert cli(git_repo, flag) == (0, "")
    (twin,) = [p for p in folder.iterdir() if p.suffix != ".ipynb"]
    cell = (
        "\n```{code-cell}\nadded = 1\n```\n" if text_format == "md:myst" else "\n# %%\nadded = 1\n"
    )
    with twin.open("a", encoding="utf-8") as handle:
        handle.write(cell)
    assert jupytext_cli(["--quiet", "--sync", str(twin)]) == 0
    assert "added = 1" in (folder / "nb.ipynb").read_text("utf-8")
    assert "NB005" not in cli(git_repo, flag, "--fix")[1]
    assert cli(git_repo, flag) == (0, "")
    synced = {p.name: p.read_bytes() for p in folder.iterdir()}
    jupytext_cli(["--quiet", "--sync", str(folder / "nb.ipynb")])
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == synced


# --- notebooks as found in the wild, through both kinds of hook --------------------------------


def wild_pair(repo: Path, text_format: str) -> Path:
    """An nbformat 4.4 notebook with cell ids and a language_info (as JupyterLab leaves
    them), paired by `jupytext --set-formats`: both files new."""
    folder = repo / "notebooks"
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")],
        metadata={
            "kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
            "language_info": {"name": "R", "pygments_lexer": "r", "version": "4.3.1"},
        },
    )
    notebook.nbformat_minor = 4
    path = folder / "nb.ipynb"
    path.write_text(nbformat.writes(notebook, version=nbformat.NO_CONVERT), "utf-8")
    assert jupytext_cli(["--quiet", "--set-formats", f"ipynb,{text_format}", str(path)]) == 0
    return path


def test_the_plain_git_hook_on_wild_notebooks(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (git_repo / ".claudio.yaml").write_text("notebooks:\n  formats: ipynb,md:myst\n", "utf-8")
    monkeypatch.chdir(git_repo)
    assert main(["install-hooks", "--hook", "pre-commit"]) == 0
    capsys.readouterr()
    notebook = wild_pair(git_repo, "md:myst")
    assert cli_fix(git_repo, monkeypatch, capsys) == 1  # jupytext's own pairing is not final
    git(git_repo, "add", "-A")
    proc = run_git(git_repo, "commit", "-q", "-m", "pair")
    assert proc.returncode == 0, proc.stdout + proc.stderr  # 4.4 with ids: valid
    twin = notebook.with_suffix(".md")
    twin.write_bytes(b"\xef\xbb\xbf" + twin.read_bytes())
    git(git_repo, "add", "-A")
    proc = run_git(git_repo, "commit", "-q", "-m", "bom")
    assert proc.returncode == 1
    assert (
        "notebooks/nb.md:1:1: NB006 the file starts with a UTF-8 byte order mark"
        in proc.stderr + proc.stdout
    )


def cli_fix(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> int:
    monkeypatch.chdir(repo)
    code = main(["check", "notebooks", "--fix"])
    capsys.readouterr()
    return code


def test_the_pre_commit_framework_on_a_fresh_wild_pair(
    git_repo: Path, hook_repo: tuple[Path, str], pre_commit_home: Path
) -> None:
    use_fix_hook(git_repo, hook_repo)
    (git_repo / ".claudio.yaml").write_text("notebooks:\n  formats: ipynb,md:myst\n", "utf-8")
    commit_all(git_repo, "pre-commit config")
    notebook = wild_pair(git_repo, "md:myst")
    git(git_repo, "add", "-A")
    first = run_pre_commit(git_repo, "run", home=pre_commit_home)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output  # the hook synced the pair: files modified
    assert "NB005" not in output and "NB006" not in output
    assert "fixed: wrote notebooks/nb.ipynb" in output
    git(git_repo, "add", "-A")
    second = run_pre_commit(git_repo, "run", home=pre_commit_home)
    assert second.returncode == 0, second.stdout + second.stderr
    synced = notebook.parent / "nb.md", notebook
    before = [p.read_bytes() for p in synced]
    jupytext_cli(["--quiet", "--sync", str(notebook)])
    assert [p.read_bytes() for p in synced] == before
