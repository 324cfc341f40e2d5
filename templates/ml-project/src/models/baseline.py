"""Baseline: an MLP over the mean-pooled sequence."""

from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import INPUT_DIM, NUM_CLASSES


class BaselineModel(nn.Module):
    """Mean-pool the sequence, then ``layers`` hidden Linear+ReLU layers and a linear classifier."""

    def __init__(
        self,
        hidden_size: int = 64,
        layers: int = 2,
        input_dim: int = INPUT_DIM,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        if hidden_size < 1 or layers < 1:
            raise ValueError(f"hidden_size and layers must be >= 1, got {hidden_size}, {layers}")
        blocks: list[nn.Module] = []
        width = input_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden_size), nn.ReLU()]
            width = hidden_size
        self.mlp = nn.Sequential(*blocks, nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map sequences ``(batch, seq_len, input_dim)`` to logits ``(batch, num_classes)``."""
        return self.mlp(x.mean(dim=1))
