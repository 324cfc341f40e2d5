"""Atomic writes and careful reads."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from claudio_ci.core.fileio import read_regular, write_atomic


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path: Path, umask_027: None) -> None:
    path = tmp_path / "new.yaml"
    write_atomic(path, "a: 1\n")
    assert path.read_text(encoding="utf-8") == "a: 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # 0o666 less the umask, not 0o600


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "hook"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o751)
    write_atomic(path, "new")
    assert (path.read_text(encoding="utf-8"), stat.S_IMODE(path.stat().st_mode)) == ("new", 0o751)


def test_an_error_names_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "CODEOWNERS"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as caught:
        write_atomic(target, "* @a\n")
    assert caught.value.filename == str(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CODEOWNERS"]  # no temporary left


@pytest.mark.timeout(20)
def test_read_regular_refuses_a_fifo_instead_of_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file") as caught:
        read_regular(fifo)
    assert caught.value.filename == str(fifo)


def test_read_regular_reads_files_and_stops_after_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_bytes(b"0123456789")
    assert read_regular(path) == b"0123456789"
    assert read_regular(path, limit=3) == b"0123"  # one more than the limit: "over it"
    (tmp_path / "link").symlink_to(path)
    assert read_regular(tmp_path / "link") == b"0123456789"
    with pytest.raises(IsADirectoryError) as caught:
        read_regular(tmp_path)
    assert caught.value.filename == str(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing")
