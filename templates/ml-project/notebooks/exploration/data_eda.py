# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Data exploration: synthetic sequence classification
#
# The data is generated in code by `src/data/dataset.py` from a seed: no downloads, no files.
# Each sample is a sequence of `SEQ_LEN` noisy vectors; at a few random positions the pattern
# vector of the sample's class is added. This notebook checks shapes, class balance and how
# visible the signal is to a model that only sees the mean of the sequence.

# %%
import sys
from pathlib import Path

import torch

# Run from the project root or from this folder: find the folder that holds `src/`.
sys.path.insert(0, str(next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "src").is_dir())))

from src.data import NUM_CLASSES, make_splits

train, val = make_splits(seed=0)
print(f"train features {tuple(train.features.shape)}, labels {tuple(train.labels.shape)}")
print(f"val   features {tuple(val.features.shape)}, labels {tuple(val.labels.shape)}")

# %% [markdown]
# ## Class balance
#
# Labels are drawn uniformly, so each class should hold about a third of each split.

# %%
for name, split in [("train", train), ("val", val)]:
    counts = torch.bincount(split.labels, minlength=NUM_CLASSES)
    shares = [f"class {c}: {n} ({n / len(split):.0%})" for c, n in enumerate(counts.tolist())]
    print(f"{name}: {', '.join(shares)}")

# %% [markdown]
# ## Where the signal is
#
# Positions that carry the class pattern stand out by their norm. Averaging over the sequence
# (what the baseline does) dilutes them with the noise at every other position, which is why
# the attention model, which can weigh positions, should do better.

# %%
norms = train.features[0].norm(dim=1)
label = train.labels[0].item()
print(f"sample 0 (class {label}) position norms: {[round(n, 1) for n in norms.tolist()]}")

pooled = train.features.mean(dim=1)
class_means = torch.stack([pooled[train.labels == c].mean(dim=0) for c in range(NUM_CLASSES)])
print("distance between class means of the pooled features:")
print(torch.cdist(class_means, class_means).round(decimals=2))
print(f"per-dimension std of the pooled features: {pooled.std(dim=0).mean().item():.2f}")
