"""Evaluators turn a sample of a search space into a metric dict (``default`` is the reward).

Registered in ``EVALUATORS``: ``benchmark`` (NAS-Bench-201 lookup, simulated cost), ``train`` (PyTorch
Lightning on real data) and ``zero-cost`` (zero-cost proxies of the untrained network). The same objects serve
``effnas-trial`` under NNI and the in-process API.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from nni_effnas.registry import Registry
from nni_effnas.search_spaces import SearchSpace

Report = Callable[[dict[str, Any]], None]


class Evaluator(ABC):
    """Evaluate one sample; call ``report`` with intermediate metric dicts if given."""

    @abstractmethod
    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        ...


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


def create_evaluator(name: str, **kwargs: Any) -> Evaluator:
    cls = EVALUATORS.get(name)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for evaluator {name!r}: {exc}") from None


@EVALUATORS.register("benchmark", aliases=("bench", "tabular"))
class BenchmarkEvaluator(Evaluator):
    """Look the cell up in the offline NAS-Bench-201 table (no training).

    ``default`` is the 12-epoch validation accuracy (the reward of the NATS-Bench simulated protocol);
    also reported: 200-epoch test and validation accuracy, params, latency on ``device``, and ``cost``, the
    simulated 12-epoch training time in seconds. Intermediate results: the validation accuracy at 12 and at
    200 epochs (the two fidelities the table holds).
    """

    def __init__(self, *, dataset: str = "cifar10", device: str = "pixel2") -> None:
        from nni_effnas.nb201 import canonical_dataset, load_table

        self.dataset = canonical_dataset(dataset)
        self.table = load_table()
        if device not in self.table.devices:
            raise ValueError(f"unknown latency device {device!r}; expected one of: {', '.join(self.table.devices)}")
        self.device = device

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        if space.name != "nb201":
            raise ValueError(f"the benchmark evaluator has no table for space {space.name!r}; expected nb201")
        clean = space.categorical().validate(sample)
        row = self.table.query(clean, self.dataset)
        if report is not None:
            report({"default": row["valid_acc_12ep"], "epoch": 12})
            report({"default": row["valid_acc_200ep"], "epoch": 200})
        return {
            "default": row["valid_acc_12ep"],
            "valid_acc_12ep": row["valid_acc_12ep"],
            "valid_acc_200ep": row["valid_acc_200ep"],
            "test_acc": row["test_acc_200ep"],
            "params_M": row["params_M"],
            f"latency_{self.device}_ms": row["latency_ms"][self.device],
            "cost": row["cost_12ep_s"],
            "index": row["index"],
            "arch": row["arch"],
            "sample": clean,
        }


@EVALUATORS.register("train", aliases=("training",))
class TrainingEvaluator(Evaluator):
    """Build the sampled network and train it with PyTorch Lightning (``nni_effnas.trials.train``).

    Model size for CPU work: ``channels`` and ``num_cells`` of the space's skeleton; input channels and
    classes come from the dataset.
    """

    def __init__(self, *, dataset: str = "digits", data_dir: str | Path | None = None, epochs: int = 3,
                 batch_size: int = 64, learning_rate: float = 0.05, seed: int = 0, channels: int = 16,
                 num_cells: int = 1, limit: int | None = None, out_dir: str | Path | None = None,
                 accelerator: str = "cpu") -> None:
        from nni_effnas.trials.data import DATASETS

        DATASETS.canonical(dataset)  # fail early on an unknown name
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.model_kwargs = {"channels": channels, "num_cells": num_cells}
        self.train_kwargs = dict(dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                                 learning_rate=learning_rate, seed=seed, limit=limit, out_dir=out_dir,
                                 accelerator=accelerator)

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        from nni_effnas.trials.train import TrainEvaluator

        clean = space.categorical().validate(sample)

        def build(data: Any) -> Any:
            return space.build(clean, in_channels=data.in_channels, num_classes=data.num_classes, **self.model_kwargs)

        metrics = TrainEvaluator(**self.train_kwargs).evaluate(build, report=report)
        return {**metrics, "arch": space.to_string(clean), "sample": clean}


@EVALUATORS.register("zero-cost", aliases=("zero_cost", "zerocost", "zc"))
class ZeroCostEvaluator(Evaluator):
    """Score the sampled network at initialisation with zero-cost proxies (:class:`nni_effnas.zerocost.ZeroCostScorer`).

    The network is NAS-Bench-201's for the task ``dataset`` (its classes and input shape), ``channels`` and
    ``num_cells`` per stage (16 and 5: the benchmark's evaluation network), with weights drawn from ``seed``;
    the proxies see one batch of ``proxy_data`` (``noise``, ``fashion-mnist``, ``digits``; see
    :mod:`nni_effnas.proxy_data`) of ``batch_size``. Scores are cached on disk in ``cache`` (a path; ``None``:
    ``$NNI_EFFNAS_CACHE`` or ``~/.cache/nni-effnas/zerocost.sqlite``; ``False`` or ``"none"``: no cache).

    Metrics: every requested proxy by name (``synflow``, ``nwot``, ...; a proxy undefined for the network,
    NaN, is reported as ``null``), ``default`` = the *first* proxy's score (with several proxies, ranking by
    their aggregate needs a population of architectures, which is a strategy's job, not a trial's;
    ``None`` when that score is NaN, so the trial fails), ``zc_time_s`` (the compute the scores cost, cached
    ones included at their recorded time), ``arch`` and ``sample``. No ``cost`` is set: in-process searches
    charge the wall time.
    """

    def __init__(self, *, dataset: str = "cifar10", proxies: str | Sequence[str] = "synflow",
                 proxy_data: str = "noise", batch_size: int = 64, seed: int = 0, channels: int = 16,
                 num_cells: int = 5, cache: str | Path | bool | None = None, device: str = "cpu") -> None:
        from nni_effnas.zerocost import ZeroCostScorer

        if isinstance(cache, str) and cache.strip().lower() in ("none", "off", "false", "no", ""):
            cache = False
        self.scorer = ZeroCostScorer("nb201", proxies=proxies, dataset=dataset, data=proxy_data,
                                     batch_size=batch_size, seed=seed, cache=cache, device=device,
                                     model_kwargs={"channels": channels, "num_cells": num_cells})

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        if space.name != self.scorer.space.name:
            raise ValueError(f"the zero-cost evaluator scores NAS-Bench-201 networks, not space {space.name!r}")
        clean = space.categorical().validate(sample)
        before = self.scorer.charged_s
        scores = {name: (value if math.isfinite(value) else None) for name, value in self.scorer.score(clean).items()}
        return {
            "default": scores[self.scorer.proxies[0]],
            **scores,
            "zc_time_s": self.scorer.charged_s - before,
            "arch": space.to_string(clean),
            "sample": clean,
        }
