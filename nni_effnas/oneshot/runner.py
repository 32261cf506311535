"""Run one differentiable search end to end: :func:`run_oneshot` -> :class:`OneShotResult`.

Data: the dataset's training split is cut in two halves, one for the weight steps and one for the
architecture steps (DARTS's protocol); the dataset's own validation split measures the supernet after every
epoch. With ``checkpoint_dir`` every epoch leaves ``last.ckpt`` there and ``resume=True`` continues a stopped
search from it (weights, optimisers, logits, the method's schedule and random state, the history).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import CombinedLoader
from torch.utils.data import DataLoader, Subset

from nni_effnas.checks import check_int
from nni_effnas.oneshot.search import NonFiniteLossError, OneShotSearch
from nni_effnas.search_spaces import get_space
from nni_effnas.strategies.oneshot import create_method

__all__ = ["OneShotResult", "build_search", "run_oneshot", "search_extra", "search_oneshot"]

_log = logging.getLogger(__name__)


@dataclass
class OneShotResult:
    """What a search returns: the derived architecture, the per-epoch history and the run's cost."""

    space: str
    method: str
    seed: int
    sample: dict[str, Any]
    arch: str
    history: list[dict[str, Any]]
    weights: dict[str, dict[str, float]]
    epochs: int
    seconds: float
    seconds_per_step: float
    peak_memory_mb: float | None
    stopped_early: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_oneshot(
    *,
    space: str = "nb201",
    method: str = "darts",
    method_args: Mapping[str, Any] | None = None,
    dataset: str = "fashion-mnist",
    data_dir: str | Path | None = None,
    limit: int | None = None,
    val_limit: int | None = 2000,
    epochs: int = 10,
    batch_size: int = 64,
    model_kwargs: Mapping[str, Any] | None = None,
    search_args: Mapping[str, Any] | None = None,
    seed: int = 0,
    accelerator: str = "cpu",
    callbacks: Sequence[pl.Callback] = (),
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    logger: Any = False,
    progress: bool = False,
) -> OneShotResult:
    """Search ``space`` with one-shot ``method`` on ``dataset`` and derive the final architecture.

    ``limit`` caps the training images (halved into weight and architecture batches), ``val_limit`` the held-out
    images that measure the supernet each epoch. ``seconds_per_step`` in the result is the median wall time of
    one training step (architecture step + weight step), without data loading and validation.
    """
    check_int("epochs", epochs)
    check_int("batch_size", batch_size, 2)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs a checkpoint_dir")
    search_space, data, kwargs, module = build_search(
        space=space, method=method, method_args=method_args, dataset=dataset, data_dir=data_dir, limit=limit,
        model_kwargs=model_kwargs, search_args=search_args, seed=seed)
    loaders = _loaders(data, batch_size=batch_size, seed=seed, val_limit=val_limit)
    ckpt = _checkpointing(checkpoint_dir)
    trainer = pl.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=logger,
                         callbacks=[*callbacks, *module.method.callbacks(), *ckpt], enable_checkpointing=bool(ckpt),
                         enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
                         deterministic=False)
    ckpt_path = _resume_path(checkpoint_dir) if resume else None
    if accelerator == "gpu" and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    try:
        trainer.fit(module, train_dataloaders=loaders["search"], val_dataloaders=loaders["val"], ckpt_path=ckpt_path)
    except NonFiniteLossError as exc:
        where = f" ({checkpoint_dir}/last.ckpt)" if checkpoint_dir else " (checkpointing was off)"
        raise NonFiniteLossError(f"{exc}{where}") from None
    seconds = time.perf_counter() - start
    step_seconds = module.step_seconds
    sample = module.derived_sample()
    stop_reason = next((cb.stop_reason for cb in trainer.callbacks if getattr(cb, "stop_reason", None)), None)
    return OneShotResult(
        space=search_space.name, method=module.method.name, seed=seed, sample=sample,
        arch=search_space.to_string(sample), history=list(module.history), weights=module.arch_weights(),
        epochs=len(module.history), seconds=seconds,
        seconds_per_step=float(np.median(step_seconds)) if step_seconds else float("nan"),
        peak_memory_mb=_peak_memory_mb(accelerator), stopped_early=stop_reason,
        extra=search_extra(module, model_kwargs=kwargs, dataset=dataset, limit=limit, batch_size=batch_size),
    )


def build_search(*, space: str, method: str, method_args: Mapping[str, Any] | None, dataset: str,
                 data_dir: str | Path | None, limit: int | None, model_kwargs: Mapping[str, Any] | None,
                 search_args: Mapping[str, Any] | None,
                 seed: int) -> tuple[Any, Any, dict[str, Any], OneShotSearch]:
    """The search space, the dataset, the supernet's keyword arguments (the dataset's input channels and classes
    unless ``model_kwargs`` say otherwise) and the seeded :class:`OneShotSearch` of one search."""
    from nni_effnas.trials.data import load_dataset

    search_space = get_space(space)
    data = load_dataset(dataset, data_dir=data_dir, seed=seed, limit=limit)
    kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes, **dict(model_kwargs or {})}
    pl.seed_everything(seed, workers=True, verbose=False)
    module = OneShotSearch(space=search_space, method=create_method(method, seed=seed, **dict(method_args or {})),
                           model_kwargs=kwargs, **dict(search_args or {}))
    return search_space, data, kwargs, module


def search_extra(module: OneShotSearch, *, model_kwargs: Mapping[str, Any], dataset: str, limit: int | None,
                 batch_size: int) -> dict[str, Any]:
    """What a :class:`OneShotResult`'s ``extra`` records of the search's settings, plus the method's own extras."""
    return {"method_args": module.method.hparams(), "model_kwargs": dict(model_kwargs), "dataset": dataset,
            "limit": limit, "batch_size": batch_size, **module.method.result_extra()}


def search_oneshot(*, method: str = "darts", **run_kwargs: Any) -> OneShotResult:
    """One whole search with the registered one-shot ``method``: its :meth:`OneShotMethod.search
    <nni_effnas.strategies.oneshot.base.OneShotMethod.search>`, which is one :func:`run_oneshot` for every
    method but P-DARTS (its progressive stages). Takes :func:`run_oneshot`'s keyword arguments."""
    from nni_effnas.strategies.oneshot import ONESHOT

    return ONESHOT.get(method).search(**run_kwargs)


def _loaders(data: Any, *, batch_size: int, seed: int, val_limit: int | None) -> dict[str, Any]:
    n = len(data.train)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    half = n // 2
    if half < batch_size:
        raise ValueError(f"{n} training images give halves of {half}, fewer than batch_size={batch_size}")
    train = DataLoader(Subset(data.train, order[:half]), batch_size=batch_size, shuffle=True, drop_last=True,
                       generator=torch.Generator().manual_seed(seed + 1))
    val = DataLoader(Subset(data.train, order[half:2 * half]), batch_size=batch_size, shuffle=True,
                     drop_last=True, generator=torch.Generator().manual_seed(seed + 2))
    search = CombinedLoader({"train": train, "val": val}, mode="min_size")
    held_out = data.val if val_limit is None else Subset(data.val, range(min(val_limit, len(data.val))))
    return {"search": search, "val": DataLoader(held_out, batch_size=256)}


def _checkpointing(checkpoint_dir: str | Path | None) -> list[pl.Callback]:
    if checkpoint_dir is None:
        return []
    from pytorch_lightning.callbacks import ModelCheckpoint

    return [ModelCheckpoint(dirpath=str(checkpoint_dir), save_last=True, save_top_k=0, every_n_epochs=1)]


def _resume_path(checkpoint_dir: str | Path | None) -> str | None:
    path = Path(checkpoint_dir) / "last.ckpt"  # type: ignore[arg-type]
    if not path.is_file():
        _log.warning("no checkpoint at %s: starting a new search", path)
        return None
    return str(path)


def _peak_memory_mb(accelerator: str) -> float | None:
    if accelerator == "gpu" and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2 ** 20
    return None
