"""The recorded-trace format: round trip, replay order, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudio_ci.core.errors import UsageError
from claudio_ci.gpu.trace import ReplaySource, TraceWriter, read_trace
from tests.gpu.builders import GIB, ROOT, gpu, snap, write_trace


def test_a_written_trace_replays_the_same_snapshots(tmp_path: Path) -> None:
    snapshots = [
        snap(0.0, gpu(procs=[(ROOT, GIB)], energy=10, power=20), gpu(1, procs=None, foreign=2)),
        snap(0.5, gpu(uuid="MIG-x", mig=True, parent="GPU-p", share=0.25, procs=[(7, None)])),
    ]
    writer = TraceWriter(tmp_path / "t.jsonl", origin="nvml", note="python train.py")
    for s in snapshots:
        writer.write(s, s.tree or ())
    writer.close()
    header, replayed = read_trace(tmp_path / "t.jsonl")
    assert header["origin"] == "nvml"
    assert header["note"] == "python train.py"
    assert replayed == snapshots


def test_replay_gives_one_snapshot_per_read_then_the_rest_on_drain(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "t.jsonl", [snap(t, gpu()) for t in range(5)])
    source = ReplaySource(path)
    assert source.kind == "replay"
    assert source.label == "replay of t.jsonl"
    assert [source.read().time, source.read().time] == [0, 1]
    assert [s.time for s in source.drain()] == [2, 3, 4]
    assert source.read() is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty trace"),
        ('{"origin": "nvml"}\n', ":1: not a claudio-ci NVML trace line: the first line must hold"),
        ('{"claudio_ci_trace": 1}\n{"t": 0, "devices": [{"uuid": "x"}]}\n', ":2: not a claudio"),
        ('{"claudio_ci_trace": 1}\nnot json\n', ":2: not a claudio-ci NVML trace line"),
        ('{"claudio_ci_trace": 1}\n{"t": 2, "devices": []}\n{"t": 1, "devices": []}\n', "go back"),
    ],
)
def test_a_bad_trace_is_one_line_naming_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match=message) as info:
        read_trace(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_a_missing_trace_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such trace file"):
        ReplaySource(tmp_path / "missing.jsonl")


def test_a_trace_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"claudio_ci_trace": 1, "host": "caf\xe9"}\n')
    with pytest.raises(UsageError, match=r"latin.jsonl: not a claudio-ci NVML trace \(not UTF-8"):
        read_trace(path)
