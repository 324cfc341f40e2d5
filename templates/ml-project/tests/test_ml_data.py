"""The synthetic dataset: shapes, determinism, learnable signal."""

import pytest
import torch

# isort: split
# (keeps `src` imports apart whether or not a linter sees `src` as first-party)
from src.data import INPUT_DIM, NUM_CLASSES, SEQ_LEN, SequenceDataset, make_splits


def test_shapes_and_dtypes() -> None:
    train, val = make_splits(seed=0, n_train=64, n_val=32)
    assert train.features.shape == (64, SEQ_LEN, INPUT_DIM)
    assert val.features.shape == (32, SEQ_LEN, INPUT_DIM)
    assert train.labels.dtype == torch.long
    x, y = train[0]
    assert x.shape == (SEQ_LEN, INPUT_DIM)
    assert 0 <= int(y) < NUM_CLASSES
    assert len(train) == 64


def test_same_seed_same_data_other_seed_other_data() -> None:
    a_train, a_val = make_splits(seed=3, n_train=50, n_val=20)
    b_train, b_val = make_splits(seed=3, n_train=50, n_val=20)
    c_train, _ = make_splits(seed=4, n_train=50, n_val=20)
    assert torch.equal(a_train.features, b_train.features)
    assert torch.equal(a_val.labels, b_val.labels)
    assert not torch.equal(a_train.features, c_train.features)


def test_validation_split_does_not_depend_on_train_size() -> None:
    _, small = make_splits(seed=0, n_train=10, n_val=40)
    _, large = make_splits(seed=0, n_train=500, n_val=40)
    assert torch.equal(small.features, large.features)


def test_all_classes_present_and_roughly_balanced() -> None:
    train, _ = make_splits(seed=0, n_train=3000, n_val=10)
    counts = torch.bincount(train.labels, minlength=NUM_CLASSES)
    assert counts.min() > 0.25 * len(train)


def test_class_signal_is_visible_in_the_mean() -> None:
    train, _ = make_splits(seed=0, n_train=3000, n_val=10)
    means = torch.stack(
        [train.features[train.labels == c].mean(dim=(0, 1)) for c in range(NUM_CLASSES)]
    )
    assert torch.cdist(means, means).fill_diagonal_(float("inf")).min() > 0.1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_train"):
        make_splits(n_train=0)
    with pytest.raises(ValueError, match="expected features"):
        SequenceDataset(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
