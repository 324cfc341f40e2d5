"""The pairing check on files and git state handed to it: findings, and which side --fix
trusts. Real jupytext does the reading and writing."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from claudio_ci.core.findings import Severity
from claudio_ci.core.settings import NotebooksSection, build
from claudio_ci.notebooks import rules as nb_check
from claudio_ci.notebooks.sync import Jupytext

KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


class History:
    """git state as a test sets it: each file's change since the last commit; commit times."""

    def __init__(
        self,
        changes: dict[str, nb_check.Change] | None = None,
        times: dict[str, int] | None = None,
        versions: dict[str, list[bytes]] | None = None,
    ):
        self.changes = changes or {}
        self.times = times or {}
        self.committed = versions or {}

    def versions(self, path: str) -> list[bytes]:
        return self.committed.get(path, [])

    def change(self, path: str) -> nb_check.Change:
        return self.changes.get(path, nb_check.Change.NONE)

    def commit_time(self, path: str) -> int | None:
        return self.times.get(path)


def settings(**overrides: object) -> nb_check.Settings:
    return nb_check.Settings.from_config(build(NotebooksSection, overrides))


def pair_texts(*sources: str) -> tuple[bytes, bytes]:
    notebook = new_notebook(
        cells=[new_markdown_cell("# T"), *(new_code_cell(s) for s in sources)],
        metadata={"kernelspec": KERNEL, "jupytext": {"formats": "ipynb,py:percent"}},
    )
    return (
        (jupytext.writes(notebook, "ipynb") + "\n").encode(),
        jupytext.writes(notebook, "py:percent").encode(),
    )


def check(
    tmp_path: Path,
    notebook: bytes | None,
    text: bytes | None,
    history: History | None = None,
    fix: bool = False,
    notebook_in_git: bool = True,
    **overrides: object,
) -> nb_check.PairResult:
    chosen = settings(**overrides)
    members = chosen.pairing.members("notebooks/nb.ipynb", tmp_path)
    assert members is not None
    files = [
        nb_check.FileState(members[0], notebook, in_index=notebook_in_git and bool(notebook)),
        nb_check.FileState(members[1], text, in_index=text is not None),
    ]
    return nb_check.check_pair(
        files,
        chosen,
        root=tmp_path,
        history=history or History(),
        jupytext=Jupytext(chosen.pairing),
        fix=fix,
    )


def codes(result: nb_check.PairResult) -> list[str]:
    return [f.code for f in result.findings]


def test_a_good_pair_passes_and_is_worth_caching(tmp_path: Path) -> None:
    result = check(tmp_path, *pair_texts("x = 1"))
    assert (codes(result), result.content_ok) == ([], True)


def test_only_text_files_that_look_like_notebooks_need_one(tmp_path: Path) -> None:
    assert codes(check(tmp_path, None, b"def helper():\n    return 1\n")) == []
    for text in (
        b"# %%\nx = 1\n",
        b"#%% [markdown]\n# hi\n",
        b"# ---\n# jupyter:\n#   jupytext:\n",
    ):
        assert nb_check.NO_NOTEBOOK in codes(check(tmp_path, None, text)), text


def test_a_lone_allowed_notebook_needs_no_twin_nor_pairing(tmp_path: Path) -> None:
    notebook = (jupytext.writes(new_notebook(), "ipynb") + "\n").encode()
    assert codes(check(tmp_path, notebook, None)) == [nb_check.NO_TWIN, nb_check.PAIRING_METADATA]
    assert codes(check(tmp_path, notebook, None, allow_unpaired=["notebooks/*"])) == []


NB, PY = "notebooks/nb.ipynb", "notebooks/nb.py"
C = nb_check.Change


@pytest.mark.parametrize(
    ("changes", "times", "winner"),
    [
        ({NB: C.STAGED}, {}, "notebook"),
        ({NB: C.UNSTAGED}, {}, "notebook"),
        ({PY: C.STAGED}, {}, "text"),
        ({PY: C.UNSTAGED}, {}, "text"),
        ({PY: C.STAGED_AND_UNSTAGED}, {}, "text"),
        ({PY: C.UNTRACKED}, {}, "text"),
        ({}, {NB: 200, PY: 100}, "notebook"),
        ({}, {NB: 100, PY: 200}, "text"),
    ],
)
def test_fix_syncs_from_the_only_side_that_changed(
    tmp_path: Path, changes: dict[str, nb_check.Change], times: dict[str, int], winner: str
) -> None:
    notebook, _ = pair_texts("from_notebook = 1")
    _, text = pair_texts("from_text = 1")
    result = check(tmp_path, notebook, text, History(changes, times), fix=True)
    assert codes(result) == [nb_check.OUT_OF_SYNC]
    assert result.findings[0].fix is not None and result.findings[0].fix.applied
    ((path, written),) = result.writes.items()
    assert path == (PY if winner == "notebook" else NB)
    assert f"from_{winner} = 1" in written


BOTH_CHANGED = [
    {NB: a, PY: b}
    for a in (C.STAGED, C.UNSTAGED, C.STAGED_AND_UNSTAGED, C.ADDED, C.UNTRACKED)
    for b in (C.STAGED, C.UNSTAGED, C.STAGED_AND_UNSTAGED, C.ADDED, C.UNTRACKED)
]


@pytest.mark.parametrize("changes", BOTH_CHANGED, ids=lambda c: f"{c[NB].name}-{c[PY].name}")
def test_both_sides_changed_is_ambiguous_and_never_fixed(
    tmp_path: Path, changes: dict[str, nb_check.Change]
) -> None:
    notebook, _ = pair_texts("from_notebook = 1")
    _, text = pair_texts("from_text = 1")
    for fix in (False, True):
        result = check(tmp_path, notebook, text, History(changes), fix=fix)
        assert result.writes == {}
        (finding,) = result.findings
        assert (finding.code, finding.fix) == (nb_check.BOTH_CHANGED, None)
        assert f"{NB} {changes[NB].value} and {PY} {changes[PY].value}" in finding.message
        assert "keep the notebook: jupytext --to py:percent notebooks/nb.ipynb" in finding.hint


def test_fix_refuses_a_pair_committed_together_out_of_sync(tmp_path: Path) -> None:
    notebook, _ = pair_texts("from_notebook = 1")
    _, text = pair_texts("from_text = 1")
    result = check(tmp_path, notebook, text, History(times={NB: 100, PY: 100}), fix=True)
    assert result.writes == {}
    (finding,) = result.findings
    assert (finding.code, finding.fix) == (nb_check.OUT_OF_SYNC, None)
    assert "were committed together" in (finding.hint or "")


def test_with_untracked_notebooks_the_text_is_the_truth(tmp_path: Path) -> None:
    notebook, committed_text = pair_texts("stale = 1")
    _, text = pair_texts("truth = 1")
    history = History({NB: C.UNTRACKED, PY: C.UNSTAGED}, versions={PY: [committed_text]})
    result = check(
        tmp_path, notebook, text, history, fix=True, notebook_in_git=False, ipynb_tracked=False
    )
    (finding,) = result.findings
    assert (finding.code, finding.severity) == (nb_check.OUT_OF_SYNC, Severity.WARNING)
    assert list(result.writes) == ["notebooks/nb.ipynb"]
    assert "truth = 1" in result.writes["notebooks/nb.ipynb"]


def test_an_untracked_notebook_with_edits_of_its_own_is_never_overwritten(tmp_path: Path) -> None:
    _, committed_text = pair_texts("old = 1")
    notebook, _ = pair_texts("edited_in_jupyter = 1")
    _, text = pair_texts("pulled = 1")
    untracked = {"notebook_in_git": False, "ipynb_tracked": False}
    history = History({NB: C.UNTRACKED, PY: C.UNSTAGED}, versions={PY: [committed_text]})
    result = check(tmp_path, notebook, text, history, fix=True, **untracked)
    (finding,) = result.findings
    assert (finding.code, finding.severity, result.writes) == (
        nb_check.BOTH_CHANGED,
        Severity.WARNING,
        {},
    )
    assert "notebooks/nb.ipynb (not in git) in sync with no committed or staged" in finding.message
    history = History({NB: C.UNTRACKED}, versions={PY: [text]})  # only the notebook changed
    result = check(tmp_path, notebook, text, history, fix=True, **untracked)
    assert list(result.writes) == [PY]
    assert "edited_in_jupyter = 1" in result.writes[PY]


def test_a_fix_that_changes_nothing_more_is_a_fixed_point(tmp_path: Path) -> None:
    notebook, _ = pair_texts("a = 1")
    _, text = pair_texts("b = 2")
    first = check(tmp_path, notebook, text, History({PY: C.UNSTAGED}), fix=True)
    written = first.writes["notebooks/nb.ipynb"].encode()
    again = check(tmp_path, written, text, History({PY: C.UNSTAGED}), fix=True)
    assert (codes(again), again.writes) == ([], {})
