"""Deterministic synthetic sequence-classification data."""

from .dataset import INPUT_DIM, NUM_CLASSES, SEQ_LEN, SequenceDataset, make_splits

__all__ = ["INPUT_DIM", "NUM_CLASSES", "SEQ_LEN", "SequenceDataset", "make_splits"]
