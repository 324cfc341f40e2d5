"""Model classes and the ``build_model`` factory used by training and evaluation."""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .attention import AttentionModel
from .baseline import BaselineModel

MODELS: dict[str, type[nn.Module]] = {"attention": AttentionModel, "baseline": BaselineModel}
_NAMING_KEYS = ("name", "architecture")

__all__ = ["MODELS", "AttentionModel", "BaselineModel", "architecture_of", "build_model"]


def architecture_of(cfg_model: dict[str, Any]) -> str:
    """Return the architecture a ``model:`` config section asks for.

    ``model.architecture`` wins; without it ``model.name`` names the architecture.
    """
    arch = cfg_model.get("architecture", cfg_model.get("name"))
    if not isinstance(arch, str) or not arch:
        raise ValueError("model config needs a 'name' (or 'architecture') string")
    return arch


def build_model(cfg_model: dict[str, Any]) -> nn.Module:
    """Instantiate the model a ``model:`` config section describes.

    Every key other than ``name`` and ``architecture`` is passed to the model's constructor.
    """
    arch = architecture_of(cfg_model)
    if arch not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model architecture {arch!r}; expected one of: {known}")
    cls = MODELS[arch]
    kwargs = {k: v for k, v in cfg_model.items() if k not in _NAMING_KEYS}
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"unknown option(s) for model {arch!r}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    return cls(**kwargs)
