"""Models: forward shapes, the build_model factory and the metrics."""

import pytest
import torch

# isort: split
# (keeps `src` imports apart whether or not a linter sees `src` as first-party)
from src.data import INPUT_DIM, NUM_CLASSES, SEQ_LEN
from src.evaluation import classification_metrics, confusion_matrix, f1_score
from src.models import AttentionModel, BaselineModel, build_model


@pytest.mark.parametrize("cls", [BaselineModel, AttentionModel])
def test_default_construction_and_forward_shape(cls: type[torch.nn.Module]) -> None:
    model = cls()
    logits = model(torch.randn(5, SEQ_LEN, INPUT_DIM))
    assert logits.shape == (5, NUM_CLASSES)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("cls", [BaselineModel, AttentionModel])
def test_size_kwargs(cls: type[torch.nn.Module]) -> None:
    model = cls(hidden_size=16, layers=3)
    assert model(torch.randn(2, 7, INPUT_DIM)).shape == (2, NUM_CLASSES)
    with pytest.raises(ValueError, match=">= 1"):
        cls(hidden_size=0)


def test_build_model_uses_architecture_before_name() -> None:
    assert isinstance(build_model({"name": "baseline"}), BaselineModel)
    model = build_model({"name": "test", "architecture": "attention", "hidden_size": 8})
    assert isinstance(model, AttentionModel)


def test_build_model_rejects_unknown_names_and_options() -> None:
    with pytest.raises(ValueError, match="unknown model architecture 'resnet'"):
        build_model({"name": "resnet"})
    with pytest.raises(ValueError, match="dropout"):
        build_model({"name": "baseline", "dropout": 0.1})
    with pytest.raises(ValueError, match="name"):
        build_model({})


def test_metrics_against_hand_computed_values() -> None:
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    predictions = torch.tensor([0, 1, 1, 1, 2, 0])
    assert confusion_matrix(targets, predictions).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    result = classification_metrics(targets, predictions, num_classes=3)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert result["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert result["f1"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)


def test_f1_of_a_never_predicted_class_is_zero() -> None:
    targets = torch.tensor([0, 1])
    assert f1_score(targets, torch.tensor([0, 0]), num_classes=2) == pytest.approx((2 / 3) / 2)
