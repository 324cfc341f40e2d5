"""Sync semantics are jupytext's: on a corpus of varied notebooks, a pair passes exactly when
the real `jupytext --sync` leaves both files untouched, whichever file is the newer one."""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from jupytext.cli import jupytext as jupytext_cli
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from claudio_ci.checks import notebooks as nb_check
from claudio_ci.checks.notebook_sync import Jupytext
from claudio_ci.config import builtin_defaults

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
EDITS = ["text", "outputs", "tags", "source", "order"]
CORPUS_SIZE = 60


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
    return text_format, notebook


def edit(kind: str, notebook_path: Path, text_path: Path) -> None:
    if kind == "text":
        with text_path.open("a", encoding="utf-8") as handle:
            handle.write("\nz = 3\n")
        return
    notebook = nbformat.read(notebook_path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if kind == "outputs" and code:
        code[0].outputs = [new_output("stream", name="stdout", text="fresh output\n")]
    elif kind == "tags" and notebook.cells:
        notebook.cells[0].metadata["tags"] = ["edited"]
    elif kind == "source" and notebook.cells:
        notebook.cells[0].source += "\nedited = True"
    elif kind == "order" and len(notebook.cells) > 1:
        notebook.cells.reverse()
    nbformat.write(notebook, notebook_path)


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


def our_codes(root: Path, notebook_path: Path, text_path: Path, pairing: str) -> list[str]:
    section = {**builtin_defaults()["notebooks"], "formats": pairing, "paths": ["**"]}
    settings = nb_check.Settings.from_config(section)
    members = settings.pairing.members(notebook_path.relative_to(root).as_posix(), root)
    assert members is not None
    files = [nb_check.FileState(m, (root / m.path).read_bytes()) for m in members]
    result = nb_check.check_pair(
        files, settings, root=root, history=Committed(), jupytext=Jupytext(settings.pairing)
    )
    return [f.code for f in result.findings]


def test_verdicts_agree_with_jupytext_sync_on_a_varied_corpus(tmp_path: Path) -> None:
    tally: Counter[str] = Counter()
    disagreements = []
    for index in range(CORPUS_SIZE):
        text_format, notebook = corpus_notebook(index)
        for variant in ("fresh", EDITS[index % len(EDITS)], EDITS[(index + 2) % len(EDITS)]):
            folder = tmp_path / f"{index:02d}-{variant}"
            folder.mkdir()
            notebook_path = folder / "nb.ipynb"
            nbformat.write(notebook, notebook_path)
            assert jupytext_cli(["--sync", "--quiet", str(notebook_path)]) == 0
            (text_path,) = [p for p in folder.iterdir() if p != notebook_path]
            if variant != "fresh":
                edit(variant, notebook_path, text_path)
            rewrites = sync_rewrites(notebook_path, text_path, newer=text_path) or sync_rewrites(
                notebook_path, text_path, newer=notebook_path
            )
            codes = our_codes(tmp_path, notebook_path, text_path, f"ipynb,{text_format}")
            assert nb_check.UNREADABLE not in codes, (folder.name, codes)
            tally[f"{'rewrites' if rewrites else 'untouched'}"] += 1
            if (nb_check.OUT_OF_SYNC in codes) != rewrites:
                disagreements.append((folder.name, text_format, rewrites, codes))
    assert disagreements == []
    # The corpus exercises both verdicts, plenty of each.
    assert tally["untouched"] >= 50
    assert tally["rewrites"] >= 50


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
