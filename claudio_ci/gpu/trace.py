"""Recorded NVML readings as JSON lines, replayed through the same code as a live GPU.

Line 1 is a header, every further line one snapshot:

    {"claudio_ci_trace": 1, "origin": "nvml", "recorded": "2026-05-07T10:00:00Z", "note": "..."}
    {"t": 0.5, "tree": [4242], "devices": [{"index": 0, "uuid": "GPU-...", "name": "NVIDIA H100
     80GB HBM3", "memory_used": 2097152, "memory_total": 85899345920, "energy_mj": 1200000,
     "power_mw": 310000, "processes": [[4242, 2097152]], "mig": false, "share": 1.0}]}

`t` is seconds from any origin; `tree` lists the recorded command's own processes; a
device's `processes` is a list of `[pid, used bytes or null]`, or null when NVML could not
list them (then `foreign`, when present, counts the pids of another pid namespace it listed);
`energy_mj` / `power_mw` are absent or null when the device does not report them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from claudio_ci.core.errors import UsageError
from claudio_ci.core.fileio import read_regular
from claudio_ci.gpu.readings import DeviceReading, ProcessUse, Snapshot

FORMAT_KEY = "claudio_ci_trace"
FORMAT_VERSION = 1
EXAMPLES = Path(__file__).with_name("traces")  # synthetic traces for the demo and the tests


def example_trace(name: str) -> Path:
    return EXAMPLES / name


def _device(data: dict[str, Any]) -> DeviceReading:
    processes = data.get("processes", [])
    if processes is not None:
        processes = tuple(
            ProcessUse(int(pid), None if m is None else int(m)) for pid, m in processes
        )
    return DeviceReading(
        index=int(data["index"]),
        uuid=str(data["uuid"]),
        name=str(data["name"]),
        memory_used=int(data.get("memory_used") or 0),
        memory_total=int(data.get("memory_total") or 0),
        energy_mj=data.get("energy_mj"),
        power_mw=data.get("power_mw"),
        processes=processes,
        mig=bool(data.get("mig", False)),
        parent_uuid=data.get("parent_uuid"),
        share=float(data.get("share", 1.0)),
        foreign=int(data.get("foreign") or 0),
    )


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    tree = data.get("tree")
    return Snapshot(
        time=float(data["t"]),
        devices=tuple(_device(d) for d in data.get("devices", [])),
        tree=None if tree is None else frozenset(int(pid) for pid in tree),
    )


def snapshot_to_json(snapshot: Snapshot, tree: Iterable[int] | None = None) -> dict[str, Any]:
    devices = []
    for d in snapshot.devices:
        item: dict[str, Any] = {
            "index": d.index,
            "uuid": d.uuid,
            "name": d.name,
            "memory_used": d.memory_used,
            "memory_total": d.memory_total,
            "energy_mj": d.energy_mj,
            "power_mw": d.power_mw,
            "processes": None if d.processes is None else [[p.pid, p.memory] for p in d.processes],
            "mig": d.mig,
            "share": d.share,
        }
        if d.parent_uuid:
            item["parent_uuid"] = d.parent_uuid
        if d.foreign:
            item["foreign"] = d.foreign
        devices.append(item)
    pids = snapshot.tree if tree is None else tree
    return {
        "t": round(snapshot.time, 6),
        "tree": None if pids is None else sorted(pids),
        "devices": devices,
    }


def read_trace(path: Path) -> tuple[dict[str, Any], list[Snapshot]]:
    """The header and the snapshots of a trace file; a bad line is a one-line usage error."""
    try:
        lines = read_regular(path).decode("utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such trace file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not a claudio-ci NVML trace (not UTF-8: {exc.reason})") from None
    header: dict[str, Any] | None = None
    snapshots: list[Snapshot] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if header is None:
                if data.get(FORMAT_KEY) != FORMAT_VERSION:
                    raise ValueError(f'the first line must hold "{FORMAT_KEY}": {FORMAT_VERSION}')
                header = data
            else:
                snapshots.append(snapshot_from_json(data))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path}:{number}: not a claudio-ci NVML trace line: {exc}") from None
    if header is None:
        raise UsageError(f"{path}: empty trace")
    if any(b.time < a.time for a, b in itertools.pairwise(snapshots)):
        raise UsageError(f"{path}: snapshot times go backwards")
    return header, snapshots


class ReplaySource:
    """A recorded trace, one snapshot per sampling interval; the rest when the run ends."""

    kind = "replay"

    def __init__(self, path: Path) -> None:
        self.header, snapshots = read_trace(path)
        self.label = f"replay of {path.name}"
        self.notices: list[str] = []
        self._pending: Iterator[Snapshot] = iter(snapshots)

    def read(self) -> Snapshot | None:
        return next(self._pending, None)

    def drain(self) -> Iterable[Snapshot]:
        return list(self._pending)

    def close(self) -> None:
        self._pending = iter(())


class TraceWriter:
    """Writes live snapshots as a trace (`gpu run --record FILE`), flushed line by line."""

    def __init__(self, path: Path, origin: str, note: str = "") -> None:
        self.path = path
        self._handle: IO[str] = path.open("w", encoding="utf-8")
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._write({FORMAT_KEY: FORMAT_VERSION, "origin": origin, "recorded": now, "note": note})

    def write(self, snapshot: Snapshot, tree: Iterable[int]) -> None:
        self._write(snapshot_to_json(snapshot, tree))

    def _write(self, data: dict[str, Any]) -> None:
        self._handle.write(json.dumps(data, separators=(",", ":")) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()
