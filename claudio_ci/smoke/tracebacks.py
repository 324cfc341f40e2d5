"""Find the last Python traceback in a log, and the project line it failed at."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

HEADER = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_INSTALLED = {"site-packages", "dist-packages"}


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str


@dataclass(frozen=True)
class Traceback:
    frames: tuple[Frame, ...]
    exception: str  # "ValueError: boom", the first line of the message

    def project_frame(self, roots: Sequence[Path]) -> tuple[str, int] | None:
        """The innermost frame in one of `roots` (the project, maybe under several names)
        and not in installed packages, as (repo-relative POSIX path, line)."""
        for frame in reversed(self.frames):
            path = PurePath(frame.file)
            if frame.file.startswith("<") or _INSTALLED & set(path.parts):
                continue  # <string>, <frozen ...>, or a library's code
            for root in roots:
                candidate = path if path.is_absolute() else root / path
                if candidate.is_relative_to(root):
                    return candidate.relative_to(root).as_posix(), frame.line
        return None


def last_traceback(lines: Sequence[str]) -> Traceback | None:
    """The last traceback in `lines` (the one that ended the program), if any.

    A chained exception prints several; the last header starts the one that was raised.
    A header may follow a progress bar that ended without a newline (tqdm's).
    """
    starts = [i for i, line in enumerate(lines) if line.rstrip().endswith(HEADER)]
    if not starts:
        return None
    frames: list[Frame] = []
    for line in lines[starts[-1] + 1 :]:
        match = _FRAME.match(line)
        if match:
            frames.append(Frame(match["file"], int(match["line"]), match["function"] or ""))
        elif line and not line[0].isspace():
            return Traceback(tuple(frames), line.strip())
    return Traceback(tuple(frames), "") if frames else None
