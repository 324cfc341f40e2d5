"""The checkpoint probe on files real torch writes: the model's weights, not training state."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudio_ci.smoke import probe

torch = pytest.importorskip("torch")


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))


def _save(tmp_path: Path, obj: object, name: str = "model.pt") -> str:
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def test_training_state_beside_the_weights_is_not_checked(tmp_path: Path) -> None:
    model = _model()
    lightning = {
        "state_dict": model.state_dict(),
        "callbacks": {"ModelCheckpoint{}": {"kth_value": torch.tensor(float("inf"))}},
        "optimizer_states": [],
    }
    assert probe.check_checkpoint(_save(tmp_path, lightning)) == {
        "ok": True,
        "arrays": 4,
        "nonfinite": [],
        "weights": "state_dict",
    }
    flat = {
        "encoder": model.state_dict(),
        "best_val_loss": float("inf"),
        "optimizer": {"state": {0: {"momentum_buffer": torch.tensor([float("inf")])}}},
    }
    assert probe.check_checkpoint(_save(tmp_path, flat))["nonfinite"] == []


def test_nan_weights_are_named_under_their_key(tmp_path: Path) -> None:
    model = _model()
    with torch.no_grad():
        model[1].bias[0] = float("nan")
    nanogpt = {"model": model.state_dict(), "iter_num": 20, "config": {"lr": 0.1}}
    result = probe.check_checkpoint(_save(tmp_path, nanogpt))
    assert result["nonfinite"] == ["model.1.bias"]


def test_a_whole_module_loads_only_when_trusted(tmp_path: Path) -> None:
    model = _model()
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    path = _save(tmp_path, model)

    refused = probe.check_checkpoint(path)
    assert refused["ok"] is False
    assert refused["error"].startswith(
        "UnpicklingError: WeightsUnpickler error: Unsupported global"
    )
    assert "torch.nn.modules.container.Sequential" in refused["error"]

    trusted = probe.check_checkpoint(path, trusted=True)
    assert trusted["nonfinite"] == ["state_dict().0.weight"]


def test_an_error_reason_loses_its_terminal_colours() -> None:
    error = ValueError("\x1b[1m\x1b[31mbad\x1b[0m header\nmore")
    assert probe.reason(error) == "ValueError: bad header"


def test_safetensors_are_read_whole(tmp_path: Path) -> None:
    save_file = pytest.importorskip("safetensors.torch").save_file
    state = {k: v.contiguous() for k, v in _model().state_dict().items()}
    state["1.bias"][0] = float("nan")
    save_file(state, str(tmp_path / "model.safetensors"))
    result = probe.check_checkpoint(str(tmp_path / "model.safetensors"))
    assert (result["arrays"], result["nonfinite"]) == (4, ["1.bias"])
