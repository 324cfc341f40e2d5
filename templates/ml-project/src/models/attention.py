"""Self-attention encoder with a mean-pooled linear classifier."""

from __future__ import annotations

import torch
from torch import nn

from ..data.dataset import INPUT_DIM, NUM_CLASSES


class AttentionBlock(nn.Module):
    """Pre-norm residual self-attention followed by a residual feed-forward layer."""

    def __init__(self, hidden_size: int, num_heads: int) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(hidden_size)
        self.attn = nn.MultiheadAttention(hidden_size, num_heads, batch_first=True)
        self.ff_norm = nn.LayerNorm(hidden_size)
        self.ff = nn.Sequential(
            nn.Linear(hidden_size, 2 * hidden_size),
            nn.GELU(),
            nn.Linear(2 * hidden_size, hidden_size),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Transform hidden states ``(batch, seq_len, hidden_size)`` in place of shape."""
        q = self.attn_norm(h)
        h = h + self.attn(q, q, q, need_weights=False)[0]
        return h + self.ff(self.ff_norm(h))


class AttentionModel(nn.Module):
    """Embed each vector, apply ``layers`` self-attention blocks, mean-pool and classify."""

    def __init__(
        self,
        hidden_size: int = 64,
        layers: int = 2,
        input_dim: int = INPUT_DIM,
        num_classes: int = NUM_CLASSES,
        num_heads: int = 1,
    ) -> None:
        super().__init__()
        if hidden_size < 1 or layers < 1:
            raise ValueError(f"hidden_size and layers must be >= 1, got {hidden_size}, {layers}")
        if num_heads < 1 or hidden_size % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide hidden_size={hidden_size}")
        self.embed = nn.Linear(input_dim, hidden_size)
        self.blocks = nn.ModuleList(AttentionBlock(hidden_size, num_heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden_size)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map sequences ``(batch, seq_len, input_dim)`` to logits ``(batch, num_classes)``."""
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(dim=1))
