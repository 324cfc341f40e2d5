"""Cached verdicts: keyed by everything a verdict depends on, and nothing else."""

from __future__ import annotations

from pathlib import Path

from jupytext.config import JUPYTEXT_CONFIG_FILES

from claudio_ci.notebooks import cache as notebook_cache
from claudio_ci.notebooks.cache import VerdictCache

FILES = [("notebooks/a.ipynb", b'{"cells": []}\n'), ("notebooks/a.py", b"# %%\nx = 1\n")]


def test_the_config_file_names_are_jupytexts() -> None:
    assert list(notebook_cache.JUPYTEXT_CONFIG_FILES) == JUPYTEXT_CONFIG_FILES


def test_the_same_pair_in_another_worktree_has_the_same_key(tmp_path: Path) -> None:
    one, other = tmp_path / "one" / "notebooks", tmp_path / "wt" / "x" / "notebooks"
    one.mkdir(parents=True)
    other.mkdir(parents=True)
    cache = VerdictCache(tmp_path, "ipynb,py:percent|True|False")
    assert cache.key(one, FILES) == cache.key(other, FILES)


def test_the_key_follows_content_settings_and_jupytext_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "notebooks"
    folder.mkdir(parents=True)
    base = VerdictCache(tmp_path, "ipynb,py:percent|True|False").key(folder, FILES)
    keys = {base}
    keys.add(VerdictCache(tmp_path, "ipynb,md:myst|True|False").key(folder, FILES))
    edited = [FILES[0], ("notebooks/a.py", b"# %%\nx = 2\n")]
    keys.add(VerdictCache(tmp_path, "ipynb,py:percent|True|False").key(folder, edited))
    absent = [FILES[0], ("notebooks/a.py", None)]
    keys.add(VerdictCache(tmp_path, "ipynb,py:percent|True|False").key(folder, absent))
    assert len(keys) == 4

    def key_now() -> str:  # a new run reads the configuration files again
        return VerdictCache(tmp_path, "ipynb,py:percent|True|False").key(folder, FILES)

    (tmp_path / "repo" / "pyproject.toml").write_text("[project]\nname = 'x'\n", "utf-8")
    assert key_now() == base
    (tmp_path / "repo" / "pyproject.toml").write_text("[tool.jupytext]\nformats = 'ipynb'\n")
    with_pyproject = key_now()
    (tmp_path / "repo" / "jupytext.toml").write_text('cell_metadata_filter = "-all"\n')
    assert len({base, with_pyproject, key_now()}) == 3


def test_verdicts_are_remembered_across_runs(tmp_path: Path) -> None:
    state = tmp_path / "claudio"
    cache = VerdictCache(state, "s")
    key = cache.key(tmp_path, FILES)
    assert not cache.known(key)
    cache.remember(key)
    cache.save()
    assert VerdictCache(state, "s").known(key)
    assert not VerdictCache(state, "other settings").known(
        VerdictCache(state, "o").key(tmp_path, FILES)
    )


def test_a_cache_that_cannot_be_written_caches_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory", "utf-8")
    broken = VerdictCache(tmp_path / "file", "s")
    key = broken.key(tmp_path, FILES)
    broken.remember(key)
    broken.save()
    assert not VerdictCache(tmp_path / "file", "s").known(key)
