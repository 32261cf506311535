"""Evaluators turn a sample of a search space into a metric dict (``default`` is the reward).

Registered in ``EVALUATORS``: ``benchmark`` (NAS-Bench-201 lookup, simulated cost), ``train`` (PyTorch
Lightning on real data), ``zero-cost`` (zero-cost proxies of the untrained network) and ``oneshot`` (a whole
differentiable search per trial; its input is the trial's parameters, not a sample of the space: see
:class:`OneShotEvaluator`). The same objects serve ``effnas-trial`` under NNI and the in-process API.

Hardware metrics, under the same names for every evaluator but ``oneshot`` (so a multi-objective tuner reads its
cost under one name whatever the trial did): ``latency_ms`` (the ``benchmark`` table's device, or measured here
on the built network: :class:`LatencySettings`), ``flops_M`` (millions of forward FLOPs of one image, 2 per
multiply-accumulate, ``FlopCounterMode``'s convention: :mod:`nni_effnas.costs.flops`) and ``params_M``
(millions of parameters). ``default`` stays the accuracy (or proxy score).
"""
from __future__ import annotations

import contextlib
import math
from abc import ABC, abstractmethod
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from nni_effnas.checks import check_int, check_out_dir
from nni_effnas.costs.nb201_counts import nb201_flops_M
from nni_effnas.costs.network import LatencySettings, latency_metrics, network_costs
from nni_effnas.registry import Registry
from nni_effnas.report_io import save_json
from nni_effnas.search_spaces import SearchSpace

Report = Callable[[dict[str, Any]], None]


class Evaluator(ABC):
    """Evaluate one sample; call ``report`` with intermediate metric dicts if given.

    ``takes`` says what ``evaluate`` receives as its first argument: ``"sample"`` (a sample of the space, the
    default) or ``"parameters"`` (the trial's parameters as a dict, e.g. ``{"method": "gdas", "seed": 1}``).
    """

    takes: str = "sample"

    def check_space(self, space: SearchSpace) -> None:
        """Raise a one-line ``ValueError`` if this evaluator cannot score samples of ``space`` (called before a
        search starts, so a mismatch is not a run of failed trials)."""

    @abstractmethod
    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        ...


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator")


def create_evaluator(name: str, **kwargs: Any) -> Evaluator:
    return EVALUATORS.create(name, **kwargs)


def model_size_kwargs(space: str, *, channels: int, cells: int) -> dict[str, int]:
    """The network-size keyword arguments of space ``space`` for ``channels`` and ``cells`` per stage.

    NAS-Bench-201's networks take ``num_cells`` (cells per stage, three stages); DARTS's take ``layers`` (cells in
    all, reductions at 1/3 and 2/3), so ``cells`` per stage becomes ``layers = 3 * cells`` there. Other spaces
    get ``channels`` and ``num_cells``.
    """
    for name, value in (("channels", channels), ("cells", cells)):
        check_int(name, value)
    if space == "darts":
        return {"channels": channels, "layers": 3 * cells}
    return {"channels": channels, "num_cells": cells}


@EVALUATORS.register("benchmark", aliases=("bench", "tabular"))
class BenchmarkEvaluator(Evaluator):
    """Look the cell up in the offline NAS-Bench-201 table (no training).

    ``default`` is the 12-epoch validation accuracy (the reward of the NATS-Bench simulated protocol);
    also reported: 200-epoch test and validation accuracy, ``params_M`` (the table's), the latency on ``device``
    from the table as ``latency_ms`` and ``latency_{device}_ms`` (with ``latency_device``), ``flops_M``
    (:func:`nb201_flops_M`: the benchmark network for ``dataset``, counted in closed form, not from the
    table), and ``cost``, the simulated 12-epoch training time in seconds. Intermediate results: the validation
    accuracy at 12 and at 200 epochs (the two fidelities the table holds). On ImageNet16-120 no latency is
    reported: the shipped device tables were measured with 32x32 inputs (CIFAR), not its 16x16 ones.
    """

    def __init__(self, *, dataset: str = "cifar10", device: str = "pixel2") -> None:
        from nni_effnas.nb201 import canonical_dataset, load_table

        self.dataset = canonical_dataset(dataset)
        self.table = load_table()
        if device not in self.table.devices:
            raise ValueError(f"unknown latency device {device!r}; expected one of: {', '.join(self.table.devices)}")
        self.device = device

    def check_space(self, space: SearchSpace) -> None:
        if space.name != "nb201":
            raise ValueError(f"the benchmark evaluator has no table for space {space.name!r}; expected nb201")

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        self.check_space(space)
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
            "flops_M": nb201_flops_M(clean, dataset=self.dataset),
            **self._latency(row),
            "cost": row["cost_12ep_s"],
            "index": row["index"],
            "arch": row["arch"],
            "sample": clean,
        }


    def _latency(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if "latency_ms" not in row:  # a dataset the shipped latencies do not fit
            return {}
        latency = row["latency_ms"][self.device]
        return {"latency_ms": latency, f"latency_{self.device}_ms": latency, "latency_device": self.device}


@EVALUATORS.register("train", aliases=("training",))
class TrainingEvaluator(Evaluator):
    """Build the sampled network and train it with PyTorch Lightning (``nni_effnas.trials.train``).

    Model size for CPU work: ``channels`` and ``num_cells`` of the space's skeleton; input channels and
    classes come from the dataset. After training, the network is measured on the CPU (a fresh copy: costs do
    not depend on weights): ``params_M``, ``flops_M`` and ``latency_ms`` (``latency_*`` arguments, see
    :class:`LatencySettings`; image size from the dataset).
    """

    def __init__(self, *, dataset: str = "digits", data_dir: str | Path | None = None, epochs: int = 3,
                 batch_size: int = 64, learning_rate: float = 0.05, seed: int = 0, channels: int = 16,
                 num_cells: int = 1, limit: int | None = None, out_dir: str | Path | None = None,
                 accelerator: str = "cpu", latency_batch_size: int = 1, latency_threads: int = 1,
                 latency_warmup: int = 5, latency_repeats: int = 20) -> None:
        from nni_effnas.trials.data import DATASETS

        DATASETS.canonical(dataset)  # fail early on an unknown name
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.latency = LatencySettings(batch_size=latency_batch_size, threads=latency_threads,
                                       warmup=latency_warmup, repeats=latency_repeats)
        self.channels, self.num_cells = channels, num_cells
        self.train_kwargs = dict(dataset=dataset, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                                 learning_rate=learning_rate, seed=seed, limit=limit, out_dir=out_dir,
                                 accelerator=accelerator)

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        from nni_effnas.trials.train import TrainEvaluator

        clean = space.categorical().validate(sample)
        seen: list[Any] = []

        def build(data: Any) -> Any:
            seen.append(data)
            return space.build(clean, in_channels=data.in_channels, num_classes=data.num_classes,
                               **model_size_kwargs(space.name, channels=self.channels, cells=self.num_cells))

        metrics = TrainEvaluator(**self.train_kwargs).evaluate(build, report=report)
        data = seen[-1]
        shape = (data.in_channels, data.image_size, data.image_size)
        costs = network_costs(build(data), shape, self.latency)
        return {**metrics, **costs, "arch": space.to_string(clean), "sample": clean}


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
    ones included at their recorded time), ``arch`` and ``sample``; and the scored network's ``params_M`` and
    ``flops_M`` (the ``params`` and ``flops`` proxies, cached like the scores; not in ``zc_time_s``) and
    ``latency_ms`` (measured on ``device`` with the ``latency_*`` arguments, see :class:`LatencySettings`;
    never cached, as a latency belongs to the machine; ``latency_repeats=0`` skips it). No ``cost`` is set:
    in-process searches charge the wall time, the latency measurement included.
    """

    def __init__(self, *, dataset: str = "cifar10", proxies: str | Sequence[str] = "synflow",
                 proxy_data: str = "noise", batch_size: int = 64, seed: int = 0, channels: int = 16,
                 num_cells: int = 5, cache: str | Path | bool | None = None, device: str = "cpu",
                 latency_batch_size: int = 1, latency_threads: int = 1, latency_warmup: int = 5,
                 latency_repeats: int = 20) -> None:
        from nni_effnas.nb201 import TASKS, canonical_dataset
        from nni_effnas.zerocost import ZeroCostScorer

        if isinstance(cache, str) and cache.strip().lower() in ("none", "off", "false", "no", ""):
            cache = False
        self.scorer = ZeroCostScorer("nb201", proxies=proxies, dataset=dataset, data=proxy_data,
                                     batch_size=batch_size, seed=seed, cache=cache, device=device,
                                     model_kwargs={"channels": channels, "num_cells": num_cells})
        self.latency = LatencySettings(batch_size=latency_batch_size, threads=latency_threads,
                                       warmup=latency_warmup, repeats=latency_repeats)
        self.device = device
        self.input_shape = TASKS[canonical_dataset(dataset)][1]

    def check_space(self, space: SearchSpace) -> None:
        if space.name != self.scorer.space.name:
            raise ValueError(f"the zero-cost evaluator scores NAS-Bench-201 networks, not space {space.name!r}")

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        self.check_space(space)
        clean = space.categorical().validate(sample)
        before = self.scorer.charged_s
        scores = {name: (value if math.isfinite(value) else None) for name, value in self.scorer.score(clean).items()}
        charged = self.scorer.charged_s - before
        counts = self.scorer.score(clean, proxies=("params", "flops"))  # the same counters, cached with the scores
        costs = {"params_M": counts["params"] / 1e6, "flops_M": counts["flops"] / 1e6}
        if self.latency.repeats:
            costs.update(latency_metrics(self.scorer.build(clean), self.input_shape, self.latency, device=self.device))
        return {
            "default": scores[self.scorer.proxies[0]],
            **scores,
            **costs,
            "zc_time_s": charged,
            "arch": space.to_string(clean),
            "sample": clean,
        }


#: Trial parameters that go to the search loop (:class:`nni_effnas.oneshot.search.OneShotSearch`), not the method.
ONESHOT_SEARCH_ARGS = ("w_lr", "w_lr_min", "w_momentum", "w_weight_decay", "grad_clip", "a_lr", "a_weight_decay",
                       "warmup_epochs")


@dataclass(frozen=True)
class OneShotParameters:
    """A one-shot trial's parameters, split: the method key, the seed, the method's and the loop's arguments."""

    method: str
    seed: int
    method_args: dict[str, Any]
    search_args: dict[str, Any]

    @classmethod
    def parse(cls, parameters: Mapping[str, Any], *, default_method: str = "darts",
              default_seed: int = 0) -> "OneShotParameters":
        """``{"method": KEY or {"_name": KEY, **method_args}, "seed": int, "method_args": {...}, **rest}``.

        ``method`` is an ONESHOT key (NNI's nested choice form ``{"_name": ...}`` is accepted, its other entries
        are method arguments); keys of :data:`ONESHOT_SEARCH_ARGS` go to the search loop; every other key is a
        method argument. Bad values raise a one-line ``ValueError``.
        """
        from nni_effnas.strategies.oneshot import ONESHOT

        if not isinstance(parameters, Mapping):
            raise ValueError(f"one-shot trial parameters must be a dict, got {parameters!r}")
        rest = dict(parameters)
        method = rest.pop("method", default_method)
        method_args: dict[str, Any] = {}
        if isinstance(method, Mapping):
            method_args.update({k: v for k, v in method.items() if k != "_name"})
            method = method.get("_name")
        if not isinstance(method, str):
            raise ValueError(f"parameter 'method' must be a one-shot method key, got {method!r}")
        method = ONESHOT.canonical(method)
        seed = rest.pop("seed", default_seed)
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"parameter 'seed' must be an int, got {seed!r}")
        extra = rest.pop("method_args", {}) or {}
        if not isinstance(extra, Mapping):
            raise ValueError(f"parameter 'method_args' must be a dict, got {extra!r}")
        method_args.update(extra)
        search_args = {k: rest.pop(k) for k in ONESHOT_SEARCH_ARGS if k in rest}
        method_args.update(rest)
        return cls(method=method, seed=seed, method_args=method_args, search_args=search_args)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seed": self.seed, **self.method_args, **self.search_args}


@EVALUATORS.register("oneshot", aliases=("one_shot",))
class OneShotEvaluator(Evaluator):
    """One differentiable search per trial: :func:`nni_effnas.oneshot.run_oneshot`, so NNI's web UI compares
    methods and seeds (``trials/configs/nb201_oneshot.yml``).

    ``evaluate`` takes the trial's *parameters* (see :meth:`OneShotParameters.parse`), not a sample. After every
    epoch it reports ``default`` (the derived cell's benchmark accuracy: NAS-Bench-201's CIFAR-10 test accuracy
    after 200 epochs, from the offline table, when the space is ``nb201``; else the supernet's validation
    accuracy), ``val_acc`` (the supernet's), ``skip_count``, ``alpha_entropy`` and ``hessian_eig`` (from
    :class:`~nni_effnas.oneshot.monitor.CollapseMonitor`; ``None`` unless ``hessian=True``: power iteration costs
    about 20 double back-propagations an epoch), ``arch`` (the derived cell) and ``epoch`` (from 1). The final
    result has the same keys, for NAS-Bench-201 also ``cifar100`` and ``imagenet16`` (test accuracies of the
    derived cell), the derived ``sample``, the ``parameters`` as understood, and the paths ``derived_json`` and
    ``checkpoint_dir``.

    Files, in ``out_dir`` (under NNI: the trial's output directory; ``None``: a fresh temporary directory):
    ``derived.json`` (space, arch string, sample, method, seed, run settings, table accuracies) and
    ``oneshot-ckpt/<key>/last.ckpt``, where ``key`` hashes every setting except ``epochs``. A run that finds its
    checkpoint resumes from it (``run_oneshot(resume=True)``): weights, optimisers, logits, the method's state, the
    monitor's history; intermediate results are reported for the epochs trained in this run only. Raising
    ``epochs`` with the same settings extends a finished search.
    """

    takes = "parameters"

    def __init__(self, *, dataset: str = "digits", data_dir: str | Path | None = None, epochs: int = 3,
                 batch_size: int = 64, channels: int = 16, num_cells: int = 1, limit: int | None = None,
                 val_limit: int | None = 2000, hessian: bool = False, method: str = "darts", seed: int = 0,
                 out_dir: str | Path | None = None, accelerator: str = "cpu") -> None:
        from nni_effnas.trials.data import DATASETS

        DATASETS.canonical(dataset)
        check_int("epochs", epochs)
        self.dataset, self.data_dir, self.epochs, self.batch_size = dataset, data_dir, epochs, batch_size
        self.channels, self.num_cells, self.limit, self.val_limit = channels, num_cells, limit, val_limit
        self.hessian, self.method, self.seed = bool(hessian), method, seed
        self.out_dir, self.accelerator = check_out_dir(out_dir), accelerator

    def evaluate(self, sample: Mapping[str, Any], *, space: SearchSpace, report: Report | None = None) -> dict[str, Any]:
        import tempfile

        from nni_effnas.oneshot import search_oneshot
        from nni_effnas.oneshot.monitor import CollapseMonitor
        from nni_effnas.strategies.oneshot.p_darts import stage_summaries
        from nni_effnas.trials.train import _quiet_lightning

        params = OneShotParameters.parse(sample, default_method=self.method, default_seed=self.seed)
        model_kwargs = model_size_kwargs(space.name, channels=self.channels, cells=self.num_cells)
        out_dir = Path(tempfile.mkdtemp(prefix="effnas-oneshot-") if self.out_dir is None else self.out_dir)
        settings = {"space": space.name, **params.to_dict(), "dataset": self.dataset, "limit": self.limit,
                    "val_limit": self.val_limit, "batch_size": self.batch_size, "model_kwargs": model_kwargs}
        ckpt_dir = out_dir / "oneshot-ckpt" / _settings_key(settings)
        resume = ckpt_dir.is_dir() and any(ckpt_dir.rglob("last.ckpt"))  # P-DARTS: one folder per stage
        monitor = CollapseMonitor(hessian=self.hessian, seed=params.seed)
        reporter = _epoch_reporter(space=space, monitor=monitor, report=report)
        with _quiet_lightning(), _failed_search_as_floating_point_error():
            result = search_oneshot(
                space=space.name, method=params.method, method_args=params.method_args, dataset=self.dataset,
                data_dir=self.data_dir, limit=self.limit, val_limit=self.val_limit, epochs=self.epochs,
                batch_size=self.batch_size, model_kwargs=model_kwargs, search_args=params.search_args,
                seed=params.seed, accelerator=self.accelerator, callbacks=[monitor, reporter],
                checkpoint_dir=ckpt_dir, resume=resume)
        last = monitor.history[-1] if monitor.history else {}
        val_acc = next((h["val_acc"] for h in reversed(result.history) if "val_acc" in h), None)
        metrics = _epoch_metrics(space, result.sample, val_acc=val_acc, record=last)
        metrics["epoch"] = result.epochs
        extra_acc = _benchmark_accuracies(space, result.sample)
        metrics.update({k: v for k, v in extra_acc.items() if k != "cifar10"})
        stages = stage_summaries(result)
        staged = {"stages": stages} if stages else {}  # P-DARTS only
        derived = {"space": space.name, "arch": result.arch, "sample": dict(result.sample),
                   "method": params.method, "seed": params.seed, "parameters": params.to_dict(),
                   "dataset": self.dataset, "epochs": result.epochs, "model_kwargs": model_kwargs,
                   "benchmark_test_acc": extra_acc or None, **staged}
        derived_path = out_dir / "derived.json"
        save_json(derived, derived_path)
        metrics.update({"sample": dict(result.sample), "parameters": params.to_dict(), "resumed": resume,
                        "seconds": result.seconds, "derived_json": str(derived_path),
                        "checkpoint_dir": str(ckpt_dir), **staged})
        return metrics


@contextlib.contextmanager
def _failed_search_as_floating_point_error() -> Iterator[None]:
    """A diverged or otherwise failed search is a failed evaluation (``effnas-trial`` exit status 1), not a
    crash and not bad input."""
    from nni_effnas.oneshot.search import SearchFailedError

    try:
        yield
    except SearchFailedError as exc:
        raise FloatingPointError(str(exc)) from None


def _settings_key(settings: Mapping[str, Any]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _benchmark_accuracies(space: SearchSpace, sample: Mapping[str, Any]) -> dict[str, float]:
    """NAS-Bench-201 200-epoch test accuracies of ``sample`` per dataset (empty for other spaces)."""
    if space.name != "nb201":
        return {}
    from nni_effnas.nb201 import load_table

    return load_table().test_accuracies(sample)


def _epoch_metrics(space: SearchSpace, sample: Mapping[str, Any], *, val_acc: float | None,
                   record: Mapping[str, Any]) -> dict[str, Any]:
    bench = _benchmark_accuracies(space, sample)
    return {"default": bench["cifar10"] if bench else val_acc, "val_acc": val_acc,
            "skip_count": record.get("skip_count"), "alpha_entropy": record.get("alpha_entropy"),
            "hessian_eig": record.get("hessian_eig"), "arch": space.to_string(sample)}


def _epoch_reporter(*, space: SearchSpace, monitor: Any, report: Report | None) -> Any:
    """A Lightning callback that calls ``report`` after each trained epoch with :func:`_epoch_metrics`; it must
    come after ``monitor`` in the callback list (it reads the monitor's record of the epoch)."""
    import pytorch_lightning as pl

    class EpochReporter(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
            epoch = trainer.current_epoch + 1
            record = monitor.history[-1] if monitor.history and monitor.history[-1]["epoch"] == epoch else {}
            val_acc = trainer.callback_metrics.get("val_acc")
            metrics = _epoch_metrics(space, pl_module.derived_sample(),
                                     val_acc=None if val_acc is None else float(val_acc), record=record)
            metrics["epoch"] = epoch
            metrics.update(pl_module.method.epoch_metrics())  # P-DARTS: which of its stages this epoch is in
            if report is not None:
                report(metrics)

    return EpochReporter()


EVALUATORS.load_entry_points("nni_effnas.evaluators")  # installed packages' evaluators (see nni_effnas.registry)
