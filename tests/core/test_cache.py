"""The JSON cache in the common git dir: best effort, never an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claudio_ci.core.cache import JsonCache, cache_key, fingerprint


def test_keys_tell_apart_how_the_parts_are_split() -> None:
    assert cache_key("ab", "c") != cache_key("a", "bc")
    assert cache_key("a", b"b") == cache_key(b"a", "b")
    assert len(cache_key("x")) == 40


def test_fingerprint_follows_the_files_content(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text("x = 1\n")
    before = fingerprint([code], "1.0")
    assert fingerprint([code], "1.0") == before
    assert fingerprint([code], "1.1") != before
    code.write_text("x = 2\n")
    assert fingerprint([code], "1.0") != before


def test_entries_survive_a_save_and_only_new_ones_write(tmp_path: Path) -> None:
    path = tmp_path / "claudio" / "c.json"
    cache = JsonCache(path)
    cache.save()
    assert not path.exists()
    cache.put("k", {"v": [1, 2]})
    cache.save()
    assert JsonCache(path).get("k") == {"v": [1, 2]}
    mtime = path.stat().st_mtime_ns
    reread = JsonCache(path)
    reread.get("k")
    reread.save()
    assert path.stat().st_mtime_ns == mtime


def test_over_the_limit_only_this_runs_entries_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    first = JsonCache(path, max_entries=2)
    for key in "abc":
        first.put(key, key)
    first.save()
    assert set(json.loads(path.read_text())["entries"]) == {"a", "b", "c"}
    second = JsonCache(path, max_entries=2)
    second.get("a")
    second.put("d", "d")
    second.save()
    assert set(json.loads(path.read_text())["entries"]) == {"a", "d"}


@pytest.mark.parametrize("junk", ["", "{", "[]", '{"format": 99, "entries": {"k": 1}}'])
def test_a_corrupt_or_foreign_file_is_an_empty_cache(tmp_path: Path, junk: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(junk)
    assert JsonCache(path).get("k") is None


def test_an_unwritable_cache_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    cache = JsonCache(blocker / "c.json")
    cache.put("k", 1)
    cache.save()
    assert blocker.read_text() == "a file where the cache directory should be"
