"""Sync semantics are jupytext's: on a corpus of varied notebooks (nbformat 4.5, and 4.4 with
and without cell ids), a pair passes exactly when the real `jupytext --sync` leaves both files
untouched, whichever file is the newer one: also after a cell added to the twin and synced by
jupytext itself, and with both files edited (one of them unstaged), where --fix writes nothing."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from claudio_ci.core.settings import NotebooksSection, build
from claudio_ci.notebooks import rules as nb_check
from claudio_ci.notebooks.sync import Jupytext

PNG = (  # a 1x1 image
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"
    "hgGAWjR9awAAAABJRU5ErkJggg=="
)


def _outputs() -> list:
    return [
        new_output("stream", name="stdout", text="hello ☃\n"),
        new_output("execute_result", data={"text/plain": "42"}, execution_count=1),
        new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
    ]


CELLS = [
    lambda: new_markdown_cell("# Title\n\nSome *text*: café, 日本語, emoji 🚀"),
    lambda: new_markdown_cell(""),
    lambda: new_markdown_cell("Text with `# %%` inside\n\n```python\nx = 1\n```"),
    lambda: new_markdown_cell("Line one  \nLine two\n\n- a list\n- of items"),
    lambda: new_markdown_cell("   "),
    lambda: new_raw_cell("raw \\LaTeX{} text", metadata={"format": "text/latex"}),
    lambda: new_raw_cell(""),
    lambda: new_code_cell("import numpy as np\nx = np.arange(3)"),
    lambda: new_code_cell(""),
    lambda: new_code_cell("%matplotlib inline\nimport matplotlib"),
    lambda: new_code_cell("%%time\nsum(range(10))"),
    lambda: new_code_cell("!pip install requests"),
    lambda: new_code_cell("s = '''\n# %%\nnot a cell\n'''\nprint(s)"),
    lambda: new_code_cell('x = "# %% [markdown]"'),
    lambda: new_code_cell("def f(x):\n    return x\n\n\n"),
    lambda: new_code_cell("print('tagged')", metadata={"tags": ["parameters"]}),
    lambda: new_code_cell("y = 2", metadata={"custom": {"k": [1, 2]}, "jupyter": {}}),
    lambda: new_code_cell("print('out')", outputs=_outputs(), execution_count=3),
    lambda: new_code_cell("x?"),
    lambda: new_code_cell("\tindented_with_tab = 1"),
    lambda: new_code_cell("# a comment only"),
    lambda: new_code_cell("# %% a marker-like comment\nz = 1"),
    lambda: new_code_cell("名前 = 'ユニコード'\nprint(名前)"),
    lambda: new_code_cell("if True:\n\n    pass"),
]
TEXT_FORMATS = [
    ("py:percent", "python"),
    ("py:percent", "python"),
    ("py:light", "python"),
    ("md", "python"),
    ("md:myst", "python"),
    ("R:percent", "R"),
    ("py:nomarker", "python"),
    ("jl:percent", "julia"),
    ("py:hydrogen", "python"),
    ("Rmd", "python"),
]
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}
EDITS = ["text", "outputs", "tags", "source", "order", "new-cell-synced", "both"]
CORPUS_SIZE = 60
# A new code cell at the end of a text twin, as a user writes it in each format.
NEW_CELL = {
    "py:percent": "\n# %%\nz = 3\n",
    "R:percent": "\n# %%\nz = 3\n",
    "jl:percent": "\n# %%\nz = 3\n",
    "py:hydrogen": "\n# %%\nz = 3\n",
    "py:light": "\n\nz = 3\n",
    "py:nomarker": "\n\nz = 3\n",
    "md": "\n```python\nz = 3\n```\n",
    "md:myst": "\n```{code-cell}\nz = 3\n```\n",
    "Rmd": "\n```{python}\nz = 3\n```\n",
}


def corpus_notebook(index: int) -> tuple[str, nbformat.NotebookNode]:
    rng = random.Random(index)
    text_format, language = TEXT_FORMATS[index % len(TEXT_FORMATS)]
    notebook = new_notebook(
        metadata={
            "kernelspec": {"name": language, "display_name": language, "language": language},
            "jupytext": {"formats": f"ipynb,{text_format}"},
        }
    )
    if index % 17 != 16:  # every 17th notebook has no cells at all
        notebook.cells = [rng.choice(CELLS)() for _ in range(rng.randint(1, 9))]
    if index % 3:  # nbformat 4.4, as most notebooks in the wild: without ids, or with them
        notebook.nbformat_minor = 4
        for cell in notebook.cells:
            if index % 3 == 1:
                del cell["id"]
    return text_format, notebook


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    """As the notebook's own nbformat version (4.4 stays 4.4)."""
    path.write_text(nbformat.writes(notebook, version=nbformat.NO_CONVERT) + "\n", "utf-8")


def edit(kind: str, notebook_path: Path, text_path: Path, text_format: str = "") -> None:
    if kind == "both":  # the text and the notebook, each its own way
        edit("text", notebook_path, text_path)
        edit("source", notebook_path, text_path)
        return
    if kind == "new-cell-synced":  # as jupytext's docs say: edit the text, then --sync
        with text_path.open("a", encoding="utf-8") as handle:
            handle.write(NEW_CELL[text_format])
        os.utime(notebook_path, (1_700_000_000, 1_700_000_000))
        os.utime(text_path, (1_700_000_100, 1_700_000_100))
        assert jupytext_cli(["--sync", "--quiet", str(text_path)]) == 0
        return
    if kind == "text":
        with text_path.open("a", encoding="utf-8") as handle:
            handle.write("\nz = 3\n")
        return
    notebook = nbformat.read(notebook_path, as_version=nbformat.NO_CONVERT)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if kind == "outputs" and code:
        code[0].outputs = [new_output("stream", name="stdout", text="fresh output\n")]
    elif kind == "tags" and notebook.cells:
        notebook.cells[0].metadata["tags"] = ["edited"]
    elif kind == "source" and notebook.cells:
        notebook.cells[0].source += "\nedited = True"
    elif kind == "order" and len(notebook.cells) > 1:
        notebook.cells.reverse()
    write_notebook(notebook, notebook_path)


def sync_rewrites(notebook_path: Path, text_path: Path, newer: Path) -> bool:
    """Whether the real `jupytext --sync` changes a file when `newer` is the newer one."""
    before = {p: p.read_bytes() for p in (notebook_path, text_path)}
    older = text_path if newer == notebook_path else notebook_path
    os.utime(older, (1_700_000_000, 1_700_000_000))
    os.utime(newer, (1_700_000_100, 1_700_000_100))
    jupytext_cli(["--sync", "--quiet", str(notebook_path)])
    changed = any(p.read_bytes() != data for p, data in before.items())
    for path, data in before.items():
        path.write_bytes(data)
    return changed


class Committed:
    """Nothing staged or changed: the fix has no side to prefer."""

    def change(self, path: str) -> nb_check.Change:
        return nb_check.Change.NONE

    def versions(self, path: str) -> list[bytes]:
        return []

    def commit_time(self, path: str) -> int | None:
        return None


class BothChanged(Committed):
    """The notebook changed but not staged, the text staged: what --fix must never pick from."""

    def change(self, path: str) -> nb_check.Change:
        notebook = path.endswith(".ipynb")
        return nb_check.Change.UNSTAGED if notebook else nb_check.Change.STAGED


def our_result(
    root: Path, notebook_path: Path, pairing: str, history: object, fix: bool = False
) -> nb_check.PairResult:
    section = build(NotebooksSection, {"formats": pairing, "paths": ["**"]})
    settings = nb_check.Settings.from_config(section)
    members = settings.pairing.members(notebook_path.relative_to(root).as_posix(), root)
    assert members is not None
    files = [nb_check.FileState(m, (root / m.path).read_bytes()) for m in members]
    jupytext = Jupytext(settings.pairing)
    return nb_check.check_pair(
        files, settings, root=root, history=history, jupytext=jupytext, fix=fix
    )


def our_codes(root: Path, notebook_path: Path, text_path: Path, pairing: str) -> list[str]:
    del text_path
    return [f.code for f in our_result(root, notebook_path, pairing, Committed()).findings]


def test_verdicts_agree_with_jupytext_sync_on_a_varied_corpus(tmp_path: Path) -> None:
    tally: Counter[str] = Counter()
    disagreements = []
    for index in range(CORPUS_SIZE):
        text_format, notebook = corpus_notebook(index)
        variants = ["fresh", *(EDITS[(index + k) % len(EDITS)] for k in (0, 2, 4))]
        for variant in variants:
            folder = tmp_path / f"{index:02d}-{variant}"
            folder.mkdir()
            notebook_path = folder / "nb.ipynb"
            write_notebook(notebook, notebook_path)
            assert jupytext_cli(["--sync", "--quiet", str(notebook_path)]) == 0
            (text_path,) = [p for p in folder.iterdir() if p != notebook_path]
            if variant != "fresh":
                edit(variant, notebook_path, text_path, text_format)
            rewrites = sync_rewrites(notebook_path, text_path, newer=text_path) or sync_rewrites(
                notebook_path, text_path, newer=notebook_path
            )
            pairing = f"ipynb,{text_format}"
            history = BothChanged() if variant == "both" else Committed()
            result = our_result(tmp_path, notebook_path, pairing, history)
            codes = [f.code for f in result.findings]
            assert nb_check.UNREADABLE not in codes, (folder.name, codes)
            tally[f"{'rewrites' if rewrites else 'untouched'}"] += 1
            tally[variant] += 1
            stale = nb_check.OUT_OF_SYNC in codes or nb_check.BOTH_CHANGED in codes
            if stale != rewrites:
                disagreements.append((folder.name, text_format, rewrites, codes))
            if variant == "both":
                assert nb_check.OUT_OF_SYNC not in codes, (folder.name, codes)
                fixed = our_result(tmp_path, notebook_path, pairing, history, fix=True)
                assert fixed.writes == {}, folder.name  # never a side to overwrite
    assert disagreements == []
    # The corpus exercises both verdicts, plenty of each, and every kind of edit.
    assert tally["untouched"] >= 50
    assert tally["rewrites"] >= 50
    assert all(tally[kind] >= 10 for kind in EDITS), tally


@pytest.mark.parametrize("text_format", ["py:percent", "md:myst"])
def test_a_fresh_pair_passes_and_an_edited_text_fails(tmp_path: Path, text_format: str) -> None:
    notebook = new_notebook(
        cells=[new_markdown_cell("# Title"), new_code_cell("x = 1", outputs=_outputs())],
        metadata={"jupytext": {"formats": f"ipynb,{text_format}"}, "kernelspec": KERNEL},
    )
    notebook_path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, notebook_path)
    jupytext_cli(["--sync", "--quiet", str(notebook_path)])
    (text_path,) = [p for p in tmp_path.iterdir() if p != notebook_path]
    assert our_codes(tmp_path, notebook_path, text_path, f"ipynb,{text_format}") == []
    edit("text", notebook_path, text_path)
    assert our_codes(tmp_path, notebook_path, text_path, f"ipynb,{text_format}") == [
        nb_check.OUT_OF_SYNC
    ]
