"""Load a checkpoint and import a model class, run by the project's own interpreter.

claudio-ci may live in another environment than the project's (pipx, a tools venv), so this
file is run as a script from the project root, and uses only the standard library plus what
the project itself installs (torch, numpy or safetensors, whichever the checkpoint needs).
`PYTHON probe.py REQUEST_JSON` answers at once; `PYTHON probe.py -` is started with the
training, imports torch meanwhile, and reads REQUEST_JSON from stdin (nothing: exit). The
request is `{"answer": RESULT_FILE, "checkpoint": PATH | null, "trusted": bool,
"sys_path": [...], "import_check": "module:Class" | null, "import_kwargs": {...},
"import_config": "module:Config" | null}`; RESULT_FILE gets `{"checkpoint": {...},
"import_check": {...}}`, rewritten after each part so that a crash in the second keeps the
first.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import re
import sys
import traceback
from typing import Any

MAX_NAMED = 5


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# Where frameworks keep the model's weights inside a checkpoint: Lightning's `state_dict`,
# nanoGPT's `model`, the common `model_state_dict`. The rest (optimizer moments, callback
# state such as Lightning's `ModelCheckpoint.kth_value = inf`) is not the model.
WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "ema")
# Top-level entries of a checkpoint without a weight key that are training state, not weights
# (a `best_loss = inf` before the first evaluation is healthy).
NOT_WEIGHTS = re.compile(r"^(optim|sched|lr_sched|callbacks?$|loops?$|best|metrics?$|kth_)", re.I)


def load_checkpoint(path: str, trusted: bool = False) -> Any:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    if suffix in (".npy", ".npz"):
        import numpy

        return numpy.load(path, allow_pickle=False)
    import torch

    return torch.load(path, map_location="cpu", weights_only=not trusted)


def weights(value: Any) -> tuple[str, Any]:
    """(where, the part of a checkpoint that holds the model's weights): a weight key's
    value, else the checkpoint without the entries that are training state."""
    if hasattr(value, "state_dict") and callable(value.state_dict):  # a whole nn.Module
        return "state_dict()", value.state_dict()
    if isinstance(value, dict):
        for key in WEIGHT_KEYS:
            if key in value and (isinstance(value[key], dict) or hasattr(value[key], "state_dict")):
                where, inner = weights(value[key])
                return (f"{key}.{where}" if where else key), inner
        return "", {k: v for k, v in value.items() if not NOT_WEIGHTS.search(str(k))}
    return "", value


def _is_finite(value: Any) -> bool:
    if hasattr(value, "is_floating_point") and hasattr(value, "isfinite"):  # torch.Tensor
        return not value.is_floating_point() or bool(value.isfinite().all())
    if getattr(getattr(value, "dtype", None), "kind", "") in ("f", "c"):  # numpy array
        import numpy

        return bool(numpy.isfinite(value).all())
    return not isinstance(value, float) or math.isfinite(value)


def _items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict) or hasattr(value, "files"):  # dict, numpy's NpzFile
        keys = value.files if hasattr(value, "files") else list(value)
        return [(str(key), value[key]) for key in keys]
    if isinstance(value, (list, tuple)):
        return [(str(index), item) for index, item in enumerate(value)]
    return []


def inspect_checkpoint(value: Any) -> dict[str, Any]:
    """How many arrays it holds and which ones (dotted names) hold NaN or infinity."""
    arrays, nonfinite = 0, []
    pending = [("", value)]
    while pending:
        name, item = pending.pop()
        children = _items(item)
        if children:
            pending += [(f"{name}.{key}" if name else key, child) for key, child in children]
            continue
        arrays += int(hasattr(item, "shape") and hasattr(item, "dtype"))
        try:
            finite = _is_finite(item)
        except Exception:  # a dtype without isfinite (quantized, ...): nothing to say
            finite = True
        if not finite:
            nonfinite.append(name or "(the checkpoint)")
    return {"ok": True, "arrays": arrays, "nonfinite": sorted(nonfinite)[:MAX_NAMED]}


def reason(exc: BaseException) -> str:
    """The line of the error that says why, without terminal colours: torch's weights-only
    refusal starts with advice and names the real cause on a `WeightsUnpickler error:` line."""
    lines = [ANSI.sub("", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    why = next((line for line in lines if "WeightsUnpickler error" in line), None)
    why = why or (lines[0] if lines else "")
    return f"{type(exc).__name__}: {why}" if why else type(exc).__name__


def check_checkpoint(path: str, trusted: bool = False) -> dict[str, Any]:
    try:
        where, model = weights(load_checkpoint(path, trusted))
        result = inspect_checkpoint(model)
    except Exception as exc:
        return {"ok": False, "error": reason(exc)}
    if where:
        result["nonfinite"] = [f"{where}.{name}" for name in result["nonfinite"]]
        result["weights"] = where
    return result


def _resolve(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    return target


def check_import(
    spec: str, kwargs: dict[str, Any] | None = None, config: str | None = None
) -> dict[str, Any]:
    """Import `module:Class` and call `Class(**kwargs)`, as `python -c "from m import C; C()"`
    would; with `config` (`module:ConfigClass`), `Class(ConfigClass(**kwargs))`, as nanoGPT's
    `GPT(GPTConfig(...))` and Hugging Face models are built."""
    sys.path.insert(0, os.getcwd())
    try:
        target = _resolve(spec)
        if config:
            instance = target(_resolve(config)(**(kwargs or {})))
        else:
            instance = target(**(kwargs or {}))
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"ok": False, "error": traceback.format_exc()}
    return {"ok": True, "type": type(instance).__name__}


def _warm_up() -> None:
    """Import torch ahead of the request, when the project has it: most of a load's cost."""
    if importlib.util.find_spec("torch") is not None:
        importlib.import_module("torch")


def main(argv: list[str]) -> int:
    if argv[1] == "-":  # started ahead: warm up while the training runs, then wait
        _warm_up()
        text = sys.stdin.read()
        if not text.strip():
            return 0  # not needed after all (the training failed)
        request = json.loads(text)
    else:
        request = json.loads(argv[1])
    result: dict[str, Any] = {}

    def save() -> None:
        with open(request["answer"], "w", encoding="utf-8") as handle:
            json.dump(result, handle)

    if request.get("checkpoint"):
        # a trusted load imports the pickled classes from where the training found them
        sys.path[:0] = [os.path.abspath(path) for path in request.get("sys_path", [])]
        result["checkpoint"] = check_checkpoint(request["checkpoint"], request.get("trusted"))
        save()
    if request.get("import_check"):
        result["import_check"] = check_import(
            request["import_check"], request.get("import_kwargs"), request.get("import_config")
        )
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
