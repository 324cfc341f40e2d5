"""Load a checkpoint and import a model class, run by the project's own interpreter.

claudio-ci may live in another environment than the project's (pipx, a tools venv), so this
file is run as a script, `PYTHON probe.py REQUEST_JSON RESULT_FILE`, from the project root,
and uses only the standard library plus what the project itself installs (torch, numpy or
safetensors, whichever the checkpoint needs). REQUEST_JSON is
`{"checkpoint": PATH | null, "import_check": "module:Class" | null}`; the result file gets
`{"checkpoint": {...}, "import_check": {...}}`, rewritten after each part so that a crash in
the second keeps the first.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import traceback
from typing import Any

MAX_NAMED = 5


def load_checkpoint(path: str) -> Any:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    if suffix in (".npy", ".npz"):
        import numpy

        return numpy.load(path, allow_pickle=False)
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


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


def check_checkpoint(path: str) -> dict[str, Any]:
    try:
        return inspect_checkpoint(load_checkpoint(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        error = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        return {"ok": False, "error": error}


def check_import(spec: str) -> dict[str, Any]:
    """Import `module:Class` and call `Class()`, as `python -c "from m import C; C()"` would."""
    module_name, _, attribute = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        instance = target()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {"ok": False, "error": traceback.format_exc()}
    return {"ok": True, "type": type(instance).__name__}


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    result: dict[str, Any] = {}

    def save() -> None:
        with open(argv[2], "w", encoding="utf-8") as handle:
            json.dump(result, handle)

    if request.get("checkpoint"):
        result["checkpoint"] = check_checkpoint(request["checkpoint"])
        save()
    if request.get("import_check"):
        result["import_check"] = check_import(request["import_check"])
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
