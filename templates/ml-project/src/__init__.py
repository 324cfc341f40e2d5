"""Example ML project: synthetic data, models, training and evaluation."""

from __future__ import annotations

import os


def configure_threads() -> int:
    """Set torch's CPU thread count and return it.

    ``OMP_NUM_THREADS``, when set, is respected (torch reads it at start-up); otherwise at most
    two threads are used, which is all these small models can use and keeps parallel runs
    from fighting over cores.
    """
    import torch

    if not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    return torch.get_num_threads()
