"""A block of lines that claudio-ci owns inside a file that is not its own (`.env`,
`info/exclude`): rewritten in place, every line around it kept byte for byte."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from claudio_ci.core.fileio import write_atomic

BEGIN = "# >>> claudio-ci >>>"
END = "# <<< claudio-ci <<<"
ENCODING = "utf-8"
ERRORS = "surrogateescape"  # a file that is not UTF-8 comes back unchanged


class DamagedBlock(ValueError):
    """The markers are not one BEGIN followed by one END: editing could eat the user's lines."""


def _bounds(lines: Sequence[str]) -> tuple[int, int] | None:
    begins = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == BEGIN]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == END]
    if not begins and not ends:
        return None
    if len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0]:
        return begins[0], ends[0]
    raise DamagedBlock(f"expected one '{BEGIN}' line, then one '{END}' line")


def read_block(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    bounds = _bounds(lines)
    if bounds is None:
        return []
    return [line.rstrip("\r\n") for line in lines[bounds[0] + 1 : bounds[1]]]


def replace_block(text: str, body: Sequence[str]) -> str:
    """`text` with our block holding `body`: replaced where it is, appended when absent."""
    lines = text.splitlines(keepends=True)
    block = [f"{line}\n" for line in (BEGIN, *body, END)]
    bounds = _bounds(lines)
    if bounds is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return "".join(lines + block)
    start, end = bounds
    return "".join(lines[:start] + block + lines[end + 1 :])


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode(ENCODING, ERRORS)
    except FileNotFoundError:
        return ""


def update_file(path: Path, body: Sequence[str]) -> bool:
    """Write our block into `path` (atomically); False when it already held exactly that."""
    old = read_text(path)
    new = replace_block(old, body)
    if new == old:
        return False
    write_atomic(path, new.encode(ENCODING, ERRORS))
    return True


_GITIGNORE_SPECIAL = re.compile(r"([\\*?\[!#])")


def anchored_pattern(relative: str) -> str:
    """A gitignore pattern matching exactly this path under the worktree root."""
    escaped = _GITIGNORE_SPECIAL.sub(r"\\\1", relative.rstrip("/"))
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped
