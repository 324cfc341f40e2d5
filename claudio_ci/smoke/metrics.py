"""Read the metrics a training run already writes, in whatever format its trainer uses.

JSON documents (the example project's `{"steps": [...]}`, Hugging Face's `trainer_state.json`
with `log_history`), JSON Lines records (only the lines this run appended), CSV (Lightning's
`CSVLogger` `metrics.csv`), TensorBoard event files (by TensorBoard's own loader, the
`tensorboard` extra, imported only to read one), and the training log itself, where
minGPT, nanoGPT and pytorch/examples print `loss 4.21`. Every reader gives plain data that
`claudio_ci.smoke.rules` checks.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from claudio_ci.smoke.rules import parse_metrics

# Files trainers write on their own, tried (after `metrics_path`) when the run wrote none of
# those: the first pattern with a file written by this run wins, the newest of its files.
DETECTED = (
    "trainer_state.json",  # Hugging Face Trainer
    "metrics.csv",  # Lightning CSVLogger
    "metrics.jsonl",
    "metrics.json",
    "events.out.tfevents.*",  # TensorBoard (torch SummaryWriter, Lightning, HF)
)
_SKIPPED_DIRS = {"node_modules", "__pycache__", "site-packages", "venv", "env", "wandb"}
MAX_BYTES = 256 * 2**20  # a metrics file larger than this is not one (images in TensorBoard)
WALK_LIMIT = 50_000  # directory entries looked at when detecting: a data dir must not stall us
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"

Signature = tuple[int, int, int]


def signature(path: Path) -> Signature | None:
    """(mtime, size, inode): tells a file this run wrote from one an earlier run left."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def walk(root: Path, names: Sequence[str]) -> dict[str, Signature]:
    """Files under `root` whose name matches one of `names` (fnmatch), repo-relative, with
    their signatures. Hidden and environment directories are skipped, and the walk stops
    after WALK_LIMIT entries."""
    found: dict[str, Signature] = {}
    seen = 0
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        seen += len(dirs) + len(files)
        for name in files:
            if any(fnmatch.fnmatch(name, pattern) for pattern in names):
                path = Path(directory, name)
                sig = signature(path)
                if sig is not None:
                    found[path.relative_to(root).as_posix()] = sig
        if seen > WALK_LIMIT:
            break
    return found


def expand(root: Path, patterns: Sequence[str]) -> dict[str, Signature]:
    """The files `patterns` (paths or globs, relative to `root` or absolute) name now, with
    their signatures; keyed repo-relative where they are inside `root`."""
    found: dict[str, Signature] = {}
    for pattern in patterns:
        if not set("*?[") & set(pattern):
            names = [pattern]
        else:  # relative to root_dir, so that brackets in the root's own path are no pattern
            names = glob.glob(pattern, root_dir=root, recursive=True)
        for name in names:
            path = root / name  # an absolute name stays as it is
            sig = signature(path) if path.is_file() else None
            if sig is not None:
                inside = path.is_relative_to(root)
                found[path.relative_to(root).as_posix() if inside else str(path)] = sig
    return found


def newest_written(
    before: dict[str, Signature], after: dict[str, Signature]
) -> tuple[str | None, bool]:
    """(the newest file written by the run, whether any file matched at all)."""
    written = [path for path, sig in after.items() if before.get(path) != sig]
    if not written:
        return None, bool(after)
    return max(written, key=lambda path: (after[path][0], path)), True


# --- readers ------------------------------------------------------------------------------


def _float_or_text(cell: str) -> Any:
    try:
        return float(cell)
    except ValueError:
        return cell


def read_csv(text: str) -> list[dict[str, Any]]:
    """Rows as records, empty cells left out (Lightning logs train and val on separate rows)."""
    rows = csv.DictReader(io.StringIO(text))
    return [
        {key: _float_or_text(cell) for key, cell in row.items() if key and cell not in ("", None)}
        for row in rows
    ]


def read_json(text: str, appended_from: int | None = None) -> Any:
    """A JSON document, or JSON Lines; of a JSON Lines file that grew during the run (it
    was `appended_from` bytes long before), only the records the run appended."""
    if appended_from:
        data = text.encode("utf-8")
        if data[appended_from - 1 : appended_from] == b"\n" and not _one_document(text):
            return [json.loads(line) for line in data[appended_from:].splitlines() if line.strip()]
    return parse_metrics(text)


def _one_document(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def loss_lines(lines: Sequence[str], pattern: str) -> list[dict[str, Any]]:
    """`{"loss": value, "line": n}` for each log line where `pattern` is followed by a number
    (the first such place in the line: nanoGPT's `train loss 4.2, val loss 4.3` is 4.2)."""
    regex = re.compile(f"(?:{pattern})\\s*({NUMBER})", re.IGNORECASE)
    records = []
    for number, line in enumerate(lines, 1):
        match = regex.search(line)
        if match:
            records.append({"loss": float(match[1]), "line": number})
    return records


# --- TensorBoard event files --------------------------------------------------------------

TENSORBOARD_MISSING = (
    "reading a TensorBoard event file needs the tensorboard package: "
    "pip install 'claudio-ci[tensorboard]'"
)


def read_tfevents(path: Path) -> list[dict[str, Any]]:
    """One record per event with scalars: `{"step": n, tag: value, ...}`.

    TensorBoard's own loader reads the file (imported here, not at start-up: it costs a few
    tenths of a second); it stops at a record cut short or failing its CRC (a writer killed
    mid-write) and turns `simple_value` scalars into tensors: every scalar is a 1-element one.
    """
    try:
        from google.protobuf.message import DecodeError
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util.tensor_util import make_ndarray
    except ImportError:
        raise ValueError(TENSORBOARD_MISSING) from None
    records = []
    try:
        for event in EventFileLoader(str(path)).Load():
            scalars = {}
            for value in event.summary.value:
                try:
                    array = make_ndarray(value.tensor)
                except (TypeError, ValueError):  # no tensor, or not one numpy reads: no scalar
                    continue
                if value.tag and array.size == 1 and array.dtype.kind in "fiu":
                    scalars[value.tag] = float(array.item())
            if scalars:
                records.append({"step": event.step, **scalars})
    except DecodeError as exc:
        raise ValueError(f"not a TensorBoard event file: {exc}") from None
    return records


def read(path: Path, appended_from: int | None = None) -> Any:
    """The metrics in `path`, by its name; ValueError (or OSError) when it cannot be read."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{size / 2**20:.0f} MiB, over the {MAX_BYTES // 2**20} MiB read")
    try:
        if path.name.startswith("events.out.tfevents"):
            return read_tfevents(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".csv":
            return read_csv(text)
        return read_json(text, appended_from)
    except csv.Error as exc:
        raise ValueError(f"not CSV: {exc}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
