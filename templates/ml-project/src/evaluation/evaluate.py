"""Evaluate a checkpoint on the validation split.

Run from the project root::

    python src/evaluation/evaluate.py --model outputs/baseline/model.pt [--json]

The model is rebuilt from the config stored in the checkpoint and scored on the same
deterministic validation split it was trained against. Exit status: 0 ok, 2 bad checkpoint/usage.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

# Make ``import src`` work when this file is run as a script from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from src import configure_threads
from src.data import NUM_CLASSES, SequenceDataset, make_splits
from src.evaluation.metrics import classification_metrics
from src.models import build_model

PROG = "evaluate.py"
CHECKPOINT_KEYS = ("model_state", "config", "model_name", "experiment", "epoch", "data")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    return " ".join(str(exc).split())[:limit]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


@torch.no_grad()
def predict(
    model: nn.Module, dataset: SequenceDataset, device: torch.device, batch_size: int = 512
) -> tuple[float, torch.Tensor]:
    """Return the mean cross-entropy over ``dataset`` and the predicted labels (on the CPU)."""
    model.eval()
    total = 0.0
    chunks = []
    for start in range(0, len(dataset), batch_size):
        x = dataset.features[start : start + batch_size].to(device)
        y = dataset.labels[start : start + batch_size].to(device)
        logits = model(x)
        total += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        chunks.append(logits.argmax(dim=1).cpu())
    return total / len(dataset), torch.cat(chunks)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by ``train.py``; ValueError when it is missing or malformed."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise ValueError(f"no such checkpoint: {path}") from exc
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path} is not a weights-only torch checkpoint") from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise ValueError(f"cannot load checkpoint {path}: {_one_line(exc)}") from exc
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise ValueError(f"{path} is not a train.py checkpoint (missing: {', '.join(missing)})")
    return ckpt


def evaluate_checkpoint(path: Path) -> dict[str, Any]:
    """Rebuild the checkpoint's model and return its validation metrics as a JSON-ready dict."""
    ckpt = load_checkpoint(path)
    try:
        model = build_model(ckpt["config"]["model"])
        model.load_state_dict(ckpt["model_state"])
    except (TypeError, RuntimeError) as exc:
        raise ValueError(
            f"{path}: stored config and weights do not match: {_one_line(exc)}"
        ) from exc
    _, val_set = make_splits(**ckpt["data"])
    loss, predictions = predict(model, val_set, torch.device("cpu"))
    return {
        "checkpoint": str(path),
        "experiment": ckpt["experiment"],
        "model_name": ckpt["model_name"],
        "epoch": ckpt["epoch"],
        "samples": len(val_set),
        "loss": loss,
        **classification_metrics(val_set.labels, predictions, NUM_CLASSES),
    }


def format_report(result: dict[str, Any]) -> str:
    """Human-readable multi-line summary of ``evaluate_checkpoint``'s result."""
    lines = [
        (
            f"checkpoint: {result['checkpoint']} ({result['experiment']}, "
            f"{result['model_name']}, epoch {result['epoch']})"
        ),
        f"samples:    {result['samples']}",
    ]
    lines += [f"{key + ':':<11} {result[key]:.4f}" for key in ("loss", "accuracy")]
    lines += [f"{key + ':':<11} {result[key]:.4f} (macro)" for key in ("precision", "recall", "f1")]
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines += [f"  {row}" for row in result["confusion_matrix"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = _Parser(prog=PROG, description="Evaluate a train.py checkpoint.")
    parser.add_argument("--model", required=True, type=Path, help="checkpoint (model.pt)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON only")
    args = parser.parse_args(argv)
    configure_threads()
    try:
        result = evaluate_checkpoint(args.model)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
