"""Tests for nni_effnas.trials.train.TrainEvaluator: accuracy on digits, reports, artefacts, seeds, NaN."""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from nni_effnas.trials.data import DataSplits
from nni_effnas.trials.train import TrainEvaluator


def small_cnn(data: DataSplits) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(data.in_channels, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * (data.image_size // 2) ** 2, data.num_classes),
    )


class NaNNet(nn.Module):
    def __init__(self, data: DataSplits) -> None:
        super().__init__()
        self.fc = nn.Linear(data.in_channels * data.image_size**2, data.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1)) * float("nan")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict], Path]:
    out_dir = tmp_path_factory.mktemp("trial")
    reports: list[dict] = []
    result = TrainEvaluator(epochs=3, seed=0, out_dir=out_dir).evaluate(small_cnn, report=reports.append)
    return result, reports, out_dir


def test_reaches_90_percent_on_digits(trained: tuple[dict, list[dict], Path]) -> None:
    result, _, _ = trained
    assert result["val_acc"] >= 90.0
    assert result["default"] == result["val_acc"] <= 100.0
    assert result["epochs"] == 3
    assert 0 < result["val_loss"] < 1.0 and 0 < result["train_loss"] < 1.0
    assert result["params_M"] == pytest.approx(sum(p.numel() for p in small_cnn(_digits_meta()).parameters()) / 1e6)
    assert result["train_time_s"] > 0
    assert all(isinstance(v, (int, float)) for k, v in result.items() if k not in ("checkpoint", "tensorboard"))


def test_reports_once_per_epoch(trained: tuple[dict, list[dict], Path]) -> None:
    result, reports, _ = trained
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    for r in reports:
        assert set(r) == {"default", "val_acc", "val_loss", "train_loss", "epoch"}
        assert r["default"] == r["val_acc"] and 0.0 <= r["val_acc"] <= 100.0
    assert reports[-1]["val_acc"] == result["val_acc"]
    assert reports[-1]["train_loss"] < reports[0]["train_loss"]


def test_writes_tensorboard_and_state_dict(trained: tuple[dict, list[dict], Path]) -> None:
    result, _, out_dir = trained
    tb_dir = Path(result["tensorboard"])
    assert tb_dir.is_relative_to(out_dir / "tensorboard")
    assert list(tb_dir.glob("events.out.tfevents.*"))
    checkpoint = Path(result["checkpoint"])
    assert checkpoint == out_dir / "model.pt" and checkpoint.is_file()
    state = torch.load(checkpoint, weights_only=True)
    model = small_cnn(_digits_meta())
    model.load_state_dict(state)  # a plain state_dict of the built model


def test_same_seed_same_accuracy(trained: tuple[dict, list[dict], Path], tmp_path: Path) -> None:
    result, _, _ = trained
    again = TrainEvaluator(epochs=3, seed=0, out_dir=tmp_path).evaluate(small_cnn)
    assert again["val_acc"] == result["val_acc"]
    assert again["val_loss"] == pytest.approx(result["val_loss"], rel=1e-6)


def test_nan_loss_raises(tmp_path: Path) -> None:
    evaluator = TrainEvaluator(epochs=2, out_dir=tmp_path, limit=64)
    with pytest.raises(FloatingPointError, match="training diverged: loss is nan at epoch 1"):
        evaluator.evaluate(NaNNet)


def test_default_out_dir_is_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    evaluator = TrainEvaluator(epochs=1, limit=64, optimizer="adam", learning_rate=0.01)
    first, second = evaluator.evaluate(small_cnn), evaluator.evaluate(small_cnn)
    assert Path(first["checkpoint"]).parent != Path(second["checkpoint"]).parent
    assert Path(first["checkpoint"]).parent.parent == tmp_path
    assert first["val_acc"] == second["val_acc"] and math.isfinite(first["val_loss"])


def test_init_stores_params_only() -> None:
    evaluator = TrainEvaluator(dataset="nope", optimizer="rmsprop", epochs=0)
    assert vars(evaluator)["dataset"] == "nope" and "data" not in vars(evaluator)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_params_raise_on_evaluate(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainEvaluator(**kwargs).evaluate(small_cnn)


def _digits_meta() -> DataSplits:
    return TrainEvaluator().data


def test_an_out_dir_that_is_a_file_is_refused_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "model.pt"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="out_dir .*model.pt is a file; expected a folder"):
        TrainEvaluator(epochs=1, out_dir=blocker)
    assert blocker.read_text() == "not a folder"
