"""`claudio-ci check notebooks` in real git repositories and worktrees, and the
`jupytext-pairing` hook through the real pre-commit."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.gitutil import REPO_ROOT, add_worktree, commit_all, git

EDA = "notebooks/exploration/data_eda"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


@pytest.fixture
def cli(run_cli):
    """`cli(cwd, *args)`: `claudio-ci check notebooks ARGS` in `cwd`; (exit, all output)."""

    def run(cwd: Path, *args: str) -> tuple[int, str]:
        result = run_cli("check", "notebooks", *args, cwd=cwd)
        return result.code, result.out + result.err

    return run


def make_pair(repo: Path, base: str, *sources: str, formats: str = "ipynb,py:percent") -> Path:
    """A notebook with code cells `sources` (one output each) and the twin jupytext makes."""
    cells = [new_markdown_cell("# Title")]
    cells += [
        new_code_cell(s, outputs=[new_output("stream", text=f"{s}!\n")], execution_count=i)
        for i, s in enumerate(sources, start=1)
    ]
    notebook = new_notebook(
        cells=cells, metadata={"kernelspec": KERNEL, "jupytext": {"formats": formats}}
    )
    path = repo / f"{base}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    assert jupytext_cli(["--sync", "--quiet", str(path)]) == 0
    return path


def files_of(repo: Path) -> dict[str, bytes]:
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted((repo / "notebooks").rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def jupytext_sync_changes(path: Path) -> bool:
    """Whether the real `jupytext --sync` rewrites anything in this pair."""
    before = files_of(_repo_of(path))
    jupytext_cli(["--sync", "--quiet", str(path)])
    return files_of(_repo_of(path)) != before


def _repo_of(path: Path) -> Path:
    return next(p for p in path.parents if (p / ".git").exists())


def edit_cell(path: Path, index: int, source: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[index].source = source
    nbformat.write(notebook, path)


def sources(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells]


# --- clean pairs, and which files are considered -----------------------------------------


def test_the_example_project_is_clean(ml_repo: Path, cli) -> None:
    assert cli(ml_repo) == (0, "")
    assert cli(ml_repo, f"{EDA}.py") == (0, "")
    assert cli(ml_repo, f"{EDA}.ipynb", "README.md", "src/models/baseline.py") == (0, "")


def test_a_state_dir_that_cannot_be_created_only_costs_the_cache(ml_repo: Path, cli) -> None:
    (ml_repo / ".git" / "claudio").write_text("", encoding="utf-8")  # as on a read-only disk
    assert cli(ml_repo) == (0, "")
    assert cli(ml_repo, f"{EDA}.ipynb") == (0, "")


def test_files_outside_paths_and_helper_modules_are_not_pairs(ml_repo: Path, cli) -> None:
    (ml_repo / "notebooks" / "helpers.py").write_text("def f():\n    return 1\n", "utf-8")
    (ml_repo / "notebooks" / "README.md").write_text("# Notebooks\n", "utf-8")
    (ml_repo / "src" / "lone.ipynb").write_text("{}", "utf-8")
    assert cli(ml_repo, "notebooks/helpers.py", "notebooks/README.md", "src/lone.ipynb") == (0, "")
    assert cli(ml_repo) == (0, "")


# --- missing twins --------------------------------------------------------------------------


def test_a_notebook_without_its_twin_is_found_and_fixed(ml_repo: Path, cli) -> None:
    expected = (ml_repo / f"{EDA}.py").read_bytes()
    (ml_repo / f"{EDA}.py").unlink()
    code, out = cli(ml_repo, f"{EDA}.ipynb")
    assert code == 1
    assert out.splitlines()[0] == (f"{EDA}.ipynb:1:1: NB001 no text twin: {EDA}.py is missing")
    assert "1 fixable with `--fix`" in out
    code, out = cli(ml_repo, "--fix", f"{EDA}.ipynb")
    assert code == 1
    assert f"fixed: created {EDA}.py" in out
    assert (ml_repo / f"{EDA}.py").read_bytes() == expected
    assert cli(ml_repo, "--fix", f"{EDA}.ipynb") == (0, "")


def test_a_twin_that_is_not_added_to_git(git_repo: Path, cli) -> None:
    make_pair(git_repo, "notebooks/new", "x = 1")
    git(git_repo, "add", "notebooks/new.ipynb")
    code, out = cli(git_repo, "notebooks/new.ipynb")
    assert (code, out.splitlines()[:2]) == (
        1,
        [
            "notebooks/new.ipynb:1:1: NB001 text twin notebooks/new.py is not added to git",
            "  hint: git add notebooks/new.py",
        ],
    )
    git(git_repo, "add", "notebooks/new.py")
    assert cli(git_repo, "notebooks/new.ipynb") == (0, "")


def test_a_twin_without_its_notebook(ml_repo: Path, cli) -> None:
    git(ml_repo, "rm", "-q", f"{EDA}.ipynb")
    code, out = cli(ml_repo, f"{EDA}.py")
    assert code == 1
    assert out.splitlines()[0] == f"{EDA}.py:1:1: NB002 no notebook: {EDA}.ipynb is missing"
    assert "notebooks.allow_unpaired" in out
    code, out = cli(ml_repo, "--fix", f"{EDA}.py")
    assert f"fixed: created {EDA}.ipynb" in out
    assert not jupytext_sync_changes(ml_repo / f"{EDA}.ipynb")
    assert cli(ml_repo, f"{EDA}.py")[1].splitlines()[0].endswith("is not added to git")


def test_a_notebook_deleted_in_the_index_only(ml_repo: Path, cli) -> None:
    git(ml_repo, "rm", "-q", "--cached", f"{EDA}.ipynb")
    code, out = cli(ml_repo, f"{EDA}.py")
    assert (code, out.splitlines()[0]) == (
        1,
        f"{EDA}.py:1:1: NB002 notebook {EDA}.ipynb is not added to git",
    )


def test_allow_unpaired_waives_the_twin(ml_repo: Path, cli) -> None:
    (ml_repo / f"{EDA}.py").unlink()
    flag = "--set=notebooks.allow_unpaired=notebooks/exploration/*"
    assert cli(ml_repo, flag, f"{EDA}.ipynb") == (0, "")


# --- pairing metadata -----------------------------------------------------------------------


def test_the_tutorial_conversion_lacks_pairing_and_fix_adds_it(git_repo: Path, cli) -> None:
    script = git_repo / "notebooks" / "eda.py"
    script.parent.mkdir()
    script.write_text("# %% [markdown]\n# # EDA\n\n# %%\nimport math\nprint(math.pi)\n", "utf-8")
    jupytext_cli(["--quiet", str(script), "--to", "notebook"])  # the seed's own command
    code, out = cli(git_repo, "notebooks/eda.py")
    assert code == 1
    assert (
        "notebooks/eda.ipynb:1:1: NB003 no pairing metadata: expected jupytext formats "
        "ipynb,py:percent"
    ) in out
    code, out = cli(git_repo, "--fix", "notebooks/eda.py")
    assert code == 1, out
    assert cli(git_repo, "notebooks/eda.py") == (0, "")
    notebook = nbformat.read(git_repo / "notebooks" / "eda.ipynb", as_version=4)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert "formats: ipynb,py:percent" in script.read_text("utf-8")
    assert not jupytext_sync_changes(script)


def test_a_different_pairing_is_reported_and_converted(git_repo: Path, cli) -> None:
    make_pair(git_repo, "notebooks/light", "x = 1", formats="ipynb,py:light")
    code, out = cli(git_repo, "notebooks/light.py")
    assert (code, out.splitlines()[0]) == (
        1,
        "notebooks/light.ipynb:1:1: NB003 paired as ipynb,py:light; this repository pairs "
        "ipynb,py:percent",
    )
    cli(git_repo, "--fix", "notebooks/light.py")
    assert "# %%" in (git_repo / "notebooks" / "light.py").read_text("utf-8")
    assert cli(git_repo, "notebooks/light.py") == (0, "")


def test_myst_pairs_are_checked_with_the_configured_formats(git_repo: Path, cli) -> None:
    make_pair(git_repo, "notebooks/doc", "x = 1", formats="ipynb,md:myst")
    commit_all(git_repo, "pair")
    flag = "--set=notebooks.formats=ipynb,md:myst"
    assert cli(git_repo, flag, "notebooks/doc.md") == (0, "")
    edit_cell(git_repo / "notebooks" / "doc.ipynb", 1, "x = 2")
    code, out = cli(git_repo, flag, "notebooks/doc.md")
    assert code == 1
    assert "NB004 out of sync with notebooks/doc.ipynb: cell 2 differs" in out


# --- sync, and which side --fix trusts --------------------------------------------------------


def test_an_edited_twin_is_out_of_sync_and_fix_keeps_outputs(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1", "b = 2")
    commit_all(git_repo, "pair")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("b = 2", "b = 3"), "utf-8")
    code, out = cli(git_repo, "notebooks/nb.ipynb")
    line = twin.read_text("utf-8").splitlines().index("b = 3") + 1
    assert (code, out.splitlines()[0]) == (
        1,
        f"notebooks/nb.py:{line}:1: NB004 out of sync with notebooks/nb.ipynb: "
        "cell 3 differs from nb.ipynb",
    )
    code, out = cli(git_repo, "--fix", "notebooks/nb.py")
    assert "fixed: wrote notebooks/nb.ipynb" in out
    assert sources(notebook) == ["# Title", "a = 1", "b = 3"]
    outputs = [c.outputs for c in nbformat.read(notebook, as_version=4).cells[1:]]
    assert [o[0]["text"] for o in outputs] == ["a = 1!\n", "b = 2!\n"]
    assert not jupytext_sync_changes(notebook)


def test_fix_is_idempotent_and_atomic(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    edit_cell(notebook, 1, "a = 2")
    assert cli(git_repo, "--fix", "notebooks/nb.ipynb")[0] == 1
    written = files_of(git_repo)
    stamps = {p: os.stat(git_repo / p).st_mtime_ns for p in written}
    assert cli(git_repo, "--fix", "notebooks/nb.ipynb", "notebooks/nb.py") == (0, "")
    assert files_of(git_repo) == written
    assert {p: os.stat(git_repo / p).st_mtime_ns for p in written} == stamps
    assert sorted(written) == ["notebooks/nb.ipynb", "notebooks/nb.py"]  # no temp files


def test_a_staged_side_never_overwrites_an_unstaged_one(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    edit_cell(notebook, 1, "from_notebook = 1")
    git(git_repo, "add", "notebooks/nb.ipynb")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "from_text = 1"), "utf-8")
    before = files_of(git_repo)
    code, out = cli(git_repo, "--fix", "notebooks/nb.py")
    assert code == 1
    assert (
        "NB005 both files changed since the last commit and are out of sync (cell 2 differs "
        "from nb.ipynb): notebooks/nb.ipynb staged and notebooks/nb.py changed, not staged; "
        "which edit wins is ambiguous, --fix will not choose"
    ) in out
    assert files_of(git_repo) == before


def test_the_later_commit_wins_when_nothing_is_staged(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "later = 1"), "utf-8")
    git(git_repo, "add", "-A")
    date = {"GIT_COMMITTER_DATE": "2030-01-01T00:00:00", "GIT_AUTHOR_DATE": "2030-01-01T00:00:00"}
    git(git_repo, "commit", "-q", "-m", "text only", env=date)
    code, out = cli(git_repo, "--fix", "notebooks/nb.ipynb")
    assert code == 1
    assert "fixed: wrote notebooks/nb.ipynb" in out
    assert sources(notebook)[1] == "later = 1"


def test_fix_refuses_when_both_sides_changed_differently(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    edit_cell(notebook, 1, "mine = 1")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "theirs = 1"), "utf-8")
    before = files_of(git_repo)
    code, out = cli(git_repo, "--fix", "notebooks/nb.py")
    assert code == 1
    assert (
        "NB005 both files changed since the last commit and are out of sync (cell 2 differs "
        "from nb.ipynb): notebooks/nb.ipynb changed, not staged and notebooks/nb.py changed, "
        "not staged;"
    ) in out
    assert "fixed" not in out
    assert files_of(git_repo) == before


def test_both_sides_staged_differently_is_ambiguous(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    edit_cell(notebook, 1, "mine = 1")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "theirs = 1"), "utf-8")
    git(git_repo, "add", "-A")
    before = files_of(git_repo)
    code, out = cli(git_repo, "--fix", "notebooks/nb.ipynb", "notebooks/nb.py")
    assert code == 1
    first, hint = out.splitlines()[:2]
    assert first.endswith(
        "NB005 both files changed since the last commit and are out of sync (cell 2 differs "
        "from nb.ipynb): notebooks/nb.ipynb staged and notebooks/nb.py staged; which edit wins "
        "is ambiguous, --fix will not choose"
    )
    assert hint == (
        "  hint: keep the notebook: jupytext --to py:percent notebooks/nb.ipynb; "
        "keep the text: jupytext --update --to ipynb notebooks/nb.py"
    )
    assert files_of(git_repo) == before


# --- each pair once, whatever pre-commit passes ------------------------------------------


@pytest.mark.parametrize(
    "passed",
    [
        ["notebooks/nb.py"],
        ["notebooks/nb.ipynb"],
        ["notebooks/nb.py", "notebooks/nb.ipynb"],
        ["notebooks/nb.ipynb", "notebooks/nb.py", "notebooks/nb.ipynb"],
        [],
    ],
)
def test_the_verdict_does_not_depend_on_which_files_are_passed(
    git_repo: Path, cli, passed: list[str]
) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    edit_cell(notebook, 1, "a = 2")
    code, out = cli(git_repo, *passed)
    assert code == 1
    assert [line.split(": ")[1].split()[0] for line in out.splitlines()[:1]] == ["NB004"]
    assert out.count("NB004") == 1
    assert out.splitlines()[-1] == "Found 1 problem (1 error). 1 fixable with `--fix`."


# --- settings -------------------------------------------------------------------------------


def test_strip_outputs_forbids_outputs_and_fix_clears_them(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1", "b = 2")
    commit_all(git_repo, "pair")
    flag = "--set=notebooks.strip_outputs=true"
    code, out = cli(git_repo, flag, "notebooks/nb.py")
    assert (code, out.splitlines()[0]) == (
        1,
        "notebooks/nb.ipynb:1:1: NB007 2 code cells with outputs, and notebooks.strip_outputs "
        "forbids committed outputs",
    )
    twin = (git_repo / "notebooks" / "nb.py").read_bytes()
    cli(git_repo, flag, "--fix", "notebooks/nb.py")
    cells = nbformat.read(notebook, as_version=4).cells[1:]
    assert [(c.outputs, c.execution_count) for c in cells] == [([], None), ([], None)]
    assert (git_repo / "notebooks" / "nb.py").read_bytes() == twin
    assert cli(git_repo, flag, "notebooks/nb.py") == (0, "")


def test_untracked_notebooks_mode(git_repo: Path, cli) -> None:
    flag = "--set=notebooks.ipynb_tracked=false"
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "both committed")
    code, out = cli(git_repo, flag, "notebooks/nb.py")
    assert (code, out.splitlines()[0]) == (
        1,
        "notebooks/nb.ipynb:1:1: NB008 notebook is in git although notebooks.ipynb_tracked "
        "is false",
    )
    git(git_repo, "rm", "-q", "--cached", "notebooks/nb.ipynb")
    (git_repo / ".gitignore").write_text("*.ipynb\n", "utf-8")
    commit_all(git_repo, "text only")
    assert cli(git_repo, flag, "notebooks/nb.py") == (0, "")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "pulled = 1"), "utf-8")
    code, out = cli(git_repo, flag, "notebooks/nb.py")
    assert code == 0  # a stale local notebook is a warning: the text is the source of truth
    assert "NB004 [warning] out of sync with notebooks/nb.ipynb" in out
    cli(git_repo, flag, "--fix", "notebooks/nb.py")
    assert sources(notebook)[1] == "pulled = 1"
    notebook.unlink()
    assert cli(git_repo, flag, "notebooks/nb.py") == (0, "")


def test_a_broken_formats_setting_is_a_usage_error(ml_repo: Path, cli) -> None:
    code, out = cli(ml_repo, "--set=notebooks.formats=py:percent", f"{EDA}.py")
    assert (code, out) == (
        2,
        "claudio-ci: error: notebooks.formats: 'py:percent' must pair one ipynb with text "
        "formats (ipynb,py:percent)\n",
    )
    code, out = cli(ml_repo, "--set=notebooks.formats=ipynb,py:prcent", f"{EDA}.py")
    assert code == 2
    assert out == (
        "claudio-ci: error: notebooks.formats: py:prcent: Format 'prcent' is not associated to "
        "extension '.py'. Please choose one of: light, nomarker, percent, hydrogen, sphinx, "
        "marimo.\n"
    )
    assert "Traceback" not in out


def test_jupytext_configuration_files_are_honoured(git_repo: Path, cli) -> None:
    (git_repo / "jupytext.toml").write_text('notebook_metadata_filter = "-all"\n', "utf-8")
    notebook = make_pair(git_repo, "notebooks/nb", "a = 1")
    assert not (git_repo / "notebooks" / "nb.py").read_text("utf-8").startswith("# ---")
    commit_all(git_repo, "pair")
    assert cli(git_repo, "notebooks/nb.py") == (0, "")
    (git_repo / "jupytext.toml").unlink()  # a cached verdict must not survive this
    rewrites = jupytext_sync_changes(notebook)
    git(git_repo, "checkout", "-q", "--", "notebooks")
    code, out = cli(git_repo, "notebooks/nb.py")
    assert rewrites
    assert (code, "NB004 out of sync" in out) == (1, True)


def test_many_pairs_are_checked_in_parallel_with_the_same_verdicts(
    git_repo: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claudio_ci.notebooks import command as check_notebooks

    for index in range(12):
        make_pair(git_repo, f"notebooks/nb{index:02d}", f"x = {index}")
    commit_all(git_repo, "pairs")
    for index in (3, 7):
        edit_cell(git_repo / f"notebooks/nb{index:02d}.ipynb", 1, "edited = 1")
    serial = cli(git_repo)
    (git_repo / ".git" / "claudio" / "notebooks-cache.json").unlink()
    monkeypatch.setattr(check_notebooks, "PAIRS_PER_WORKER", 2)
    monkeypatch.setattr(check_notebooks, "_usable_cpus", lambda: 3)
    pools = []

    class Pool(concurrent.futures.ProcessPoolExecutor):
        def __init__(self, workers: int, **kwargs: object) -> None:
            pools.append(workers)
            super().__init__(workers, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    assert cli(git_repo) == serial
    assert pools == [3]
    assert serial[0] == 1
    assert [line.split(":")[0] for line in serial[1].splitlines() if "NB004" in line] == [
        "notebooks/nb03.py",
        "notebooks/nb07.py",
    ]
    assert cached_verdicts(git_repo) == 10
    cli(git_repo, "--fix")
    assert cli(git_repo) == (0, "")


# --- bad input ------------------------------------------------------------------------------


def test_a_truncated_notebook_points_at_the_json_error(ml_repo: Path, cli) -> None:
    path = ml_repo / f"{EDA}.ipynb"
    text = path.read_text("utf-8")
    path.write_text(text[: text.index('"source"') + 12], "utf-8")
    before = files_of(ml_repo)
    code, out = cli(ml_repo, "--fix", f"{EDA}.py")
    line = text[: text.index('"source"') + 12].count("\n") + 1
    assert code == 1
    assert out.splitlines()[0].startswith(f"{EDA}.ipynb:{line}:")
    assert "NB006 not valid JSON: " in out.splitlines()[0]
    assert files_of(ml_repo) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "NB006 not valid JSON: Expecting value"),
        ("[1, 2]", "NB006 not a Jupyter notebook: no integer `nbformat` at the top level"),
        (
            json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []}),
            "NB006 nbformat 3 notebook: jupytext reads nbformat 4 only",
        ),
        (
            json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": []}),
            "NB006 invalid notebook: The notebook is invalid and is missing an expected key: "
            "metadata",
        ),
        (
            json.dumps(
                {
                    "nbformat": 4,
                    "nbformat_minor": 4,
                    "metadata": {},
                    "cells": [{"cell_type": "code", "metadata": {}, "source": "x", "outputs": {}}],
                }
            ),
            "NB006 invalid notebook: $.cells[0]: ",
        ),
    ],
)
def test_unreadable_notebooks_are_findings(git_repo: Path, cli, content: str, message: str):
    folder = git_repo / "notebooks"
    folder.mkdir()
    (folder / "bad.ipynb").write_text(content, "utf-8")
    (folder / "bad.py").write_text("# %%\nx = 1\n", "utf-8")
    code, out = cli(git_repo, "--fix", "notebooks/bad.ipynb")
    assert code == 1
    assert message in out
    assert "Traceback" not in out
    assert (folder / "bad.ipynb").read_text("utf-8") == content


@pytest.mark.timeout(20)
def test_a_notebook_that_is_a_fifo_is_a_finding_not_a_hang(git_repo: Path, cli) -> None:
    (git_repo / "notebooks").mkdir()
    os.mkfifo(git_repo / "notebooks" / "pipe.ipynb")  # nobody writes: reading it would block
    code, out = cli(git_repo, "--fix", "notebooks/pipe.ipynb")
    assert code == 1
    assert "notebooks/pipe.ipynb:1:1: NB006 cannot read: not a regular file" in out.splitlines()
    assert sorted(p.name for p in (git_repo / "notebooks").iterdir()) == ["pipe.ipynb"]


def test_fix_leaves_a_pair_alone_while_a_file_is_unreadable(git_repo: Path, cli) -> None:
    (git_repo / "notebooks").mkdir()
    (git_repo / "notebooks" / "empty.ipynb").write_text("", "utf-8")
    code, out = cli(git_repo, "--fix", "notebooks/empty.ipynb")
    assert code == 1
    assert out.splitlines() == [
        "notebooks/empty.ipynb:1:1: NB001 no text twin: notebooks/empty.py is missing",
        "  hint: --fix needs every file readable; jupytext --sync notebooks/empty.ipynb "
        "(or --fix) creates it",
        "notebooks/empty.ipynb:1:1: NB006 not valid JSON: Expecting value",
        "  hint: restore the last good version (git restore notebooks/empty.ipynb) or repair "
        "the file",
        "Found 2 problems (2 errors).",
    ]
    assert sorted(p.name for p in (git_repo / "notebooks").iterdir()) == ["empty.ipynb"]


def test_a_twin_that_is_not_utf8(ml_repo: Path, cli) -> None:
    twin = ml_repo / f"{EDA}.py"
    data = twin.read_bytes().replace(b"Data exploration", b"Donn\xe9es")
    twin.write_bytes(data)
    code, out = cli(ml_repo, "--fix", f"{EDA}.py")
    line = data[: data.index(b"\xe9")].count(b"\n") + 1
    assert (code, out.splitlines()[0]) == (
        1,
        f"{EDA}.py:{line}:9: NB006 not UTF-8: byte 0xe9 cannot be decoded",
    )
    assert twin.read_bytes() == data


def test_names_with_spaces_and_unicode(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/my été 📈", "a = 1")
    commit_all(git_repo, "pair")
    assert cli(git_repo) == (0, "")
    edit_cell(notebook, 1, "a = 2")
    code, out = cli(git_repo, "--fix", "notebooks/my été 📈.py")
    assert code == 1
    assert out.splitlines()[0].startswith("notebooks/my été 📈.py:")
    assert "fixed: wrote 'notebooks/my été 📈.py'" not in out  # paths are not shell-quoted here
    assert "fixed: wrote notebooks/my été 📈.py" in out
    assert cli(git_repo, "notebooks/my été 📈.ipynb") == (0, "")


def test_fix_never_writes_through_a_symlink(git_repo: Path, cli) -> None:
    make_pair(git_repo, "elsewhere/nb", "a = 1")
    folder = git_repo / "notebooks"
    folder.mkdir()
    (folder / "nb.ipynb").symlink_to("../elsewhere/nb.ipynb")
    (folder / "nb.py").write_bytes((git_repo / "elsewhere" / "nb.py").read_bytes())
    commit_all(git_repo, "linked notebook")
    assert cli(git_repo, "notebooks/nb.py") == (0, "")
    twin = folder / "nb.py"
    twin.write_text(twin.read_text("utf-8").replace("a = 1", "a = 2"), "utf-8")
    before = (git_repo / "elsewhere" / "nb.ipynb").read_bytes()
    code, out = cli(git_repo, "--fix", "notebooks/nb.py")
    assert code == 1
    assert "NB004 out of sync" in out
    assert "notebooks/nb.ipynb is a symbolic link; --fix does not write through links" in out
    assert (folder / "nb.ipynb").is_symlink()
    assert (git_repo / "elsewhere" / "nb.ipynb").read_bytes() == before


def test_output_formats_carry_the_code_and_line(ml_repo: Path, cli) -> None:
    (ml_repo / f"{EDA}.py").unlink()
    code, out = cli(ml_repo, "--format=json", f"{EDA}.ipynb")
    (finding,) = json.loads(out)
    assert (code, finding["code"], finding["line"], finding["path"]) == (
        1,
        "NB001",
        1,
        f"{EDA}.ipynb",
    )
    assert finding["fix"] == {"description": f"create {EDA}.py from {EDA}.ipynb", "applied": False}
    code, out = cli(ml_repo, "--format=github", f"{EDA}.ipynb")
    assert out.startswith(f"::error file={EDA}.ipynb,line=1,col=1,title=NB001::no text twin")


# --- speed: the cache, shared by worktrees, and lazy imports ----------------------------------

PROBE = """
import sys
from claudio_ci.cli import main
code = main(["check", "notebooks", *sys.argv[1:]])
print("jupytext imported" if "jupytext" in sys.modules else "jupytext not imported", code)
"""


def probe(cwd: Path, *files: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *files],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    return proc.stdout.splitlines()[-1]


def cached_verdicts(repo: Path) -> int:
    cache = repo / ".git" / "claudio" / "notebooks-cache.json"
    return len(json.loads(cache.read_text("utf-8"))["entries"])


def test_known_pairs_and_unrelated_files_never_import_jupytext(ml_repo: Path) -> None:
    assert probe(ml_repo, "README.md", "src/models/baseline.py") == "jupytext not imported 0"
    assert probe(ml_repo, f"{EDA}.py") == "jupytext imported 0"
    assert probe(ml_repo, f"{EDA}.py") == "jupytext not imported 0"
    assert probe(ml_repo, f"{EDA}.ipynb", f"{EDA}.py") == "jupytext not imported 0"
    assert cached_verdicts(ml_repo) == 1
    (ml_repo / f"{EDA}.py").write_text("# %%\nchanged = 1\n", "utf-8")
    assert probe(ml_repo, f"{EDA}.ipynb") == "jupytext imported 1"
    assert cached_verdicts(ml_repo) == 1  # only good verdicts are kept


def test_worktrees_share_verdicts(ml_repo: Path, cli) -> None:
    linked = add_worktree(ml_repo, "eda", "claudio/eda")
    assert probe(ml_repo, f"{EDA}.py") == "jupytext imported 0"
    assert probe(linked, f"{EDA}.py") == "jupytext not imported 0"
    edit_cell(linked / f"{EDA}.ipynb", 0, "# Changed in the worktree")
    code, out = cli(linked, f"{EDA}.py")
    assert code == 1
    assert f"{EDA}.py:17:1: NB004 out of sync with {EDA}.ipynb: cell 1 differs" in out
    assert cli(ml_repo, f"{EDA}.py") == (0, "")


# --- the hook, through the real pre-commit -----------------------------------------------
# (`pre-commit try-repo` installs the hook environment on every call: two calls in all.)


def test_pre_commit_hook_fails_a_broken_pair(ml_repo: Path, try_repo) -> None:
    edit_cell(ml_repo / f"{EDA}.ipynb", 0, "# Renamed")
    proc = try_repo(ml_repo, "jupytext-pairing", f"{EDA}.ipynb", "README.md")
    assert proc.returncode == 1
    assert "notebooks paired with their jupytext twin, in sync" in proc.stdout
    assert f"{EDA}.py:17:1: NB004 out of sync with {EDA}.ipynb: cell 1 differs" in proc.stdout
    assert (ml_repo / f"{EDA}.ipynb").read_text("utf-8").count("# Renamed") == 1


def test_pre_commit_hook_passes_in_a_linked_worktree(ml_repo: Path, try_repo) -> None:
    linked = add_worktree(ml_repo, "eda", "claudio/eda")
    proc = try_repo(linked, "jupytext-pairing", all_files=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "notebooks paired with their jupytext twin, in sync" in proc.stdout
    assert "Passed" in proc.stdout


def test_fix_does_not_fight_formatters_or_output_strippers(git_repo: Path, cli) -> None:
    notebook = make_pair(git_repo, "notebooks/nb", "x=1", "def f( a ):\n  return a")
    commit_all(git_repo, "pair")
    ruff = [str(Path(sys.executable).parent / "ruff"), "format", "-q", "notebooks/nb.py"]
    subprocess.run(ruff, cwd=git_repo, check=True)
    code, out = cli(git_repo, "--fix", "notebooks/nb.py")
    assert (code, "fixed: wrote notebooks/nb.ipynb" in out) == (1, True)
    formatted = (git_repo / "notebooks" / "nb.py").read_bytes()
    subprocess.run(ruff, cwd=git_repo, check=True)
    assert (git_repo / "notebooks" / "nb.py").read_bytes() == formatted
    assert sources(notebook)[1:] == ["x = 1", "def f(a):\n    return a"]
    stripped = nbformat.read(notebook, as_version=4)
    for cell in stripped.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(stripped, notebook)  # what nbstripout leaves
    assert cli(git_repo, "--fix", "notebooks/nb.py") == (0, "")


def test_the_demo_scenario_a_cell_added_to_the_staged_twin(ml_repo: Path, cli) -> None:
    attention = add_worktree(ml_repo, "attention", "claudio/cd34-attention")
    twin = attention / f"{EDA}.py"
    lines = len(twin.read_text("utf-8").splitlines())
    with twin.open("a", encoding="utf-8") as handle:
        handle.write("\n# %% [markdown]\n# ## Attention weights\n\n# %%\nprint('to do')\n")
    git(attention, "add", f"{EDA}.py")
    code, out = cli(attention)
    assert (code, out.splitlines()[0]) == (
        1,
        f"{EDA}.py:{lines + 1}:1: NB004 out of sync with {EDA}.ipynb: 8 cells here, 6 in "
        "data_eda.ipynb",
    )
    code, out = cli(attention, "--fix")
    assert (code, f"fixed: wrote {EDA}.ipynb" in out) == (1, True)
    assert sources(attention / f"{EDA}.ipynb")[-2:] == ["## Attention weights", "print('to do')"]
    assert cli(attention) == (0, "")
    assert git(ml_repo, "status", "--porcelain", "notebooks") == ""  # the main worktree untouched


# --- notebooks as they are in the wild: nbformat 4.4, cell ids, BOMs ---------------------------


def old_notebook(path: Path, *, ids: bool, kernel: dict | None = None, minor: int = 4) -> Path:
    """An nbformat 4.`minor` notebook as older Jupyter saved it; `ids`: with cell ids anyway,
    as JupyterLab and jupytext write them into such notebooks."""
    cells = [new_markdown_cell("# Title"), new_code_cell("a = 1", outputs=[], execution_count=1)]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": kernel or KERNEL})
    notebook.nbformat_minor = minor
    for index, cell in enumerate(notebook.cells):
        if ids:
            cell["id"] = f"c{index}"
        else:
            del cell["id"]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path, version=nbformat.NO_CONVERT)
    return path


@pytest.mark.parametrize("ids", [False, True], ids=["without-ids", "with-ids"])
@pytest.mark.parametrize("text_format", ["py:percent", "py:light", "md", "md:myst"])
def test_a_cell_added_to_the_twin_of_a_4_4_notebook(
    git_repo: Path, cli, ids: bool, text_format: str
) -> None:
    """jupytext's own sync writes the new cell with an id into the 4.4 notebook: valid, as
    nbformat's reader upgrades it; and --fix writes what `jupytext --sync` writes."""
    notebook = old_notebook(git_repo / "notebooks" / "nb.ipynb", ids=ids)
    flag = f"--set=notebooks.formats=ipynb,{text_format}"
    pairing = ["--quiet", "--set-formats", f"ipynb,{text_format}", str(notebook)]
    assert jupytext_cli(pairing) == 0
    commit_all(git_repo, "pair")
    assert cli(git_repo, flag) == (0, "")
    (twin,) = [p for p in notebook.parent.iterdir() if p != notebook]
    cell = {
        "py:percent": "\n# %%\nadded = 1\n",
        "py:light": "\nadded = 1\n",
        "md": "\n```python\nadded = 1\n```\n",
        "md:myst": "\n```{code-cell}\nadded = 1\n```\n",
    }[text_format]
    with twin.open("a", encoding="utf-8") as handle:
        handle.write(cell)
    edited = twin.read_bytes()
    code, out = cli(git_repo, flag, "--fix")
    assert (code, "fixed: wrote notebooks/nb.ipynb" in out, "NB006" in out) == (1, True, False)
    assert sources(notebook)[-1] == "added = 1"
    assert twin.read_bytes() == edited
    ours = notebook.read_text("utf-8")
    assert cli(git_repo, flag) == (0, "")
    git(git_repo, "checkout", "-q", "--", "notebooks/nb.ipynb")  # again, with jupytext
    os.utime(notebook, (1_700_000_000, 1_700_000_000))
    assert jupytext_cli(["--sync", "--quiet", str(twin)]) == 0
    theirs = notebook.read_text("utf-8")
    assert cli(git_repo, flag) == (0, "")  # jupytext's own result is valid and in sync
    assert json.loads(ours)["nbformat_minor"] == json.loads(theirs)["nbformat_minor"] == 4
    assert [c["source"] for c in json.loads(ours)["cells"]] == [
        c["source"] for c in json.loads(theirs)["cells"]
    ]
    assert not jupytext_sync_changes(notebook)


def test_a_4_4_notebook_with_ids_is_valid_but_a_real_schema_error_is_not(
    git_repo: Path, cli
) -> None:
    notebook = old_notebook(git_repo / "notebooks" / "nb.ipynb", ids=True)
    assert jupytext_cli(["--quiet", "--set-formats", "ipynb,py:percent", str(notebook)]) == 0
    assert cli(git_repo) == (0, "")
    data = json.loads(notebook.read_text("utf-8"))
    data["cells"][1]["id"] = "not a valid id!"  # Jupyter's schema forbids these characters
    notebook.write_text(json.dumps(data), "utf-8")
    code, out = cli(git_repo)
    assert code == 1
    assert "NB006 invalid notebook: $.cells[1].id: 'not a valid id!' does not match" in out


def test_a_byte_order_mark_is_named(git_repo: Path, cli) -> None:
    make_pair(git_repo, "notebooks/nb", "a = 1")
    commit_all(git_repo, "pair")
    twin = git_repo / "notebooks" / "nb.py"
    twin.write_bytes(b"\xef\xbb\xbf" + twin.read_bytes())
    before = files_of(git_repo)
    code, out = cli(git_repo, "--fix")
    assert (code, out.splitlines()[:2]) == (
        1,
        [
            "notebooks/nb.py:1:1: NB006 the file starts with a UTF-8 byte order mark (BOM), "
            "which jupytext reads as text: its header and first cell are not recognised",
            "  hint: save it as UTF-8 without a BOM (jupytext and Jupyter write none)",
        ],
    )
    assert files_of(git_repo) == before


KERNELS = {
    "julia": (
        {"name": "julia-1.9", "display_name": "Julia 1.9.3", "language": "julia"},
        {"file_extension": ".jl", "mimetype": "application/julia", "name": "julia"},
    ),
    "R": (
        {"name": "ir", "display_name": "R", "language": "R"},
        {"name": "R", "pygments_lexer": "r", "codemirror_mode": "r", "version": "4.3.1"},
    ),
}


def sync_rewrites_when_newest(folder: Path, newest: str) -> bool:
    """Whether the real `jupytext --sync` rewrites a file of the pair when `newest` is the
    newer file; the files are put back as they were."""
    before = {p: p.read_bytes() for p in folder.iterdir()}
    for path in before:
        os.utime(path, (1_700_000_000, 1_700_000_000))
    os.utime(folder / newest, (1_700_000_100, 1_700_000_100))
    jupytext_cli(["--sync", "--quiet", str(folder / "nb.ipynb")])
    changed = any(p.read_bytes() != data for p, data in before.items())
    for path, data in before.items():
        path.write_bytes(data)
    return changed


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_myst_pairs_of_julia_and_r_notebooks_agree_with_jupytext(
    git_repo: Path, cli, kernel: str
) -> None:
    """A MyST header keeps the key order of the notebook it is written from: IJulia writes
    the kernelspec `name` first, `jupytext --set-formats` writes the .md in that order and
    saves the notebook with its keys sorted, so `jupytext --sync` with the notebook newest
    rewrites the .md (and for R, with a lexer, the notebook too). The check sees it, and
    --fix reaches the pair that no direction of `jupytext --sync` rewrites."""
    kernelspec, language_info = KERNELS[kernel]
    folder = git_repo / "notebooks"
    notebook = old_notebook(folder / "nb.ipynb", ids=False, kernel=kernelspec, minor=2)
    data = json.loads(notebook.read_text("utf-8"))
    data["metadata"] = {"kernelspec": kernelspec, "language_info": language_info}  # unsorted
    notebook.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    assert jupytext_cli(["--quiet", "--set-formats", "ipynb,md:myst", str(notebook)]) == 0
    commit_all(git_repo, "pair")  # as jupytext left it, both files in one commit
    flag = "--set=notebooks.formats=ipynb,md:myst"
    rewrites = sync_rewrites_when_newest(folder, "nb.ipynb") or sync_rewrites_when_newest(
        folder, "nb.md"
    )
    code, out = cli(git_repo, flag)
    assert rewrites  # the case this test is about
    assert (code, "NB004 out of sync" in out) == (int(rewrites), rewrites)
    cli(git_repo, flag, "--fix")
    assert cli(git_repo, flag) == (0, "")
    assert not sync_rewrites_when_newest(folder, "nb.ipynb")
    assert not sync_rewrites_when_newest(folder, "nb.md")
