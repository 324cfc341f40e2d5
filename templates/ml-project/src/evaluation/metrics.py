"""Classification metrics in plain torch: accuracy, macro precision/recall/F1, confusion matrix.

All functions take integer class tensors ``targets`` and ``predictions`` of shape ``(N,)``.
Classes with an empty denominator score 0, as scikit-learn's ``zero_division=0`` does.
"""

from __future__ import annotations

import torch


def _num_classes(targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None) -> int:
    if targets.shape != predictions.shape or targets.ndim != 1:
        raise ValueError(
            f"targets and predictions must be 1-D of equal length, got "
            f"{tuple(targets.shape)} and {tuple(predictions.shape)}"
        )
    if num_classes is not None:
        return num_classes
    if targets.numel() == 0:
        return 0
    return int(max(targets.max(), predictions.max())) + 1


def confusion_matrix(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None
) -> torch.Tensor:
    """Return counts ``(num_classes, num_classes)``: rows are true classes, columns predicted."""
    k = _num_classes(targets, predictions, num_classes)
    index = targets.long() * k + predictions.long()
    return torch.bincount(index, minlength=k * k).reshape(k, k)


def accuracy(targets: torch.Tensor, predictions: torch.Tensor) -> float:
    """Fraction of predictions equal to the target (0.0 for empty input)."""
    _num_classes(targets, predictions, None)
    if targets.numel() == 0:
        return 0.0
    return (targets == predictions).double().mean().item()


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """Elementwise ``num / den`` with 0 where ``den`` is 0."""
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def _per_class(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class precision, recall and F1 as float64 tensors."""
    cm = confusion_matrix(targets, predictions, num_classes).double()
    hits = cm.diagonal()
    prec = _safe_div(hits, cm.sum(dim=0))
    rec = _safe_div(hits, cm.sum(dim=1))
    f1 = _safe_div(2 * prec * rec, prec + rec)
    return prec, rec, f1


def _macro(values: torch.Tensor) -> float:
    return values.mean().item() if values.numel() else 0.0


def precision(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None
) -> float:
    """Macro-averaged precision."""
    return _macro(_per_class(targets, predictions, num_classes)[0])


def recall(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None
) -> float:
    """Macro-averaged recall."""
    return _macro(_per_class(targets, predictions, num_classes)[1])


def f1_score(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None
) -> float:
    """Macro-averaged F1: the mean of the per-class F1 scores."""
    return _macro(_per_class(targets, predictions, num_classes)[2])


def classification_metrics(
    targets: torch.Tensor, predictions: torch.Tensor, num_classes: int | None = None
) -> dict[str, float | list[list[int]]]:
    """All metrics at once, JSON-ready: accuracy, precision, recall, f1, confusion_matrix."""
    prec, rec, f1 = _per_class(targets, predictions, num_classes)
    return {
        "accuracy": accuracy(targets, predictions),
        "precision": _macro(prec),
        "recall": _macro(rec),
        "f1": _macro(f1),
        "confusion_matrix": confusion_matrix(targets, predictions, num_classes).tolist(),
    }
