"""Train a model from an experiment config.

Run from the project root::

    python src/training/train.py --config experiments/test.yaml [--epochs N] [--batch-size N]
        [--device cpu|cuda|auto] [--debug] [--output-dir DIR] [--seed N]

Writes ``<output.dir>/metrics.json`` after every epoch and ``<output.dir>/model.pt`` every
``output.checkpoint_freq`` epochs and after the last one, both atomically.
Exit status: 0 ok, 1 training diverged, 2 bad config or usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader

# Make ``import src`` work when this file is run as a script from the project root.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from src import configure_threads
from src.data import make_splits
from src.data.dataset import N_TRAIN, N_VAL
from src.evaluation.evaluate import predict
from src.evaluation.metrics import accuracy
from src.models import architecture_of, build_model

PROG = "train.py"
DEBUG_SIZES = {"n_train": 256, "n_val": 128}
_REFERENCE = re.compile(r"\$\{([^}]*)\}")


class ConfigError(Exception):
    """A bad experiment config or option: one line on stderr and exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def resolve_references(cfg: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    """Return a copy of ``cfg`` with every ``${...}`` in its strings filled in.

    ``${name}`` is looked up in ``variables`` (e.g. ``experiment_name``) first, then as a
    dotted path into ``cfg`` such as ``${model.name}``. Anything unresolvable is a ConfigError.
    """

    def lookup(ref: str, seen: tuple[str, ...]) -> str:
        if ref in seen:
            raise ConfigError(f"circular reference ${{{ref}}}")
        if ref in variables:
            return variables[ref]
        node: Any = cfg
        for part in ref.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"cannot resolve ${{{ref}}}: no such variable or config key")
            node = node[part]
        if isinstance(node, dict | list) or node is None:
            raise ConfigError(f"${{{ref}}} does not name a scalar value")
        return substitute(node, (*seen, ref)) if isinstance(node, str) else str(node)

    def substitute(text: str, seen: tuple[str, ...]) -> str:
        if "${" in _REFERENCE.sub("", text):
            raise ConfigError(f"unterminated reference in {text!r}")
        return _REFERENCE.sub(lambda match: lookup(match.group(1).strip(), seen), text)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return substitute(node, ()) if isinstance(node, str) else node

    return walk(cfg)


def _get(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"missing required key '{dotted}'")
        node = node[part]
    return node


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def check_config(cfg: dict[str, Any]) -> None:
    """Validate the experiment schema; a YAML string like ``1e-3`` becomes a float."""
    for key in ("model.name", "output.dir"):
        value = _get(cfg, key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"'{key}' must be a non-empty string, got {value!r}")
    model_ints = [f"model.{key}" for key in ("hidden_size", "layers") if key in cfg["model"]]
    for key in ["training.epochs", "training.batch_size", "output.checkpoint_freq", *model_ints]:
        value = _get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"'{key}' must be an integer >= 1, got {value!r}")
    lr = _to_float(_get(cfg, "training.learning_rate"))
    if lr is None or not 0 < lr < math.inf:
        value = cfg["training"]["learning_rate"]
        raise ConfigError(f"'training.learning_rate' must be a number > 0, got {value!r}")
    cfg["training"]["learning_rate"] = lr


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read, override, resolve and validate an experiment config.

    ``overrides`` maps dotted keys (``training.epochs``) to values; they are applied before
    ``${...}`` references are resolved. ``${experiment_name}`` is the config file's stem.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping with model, training and output sections")
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".")
        if not isinstance(raw.get(section), dict):
            raise ConfigError(f"missing section '{section}'")
        raw[section][key] = value
    cfg = resolve_references(raw, {"experiment_name": path.stem})
    check_config(cfg)
    return cfg


def resolve_device(name: str) -> torch.device:
    """Map ``cpu``/``cuda``/``auto`` to a device; ``auto`` prefers CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available (use --device cpu or auto)")
    return torch.device(name)


def make_model(cfg_model: dict[str, Any]) -> nn.Module:
    """``build_model`` with its errors turned into ConfigError."""
    try:
        return build_model(cfg_model)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file next to ``path``, then rename it over ``path``.

    Readers (a dashboard, a concurrent ``evaluate.py``) never see a half-written file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def run_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    steps: list[dict[str, float]],
    debug: bool = False,
) -> float:
    """Train for one pass over ``loader``, appending each batch's loss to ``steps``.

    Returns the epoch's mean training loss (weighted by batch size).
    """
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x.to(device)), y.to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
        steps.append({"step": len(steps) + 1, "loss": loss.item()})
        if debug:
            print(f"  step {len(steps)} loss={loss.item():.4f}")
    return total / count


def train(
    cfg: dict[str, Any],
    experiment: str,
    data: dict[str, int],
    device: torch.device,
    debug: bool = False,
) -> int:
    """Train the configured model, writing metrics and checkpoints; return the exit status.

    ``data`` holds ``make_splits``'s arguments; its seed also seeds weight init and shuffling.
    """
    start = time.perf_counter()
    torch.manual_seed(data["seed"])
    model = make_model(cfg["model"]).to(device)
    architecture = architecture_of(cfg["model"])
    train_set, val_set = make_splits(**data)
    epochs = cfg["training"]["epochs"]
    loader = DataLoader(
        train_set,
        batch_size=cfg["training"]["batch_size"],
        shuffle=True,
        generator=torch.Generator().manual_seed(data["seed"]),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["training"]["learning_rate"])
    out_dir = Path(cfg["output"]["dir"])
    metrics: dict[str, Any] = {"experiment": experiment, "epochs": [], "steps": []}
    print(
        f"training {experiment} ({architecture}) on {device.type}: "
        f"{len(train_set)} train / {len(val_set)} val samples, {epochs} epoch(s)"
    )
    if debug:
        print(f"config: {json.dumps(cfg)}")
    for epoch in range(1, epochs + 1):
        loss = run_epoch(model, loader, optimizer, device, metrics["steps"], debug)
        val_loss, predictions = predict(model, val_set, device)
        val_acc = accuracy(val_set.labels, predictions)
        print(
            f"epoch {epoch}/{epochs} loss={loss:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f}"
        )
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            print(f"{PROG}: error: training diverged at epoch {epoch}", file=sys.stderr)
            return 1
        metrics["epochs"].append(
            {"epoch": epoch, "loss": loss, "val_loss": val_loss, "val_accuracy": val_acc}
        )
        metrics.update(
            final_loss=loss,
            device=device.type,
            wall_seconds=round(time.perf_counter() - start, 3),
        )
        text = json.dumps(metrics, indent=2) + "\n"
        atomic_write(out_dir / "metrics.json", lambda p, text=text: p.write_text(text))
        if epoch % cfg["output"]["checkpoint_freq"] == 0 or epoch == epochs:
            checkpoint = {
                "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "config": cfg,
                "model_name": architecture,
                "experiment": experiment,
                "epoch": epoch,
                "data": data,
            }
            atomic_write(out_dir / "model.pt", lambda p, c=checkpoint: torch.save(c, p))
    print(f"wrote {out_dir / 'metrics.json'} and {out_dir / 'model.pt'}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = _Parser(prog=PROG, description="Train a model from an experiment config.")
    parser.add_argument("--config", required=True, type=Path, help="experiment YAML file")
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--batch-size", type=int, help="override training.batch_size")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument("--debug", action="store_true", help="tiny dataset, per-step output")
    parser.add_argument("--output-dir", help="override output.dir")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, init and shuffling")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = parse_args(argv)
    overrides = {
        "training.epochs": args.epochs,
        "training.batch_size": args.batch_size,
        "output.dir": args.output_dir,
    }
    configure_threads()
    sizes = DEBUG_SIZES if args.debug else {"n_train": N_TRAIN, "n_val": N_VAL}
    try:
        cfg = load_config(args.config, {k: v for k, v in overrides.items() if v is not None})
        device = resolve_device(args.device)
        data = {"seed": args.seed, **sizes}
        return train(cfg, args.config.stem, data, device, args.debug)
    except ConfigError as exc:
        print(f"{PROG}: error: {args.config}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
