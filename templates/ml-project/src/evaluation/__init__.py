"""Classification metrics and the evaluation entry point."""

from .metrics import accuracy, classification_metrics, confusion_matrix, f1_score, precision, recall

__all__ = [
    "accuracy",
    "classification_metrics",
    "confusion_matrix",
    "f1_score",
    "precision",
    "recall",
]
