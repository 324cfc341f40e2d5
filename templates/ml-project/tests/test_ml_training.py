"""Training and evaluation end to end: configs, the CLIs, metrics.json and checkpoints."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# isort: split
# (keeps `src` imports apart whether or not a linter sees `src` as first-party)
from src.models import build_model
from src.training.train import ConfigError, load_config, main

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((PROJECT_ROOT / "experiments").glob("*.yaml"))


def run_script(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a project script the documented way: from the project root."""
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CPU epoch of experiments/test.yaml, trained once for the whole module."""
    out = tmp_path_factory.mktemp("test-run")
    result = run_script(
        "src/training/train.py",
        *("--config", "experiments/test.yaml", "--epochs", "1"),
        *("--device", "cpu", "--output-dir", str(out)),
    )
    assert result.returncode == 0, result.stderr
    assert "epoch 1/1 loss=" in result.stdout
    return out


def test_metrics_json_is_complete_and_finite(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"experiment", "epochs", "steps", "final_loss", "device", "wall_seconds"}
    assert metrics["experiment"] == "test"
    assert metrics["device"] == "cpu"
    [epoch] = metrics["epochs"]
    assert set(epoch) == {"epoch", "loss", "val_loss", "val_accuracy"}
    assert 0 <= epoch["val_accuracy"] <= 1
    assert metrics["steps"][0]["step"] == 1
    losses = [epoch["loss"], epoch["val_loss"], metrics["final_loss"]]
    losses += [step["loss"] for step in metrics["steps"]]
    assert all(math.isfinite(loss) for loss in losses)


def test_checkpoint_loads_into_a_rebuilt_model(run_dir: Path) -> None:
    ckpt = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    assert ckpt["model_name"] == "baseline"
    assert ckpt["experiment"] == "test"
    assert ckpt["epoch"] == 1
    assert ckpt["config"]["output"]["dir"] == str(run_dir)
    build_model(ckpt["config"]["model"]).load_state_dict(ckpt["model_state"])


def test_evaluate_cli_reports_metrics(run_dir: Path) -> None:
    result = run_script(
        "src/evaluation/evaluate.py", "--model", str(run_dir / "model.pt"), "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert report["accuracy"] == pytest.approx(metrics["epochs"][-1]["val_accuracy"])
    assert report["loss"] == pytest.approx(metrics["epochs"][-1]["val_loss"], rel=1e-4)
    assert sum(map(sum, report["confusion_matrix"])) == report["samples"]


def test_bad_config_exits_2_with_one_readable_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(
        (PROJECT_ROOT / "experiments" / "test.yaml")
        .read_text()
        .replace("${experiment_name}", "${no_such_key}")
    )
    result = run_script("src/training/train.py", "--config", str(config), "--device", "cpu")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot resolve ${no_such_key}" in result.stderr
    assert not (PROJECT_ROOT / "outputs" / "broken").exists()


def test_training_is_deterministic(tmp_path: Path) -> None:
    finals = []
    for run in ("a", "b"):
        args = ["--config", str(PROJECT_ROOT / "experiments" / "test.yaml"), "--debug"]
        assert main([*args, "--device", "cpu", "--output-dir", str(tmp_path / run)]) == 0
        finals.append(json.loads((tmp_path / run / "metrics.json").read_text())["steps"])
    assert finals[0] == finals[1]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_configs_resolve_and_build(path: Path) -> None:
    cfg = load_config(path)
    assert cfg["output"]["dir"] == f"outputs/{path.stem}"
    assert cfg["model"]["name"] == path.stem
    build_model(cfg["model"])


def test_dotted_references_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "exp.yaml"
    config.write_text(
        "model: {name: baseline}\n"
        "training: {epochs: 3, batch_size: 8, learning_rate: 1e-3}\n"
        "output: {dir: 'runs/${model.name}-${training.epochs}-${experiment_name}', "
        "checkpoint_freq: 1}\n"
    )
    cfg = load_config(config, {"training.epochs": 7})
    assert cfg["output"]["dir"] == "runs/baseline-7-exp"
    assert cfg["training"]["learning_rate"] == pytest.approx(0.001)
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(config, {"training.batch_size": 0})
