"""Train one candidate network on real data with PyTorch Lightning and return its metrics.

:class:`TrainEvaluator` is the trial-side evaluator for architectures that are trained rather than looked up
in a benchmark table: it loads a dataset from :mod:`nni_effnas.trials.data`, builds the model through a
callback, trains it with a fresh ``pytorch_lightning.Trainer`` per call (NNI 3.0 field note: a reused
Trainer fails on the second model with ``KeyError: 'val_acc'``), reports after every validation epoch,
logs to TensorBoard and saves the trained weights as a plain ``state_dict``.

Recipe: cross-entropy; SGD with Nesterov momentum 0.9 and weight decay, learning rate annealed per step with
a cosine schedule to 0 (Loshchilov & Hutter, 2017, "SGDR", without restarts), or Adam with the same schedule.
Accuracies are percentages (0-100), the units of NAS-Bench-201.
"""
from __future__ import annotations

import logging
import tempfile
import time
import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nni_effnas.checks import check_int, check_out_dir
from nni_effnas.trials.data import DataSplits, load_dataset

__all__ = ["ReportCallback", "TrainEvaluator"]

Report = Callable[[dict[str, float]], None]
_OPTIMIZERS = ("sgd", "adam")
# Lightning's INFO chatter ("GPU available: ...", "Seed set to ...") comes from these loggers.
_LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.seed")


class _Classifier(pl.LightningModule):
    """Wraps a built network; keeps exact per-epoch sums so the reported numbers do not depend on logging."""

    def __init__(
        self, net: nn.Module, *, optimizer: str, learning_rate: float, weight_decay: float
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_name = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.loss_fn = nn.CrossEntropyLoss()
        self._train_sum, self._train_n = 0.0, 0
        self._val_sum, self._val_correct, self._val_n = 0.0, 0, 0
        self.epoch_metrics: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def on_train_epoch_start(self) -> None:
        self._train_sum, self._train_n = 0.0, 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training diverged: loss is {loss.item()} at epoch {self.current_epoch + 1}")
        self._train_sum += float(loss.detach()) * len(y)
        self._train_n += len(y)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_sum, self._val_correct, self._val_n = 0.0, 0, 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        self._val_sum += float(self.loss_fn(logits, y)) * len(y)
        self._val_correct += int((logits.argmax(dim=1) == y).sum())
        self._val_n += len(y)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or self._val_n == 0:
            return
        self.epoch_metrics = {
            "val_acc": 100.0 * self._val_correct / self._val_n,
            "val_loss": self._val_sum / self._val_n,
            "train_loss": self._train_sum / self._train_n if self._train_n else float("nan"),
        }
        self.log_dict(self.epoch_metrics, on_epoch=True, prog_bar=False)

    def configure_optimizers(self) -> dict[str, Any]:
        params = self.net.parameters()
        if self.optimizer_name == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=self.learning_rate, momentum=0.9, nesterov=True, weight_decay=self.weight_decay
            )
        else:
            opt = torch.optim.Adam(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ReportCallback(pl.Callback):
    """Calls ``report(metrics)`` once after every validation epoch (not during the sanity check).

    The metrics are ``{"default": val_acc, "val_acc", "val_loss", "train_loss", "epoch"}`` with ``epoch``
    counted from 1; ``history`` keeps every reported dict.
    """

    def __init__(self, report: Report | None = None) -> None:
        self.report = report
        self.history: list[dict[str, float]] = []

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = getattr(pl_module, "epoch_metrics", None)
        if trainer.sanity_checking or not metrics:
            return
        record = {"default": metrics["val_acc"], **metrics, "epoch": trainer.current_epoch + 1}
        self.history.append(record)
        if self.report is not None:
            self.report(dict(record))

    def state_dict(self) -> dict[str, Any]:
        return {"history": [dict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in state_dict["history"]]


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info lines and data-loader hints for the duration of one fit."""
    saved = {name: logging.getLogger(name).level for name in _LIGHTNING_LOGGERS}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
        # torch 2.13 deprecates a pytree idiom that pytorch-lightning 2.6 uses on every batch.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*deprecated.*")
        for name in _LIGHTNING_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        try:
            yield
        finally:
            for name, level in saved.items():
                logging.getLogger(name).setLevel(level)


class TrainEvaluator:
    """Train a network built from a :class:`DataSplits` and return its final metrics.

    The constructor only stores parameters; data are loaded on first use and cached on the instance.
    With ``out_dir=None`` every :meth:`evaluate` call writes into a fresh temporary directory; with an
    ``out_dir`` the TensorBoard logs get a new ``version_N`` per call and ``model.pt`` is overwritten.
    """

    def __init__(
        self,
        *,
        dataset: str = "digits",
        data_dir: str | Path | None = None,
        epochs: int = 3,
        batch_size: int = 64,
        learning_rate: float = 0.05,
        weight_decay: float = 5e-4,
        optimizer: str = "sgd",
        seed: int = 0,
        limit: int | None = None,
        out_dir: str | Path | None = None,
        num_workers: int = 0,
        accelerator: str = "cpu",
    ) -> None:
        self.dataset = dataset
        self.data_dir = data_dir
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.seed = seed
        self.limit = limit
        self.out_dir = check_out_dir(out_dir)
        self.num_workers = num_workers
        self.accelerator = accelerator

    @cached_property
    def data(self) -> DataSplits:
        """The dataset, loaded once per evaluator."""
        return load_dataset(self.dataset, data_dir=self.data_dir, seed=self.seed, limit=self.limit)

    def evaluate(
        self, build_model: Callable[[DataSplits], nn.Module], *, report: Report | None = None
    ) -> dict[str, float | str]:
        """Build a model with ``build_model(data)``, train it and return its metrics.

        Returns ``default`` (= final ``val_acc``, percent), ``val_acc``, ``val_loss``, ``train_loss``,
        ``params_M``, ``epochs``, ``train_time_s`` and the paths ``checkpoint`` (a ``state_dict`` saved with
        ``torch.save``) and ``tensorboard``. Raises ``FloatingPointError`` if the training loss is not finite.
        """
        self._check_params()
        data = self.data
        out_dir = Path(tempfile.mkdtemp(prefix="effnas-trial-") if self.out_dir is None else self.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pl.seed_everything(self.seed, workers=True, verbose=False)
        net = build_model(data)
        if not isinstance(net, nn.Module):
            raise TypeError(f"build_model must return a torch.nn.Module, got {type(net).__name__}")
        module = _Classifier(
            net, optimizer=self.optimizer, learning_rate=self.learning_rate, weight_decay=self.weight_decay
        )
        callback = ReportCallback(report)
        logger = TensorBoardLogger(save_dir=str(out_dir), name="tensorboard", default_hp_metric=False)
        train_loader, val_loader = self._loaders(data)
        with _quiet_lightning():
            trainer = self._trainer(out_dir, logger, callback, steps_per_epoch=len(train_loader))
            start = time.perf_counter()
            trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader)
            train_time = time.perf_counter() - start
        if not callback.history:
            raise RuntimeError("training finished without a validation epoch")
        checkpoint = out_dir / "model.pt"
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, checkpoint)
        final = callback.history[-1]
        return {
            "default": final["val_acc"],
            "val_acc": final["val_acc"],
            "val_loss": final["val_loss"],
            "train_loss": final["train_loss"],
            "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
            "epochs": final["epoch"],
            "train_time_s": train_time,
            "checkpoint": str(checkpoint),
            "tensorboard": str(logger.log_dir),
        }

    def _check_params(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; expected one of: {', '.join(_OPTIMIZERS)}")
        for name in ("epochs", "batch_size"):
            check_int(name, getattr(self, name))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers!r}")

    def _loaders(self, data: DataSplits) -> tuple[DataLoader, DataLoader]:
        def loader(dataset: Dataset, shuffle: bool) -> DataLoader:
            return DataLoader(
                dataset,
                batch_size=self.batch_size,
                shuffle=shuffle,
                num_workers=self.num_workers,
                persistent_workers=self.num_workers > 0,
                generator=torch.Generator().manual_seed(self.seed),
            )

        return loader(data.train, True), loader(data.val, False)

    def _trainer(
        self, out_dir: Path, logger: TensorBoardLogger, callback: pl.Callback, *, steps_per_epoch: int
    ) -> pl.Trainer:
        return pl.Trainer(
            accelerator=self.accelerator,
            devices=1,
            max_epochs=self.epochs,
            logger=logger,
            callbacks=[callback],
            default_root_dir=str(out_dir),
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=max(1, min(50, steps_per_epoch)),
        )
