"""Reading what trainers write: each reader against the real writer where one installs."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claudio_ci.smoke import metrics
from claudio_ci.smoke.rules import loss_series


def test_tensorboard_scalars_written_by_a_real_summary_writer(tmp_path: Path) -> None:
    tensorboard_x = pytest.importorskip("tensorboardX")
    writer = tensorboard_x.SummaryWriter(str(tmp_path))
    for step, loss in enumerate([2.0, 1.5, float("nan")]):
        writer.add_scalar("train/loss", loss, step)
        writer.add_scalar("lr", 0.1, step)
    writer.add_text("note", "not a metric", 0)  # string and histogram tensors: not scalars
    writer.add_histogram("weights", [1.0, 2.0, 3.0], 0)
    writer.close()
    [events] = tmp_path.glob("events.out.tfevents.*")

    records = metrics.read(events)

    assert [r["step"] for r in records] == [0, 0, 1, 1, 2, 2]
    assert [r["train/loss"] for r in records if "train/loss" in r][:2] == [2.0, 1.5]
    assert math.isnan(loss_series(records, ["train/loss"])[-1])


def test_tensorboard_tensor_summaries_and_a_cut_off_last_record(tmp_path: Path) -> None:
    """TF2-style summaries carry the value in a tensor; a killed writer leaves half a record."""
    pytest.importorskip("tensorboardX")
    from tensorboardX.proto import event_pb2, summary_pb2, tensor_pb2
    from tensorboardX.record_writer import RecordWriter

    path = tmp_path / "events.out.tfevents.1.host"
    writer = RecordWriter(str(path))
    for step, tensor in enumerate(
        [
            tensor_pb2.TensorProto(dtype=1, float_val=[3.0]),
            tensor_pb2.TensorProto(dtype=2, double_val=[2.5]),
            tensor_pb2.TensorProto(dtype=1, tensor_content=b"\x00\x00\x00\x40"),  # 2.0
        ]
    ):
        value = summary_pb2.Summary.Value(tag="loss", tensor=tensor)
        empty = summary_pb2.Summary.Value(tag="note")  # no value at all: skipped
        event = event_pb2.Event(step=step, summary=summary_pb2.Summary(value=[value, empty]))
        writer.write(event.SerializeToString())
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data + data[:20])

    assert metrics.read(path) == [
        {"step": 0, "loss": 3.0},
        {"step": 1, "loss": 2.5},
        {"step": 2, "loss": 2.0},
    ]


def test_lightning_csv_rows_leave_out_empty_cells() -> None:
    text = "epoch,step,train_loss,val_loss\n0,0,2.5,\n0,1,nan,\n0,1,,1.9\n"
    records = metrics.read_csv(text)
    assert records[0] == {"epoch": 0.0, "step": 0.0, "train_loss": 2.5}
    assert math.isnan(records[1]["train_loss"])
    assert records[2] == {"epoch": 0.0, "step": 1.0, "val_loss": 1.9}


def test_hugging_face_log_history_is_the_record_list() -> None:
    state = {
        "log_history": [
            {"loss": 2.0, "grad_norm": 1.0, "step": 10},
            {"eval_loss": 1.9, "step": 10},
            {"loss": 1.5, "grad_norm": 0.5, "step": 20},
            {"train_loss": 1.7, "train_runtime": 3.0, "step": 20},
        ]
    }
    assert loss_series(state) == [2.0, 1.5]


def test_a_nested_loss_key() -> None:
    assert loss_series([{"train": {"loss": 2}}, {"train": {"loss": 1}}], ["train/loss"]) == [2, 1]


@pytest.mark.parametrize(
    ("line", "loss"),
    [
        ("iter_dt 31.52ms; iter 100: train loss 2.34567", 2.34567),  # minGPT
        ("iter 10: loss 3.1234, time 40.12ms, mfu 1.23%", 3.1234),  # nanoGPT
        ("step 250: train loss 1.8812, val loss 1.9907", 1.8812),  # nanoGPT evaluation
        (
            "| epoch   1 |   200/ 2983 batches | lr 20.00 | ms/batch 40.21 | loss  7.63 | ppl",
            7.63,
        ),  # pytorch/examples word_language_model
        ("Epoch 1: 100%|##| 10/10 [00:01<00:00, loss=0.512, v_num=0]", 0.512),  # a tqdm postfix
        ("iter 3: loss nan, time 12ms", math.nan),
        ("loss: 1e-3", 1e-3),
    ],
)
def test_losses_printed_as_trainers_print_them(line: str, loss: float) -> None:
    [record] = metrics.loss_lines(["starting", line], "loss[=: ]")
    assert record["line"] == 2
    assert record["loss"] == loss or (math.isnan(loss) and math.isnan(record["loss"]))


def test_a_line_without_a_number_after_the_pattern_is_no_loss() -> None:
    assert metrics.loss_lines(["loss function: cross entropy", "lossy: 1"], "loss[=: ]") == []


def test_json_lines_appended_by_this_run_only(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"loss": 9.0}) + "\n")
    before = path.stat().st_size
    with path.open("a") as handle:
        handle.write(json.dumps({"loss": 1.0}) + "\n" + json.dumps({"loss": 0.5}) + "\n")
    assert metrics.read(path, before) == [{"loss": 1.0}, {"loss": 0.5}]
    assert len(metrics.read(path)) == 3


def test_a_json_document_rewritten_longer_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"steps": [{"loss": 1.0}, {"loss": 0.5}]}))
    assert metrics.read(path, 10) == {"steps": [{"loss": 1.0}, {"loss": 0.5}]}


def test_detection_skips_hidden_and_environment_directories(tmp_path: Path) -> None:
    for name in (
        "lightning_logs/version_0/metrics.csv",
        ".venv/lib/metrics.csv",
        "node_modules/x/metrics.json",
        "out/checkpoint-8/trainer_state.json",
        "runs/Dec04/events.out.tfevents.1.host",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert sorted(metrics.walk(tmp_path, metrics.DETECTED)) == [
        "lightning_logs/version_0/metrics.csv",
        "out/checkpoint-8/trainer_state.json",
        "runs/Dec04/events.out.tfevents.1.host",
    ]


def test_paths_and_globs_relative_or_absolute(tmp_path: Path) -> None:
    (tmp_path / "outputs/2026-12-04/10-00").mkdir(parents=True)
    (tmp_path / "outputs/2026-12-04/10-00/model.pt").write_text("x")
    (tmp_path / "model.pt").write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.pt"
    outside.write_text("x")
    assert sorted(metrics.expand(tmp_path, ["outputs/**/*.pt", "model.pt", str(outside)])) == [
        str(outside),
        "model.pt",
        "outputs/2026-12-04/10-00/model.pt",
    ]
    assert metrics.expand(tmp_path, ["missing.pt", "nothing/*.pt"]) == {}


def test_a_root_with_brackets_in_its_path(tmp_path: Path) -> None:
    root = tmp_path / "runs[1]"
    (root / "out").mkdir(parents=True)
    (root / "out" / "model.pt").write_text("x")
    assert list(metrics.expand(root, ["out/*.pt"])) == ["out/model.pt"]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), framed=st.booleans())
def test_any_bytes_as_an_event_file_are_records_or_a_value_error(data: bytes, framed: bool) -> None:
    pytest.importorskip("tensorboardX")
    from tensorboardX.record_writer import RecordWriter

    path = Path(tempfile.mkdtemp()) / "events.out.tfevents.1.host"
    if framed:  # a record with valid CRCs around the bytes: the protocol buffer decoder sees them
        writer = RecordWriter(str(path))
        writer.write(data)
        writer.close()
    else:
        path.write_bytes(data)
    with contextlib.suppress(ValueError):
        assert isinstance(metrics.read(path), list)


def test_a_damaged_event_is_a_value_error(tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    from tensorboardX.record_writer import RecordWriter

    path = tmp_path / "events.out.tfevents.1.host"
    writer = RecordWriter(str(path))
    writer.write(b"\x0a\xff")  # field 1 (wall_time) as a length of 127 bytes that are not there
    writer.close()
    with pytest.raises(ValueError, match="not a TensorBoard event file"):
        metrics.read(path)


def test_without_tensorboard_an_event_file_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(b"")
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)  # None: its import raises ImportError
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ValueError) as caught:
        metrics.read(path)
    assert str(caught.value) == metrics.TENSORBOARD_MISSING
    assert "pip install 'claudio-ci[tensorboard]'" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("metrics.csv", "a,b\n1," + "x" * 200_000 + "\n"),  # over csv's field size limit
        ("metrics.json", "[" * 100_000 + "]" * 100_000),
        ("metrics.jsonl", '{"loss": 1}\n{"loss": \n'),
    ],
)
def test_broken_metrics_are_a_value_error(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError):
        metrics.read(tmp_path / name)
