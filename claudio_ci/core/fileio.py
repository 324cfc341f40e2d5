"""Writing files so that a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (links followed); at most `limit` + 1 of them when given.

    A FIFO, socket or device raises `OSError` ("not a regular file") instead of being read:
    reading a FIFO nobody writes to would wait forever.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO opens without waiting for a writer
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if limit is None else handle.read(limit + 1)


def write_atomic(
    path: Path, data: bytes | str, encoding: str = "utf-8", *, durable: bool = True
) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place.

    The file keeps its permission bits when it already exists; a new one gets those `open()`
    would give it (0o666 less the umask, or the directory's default ACL), not the 0o600 of
    `mkstemp`: the temporary file is created as `open()` creates one, so the kernel applies
    them and the umask is never read. An error names `path`, not the temporary file.
    `durable=False` skips the fsync (about 8 ms): right for caches, whose loss only costs time.
    """
    raw = data.encode(encoding) if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode & 0o7777 if path.exists() else None
        fd, tmp = _create_beside(path)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename == tmp:
            raise _naming(exc, path) from None
        raise


def _naming(exc: OSError, path: Path) -> OSError:
    """The same error about `path` (a full disk or a read-only directory is about the target)."""
    return exc if exc.errno is None else type(exc)(exc.errno, exc.strerror, str(path))


def _create_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in `path`'s directory, open for writing, created with mode 0o666
    as `open()` creates a file, so that the kernel applies the umask or default ACL."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path.parent))
