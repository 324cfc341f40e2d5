"""Synthetic sequence classification, generated in code from a seed (no downloads, no files).

Every sample is a sequence of ``SEQ_LEN`` Gaussian noise vectors of size ``INPUT_DIM``. At
``PATTERN_POSITIONS`` random positions the pattern vector of the sample's class is added; the
label is that class. Mean pooling sees the pattern only diluted by the noise, so a model that
attends to the right positions can do better than one that averages them all.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

SEQ_LEN = 16
INPUT_DIM = 8
NUM_CLASSES = 3
PATTERN_POSITIONS = 3
PATTERN_NORM = 2.5
N_TRAIN = 2048
N_VAL = 512


class SequenceDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """In-memory ``(sequence, label)`` pairs: features ``(N, L, D)`` and labels ``(N,)``."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        if features.ndim != 3 or labels.shape != features.shape[:1]:
            raise ValueError(
                f"expected features (N, L, D) and labels (N,), got {tuple(features.shape)} "
                f"and {tuple(labels.shape)}"
            )
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]


def _generate(n: int, patterns: torch.Tensor, generator: torch.Generator) -> SequenceDataset:
    """Draw ``n`` labelled sequences, each hiding its class pattern at a few random positions."""
    labels = torch.randint(NUM_CLASSES, (n,), generator=generator)
    features = torch.randn(n, SEQ_LEN, INPUT_DIM, generator=generator)
    order = torch.rand(n, SEQ_LEN, generator=generator).argsort(dim=1)
    positions = order[:, :PATTERN_POSITIONS]
    rows = torch.arange(n).unsqueeze(1)
    features[rows, positions] += patterns[labels].unsqueeze(1)
    return SequenceDataset(features, labels)


def make_splits(
    seed: int = 0, n_train: int = N_TRAIN, n_val: int = N_VAL
) -> tuple[SequenceDataset, SequenceDataset]:
    """Return ``(train, val)`` datasets; the same arguments always give the same tensors.

    The class patterns and the validation set depend only on ``seed`` and ``n_val``.
    """
    if n_train < 1 or n_val < 1:
        raise ValueError(f"n_train and n_val must be >= 1, got {n_train} and {n_val}")
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(NUM_CLASSES, INPUT_DIM, generator=generator)
    patterns = PATTERN_NORM * patterns / patterns.norm(dim=1, keepdim=True)
    val = _generate(n_val, patterns, generator)
    train = _generate(n_train, patterns, generator)
    return train, val
