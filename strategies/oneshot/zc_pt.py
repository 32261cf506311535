"""Zero-Cost-PT, registered as ``"zc_pt"``: DARTS-PT's selection by perturbation, scored by a zero-cost proxy on
the untrained supernet.

Paper: L. Xiang, Ł. Dudziak, M. S. Abdelfattah, T. Chau, N. D. Lane and H. Wen, "Zero-Cost Operation Scoring in
Differentiable Architecture Search", AAAI 2023 (arXiv:2106.06799). Its finding: how DARTS scores an operation
(its architecture weight) is a poor proxy for the op's worth; DARTS-PT's perturbation (what removing the op costs
the supernet) is better, and with a zero-cost proxy as the cost it needs no supernet training at all.

Implemented (the paper's NAS-Bench-201 pipeline: random edge order, ``N`` search iterations, ``V`` validation
rounds, NASWOT as the proxy):

1. the supernet is built and left at its initialisation (DARTS's relaxation with the logits at
   ``init_scale * N(0, 1)``, so every undecided edge mixes its ops almost uniformly);
2. ``pool_size`` times: edge by edge in a random order (from the method's generator), score the supernet with
   each op of the edge removed, on a fresh batch of the task's training images per edge; the edge keeps the op
   whose removal gives the *lowest* score (removing it hurts most) and is one-hot from then on. Each pass gives
   one candidate cell. In a space whose nodes keep only some inputs (DARTS: two), the pass then selects them
   the same way (:func:`~nni_effnas.strategies.oneshot.darts_pt.select_inputs`: each incoming edge removed in
   turn, a fresh batch per node; the node keeps the edges whose removal scores lowest), and an edge's op is
   chosen among the ops a genotype can hold (not ``none``, as in DARTS-PT). A proxy that scores
   every removal the same (``params`` counts the supernet's weights, which a removal does not change) is an
   error;
3. every distinct candidate is built as a stand-alone network with fresh weights and scored by the same proxy,
   summed over ``validate_batches`` batches (the same batches for every candidate); the highest sum wins. The
   network is the space's own evaluation network (NAS-Bench-201: 16 channels, 5 cells per stage), as in the
   paper, whatever size the supernet has; ``validate_model={"channels": 8, ...}`` builds another.

``proxy`` is any registered zero-cost proxy (:mod:`nni_effnas.proxies`; all are higher-is-better). The paper's
default is NASWOT (its code calls it ``jacob``; it is the Hamming-kernel log-determinant, our ``nwot``).
``synflow`` and ``params`` are data-free and prefer parameters: on NAS-Bench-201 they pick the all-``3x3``-conv
cell whatever the data (``BENCHMARKS.md``).

Deviations: the paper scores on CIFAR batches of 256 with ``V = 100``; we take the search's dataset and
``batch_size`` and default to ``V = 10`` (a CPU budget). A label is an edge position shared by every cell of the
supernet, as in DARTS-PT. A score that is not finite (NASWOT's kernel can be singular) never wins an edge; an
edge where no removal gives a finite score fails the search (``SearchFailedError``: a failed trial, not bad
input). There is no supernet training, so the run's ``epochs``, ``search_args``, callbacks and checkpoints
have nothing to act on and are ignored; a search takes minutes and is repeated, not resumed, after a stop.
"""
from __future__ import annotations

import inspect
import itertools
import logging
import math
import time
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from nni_effnas.checks import check_int
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.darts_pt import Projection, cycle_batches, select_inputs, selectable

if TYPE_CHECKING:
    from nni_effnas.oneshot.runner import OneShotResult
    from nni_effnas.oneshot.search import OneShotSearch
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["ZeroCostPT", "run_zc_pt"]

_log = logging.getLogger(__name__)

Batch = tuple[torch.Tensor, torch.Tensor]


@ONESHOT.register("zc_pt", aliases=("zero_cost_pt",))
class ZeroCostPT(Projection):
    """Selection by perturbation on the untrained supernet, scored by a zero-cost proxy (see the module docstring).

    Args:
        seed, init_scale: as :class:`OneShotMethod` (``seed`` also orders the edges and seeds the proxy).
        proxy: the registered zero-cost proxy that scores a perturbed supernet and the candidates.
        pool_size: search iterations, each giving one candidate cell (the paper's ``N``).
        validate_batches: batches that score each distinct candidate (the paper's ``V``).
        validate_model: keyword arguments of the network that validates the candidates (``space.build``);
            None: the space's defaults, its evaluation network.
    """

    name = "zc_pt"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, proxy: str = "nwot", pool_size: int = 10,
                 validate_batches: int = 10, validate_model: Mapping[str, Any] | None = None) -> None:
        from nni_effnas.proxies import PROXIES

        super().__init__(seed=seed, init_scale=init_scale)
        self.proxy = PROXIES.canonical(proxy)  # one-line error naming the known proxies
        self.pool_size = check_int("pool_size", pool_size)
        self.validate_batches = check_int("validate_batches", validate_batches)
        if validate_model is not None and not isinstance(validate_model, Mapping):
            raise ValueError(f"validate_model must be a dict of network keyword arguments, got {validate_model!r}")
        self.validate_model = dict(validate_model or {})

    @classmethod
    def search(cls, **run_kwargs: Any) -> "OneShotResult":
        """Zero-Cost-PT's whole search: :func:`run_zc_pt` (no supernet training)."""
        return run_zc_pt(**run_kwargs)

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "proxy": self.proxy, "pool_size": self.pool_size,
                "validate_batches": self.validate_batches, "validate_model": dict(self.validate_model)}


class _Relaxed(nn.Module):
    """The supernet as a plain classifier (``forward(x)``) mixed by the method's current weights, for the proxies."""

    def __init__(self, module: "OneShotSearch") -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.supernet(x, method=self.module.method, training=False)


def run_zc_pt(
    *,
    space: str = "nb201",
    method: str = "zc_pt",
    method_args: Mapping[str, Any] | None = None,
    dataset: str = "fashion-mnist",
    data_dir: Any = None,
    limit: int | None = None,
    batch_size: int = 64,
    model_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    accelerator: str = "cpu",
    **ignored: Any,
) -> "OneShotResult":
    """One Zero-Cost-PT search; takes :func:`~nni_effnas.oneshot.run_oneshot`'s keyword arguments. Those that act
    on supernet training (``epochs``, ``search_args``, ``callbacks``, checkpoints, ...) are ignored; others are
    a ``TypeError``. The result has no history (``epochs`` 0); ``extra`` holds the ``candidates`` (cell, pass
    and validation score) and the winner's per-edge ``selection``."""
    from nni_effnas.oneshot.runner import OneShotResult, build_search, run_oneshot, search_extra

    unknown = sorted(set(ignored) - set(inspect.signature(run_oneshot).parameters))
    if unknown:
        raise TypeError(f"run_zc_pt got unexpected keyword argument(s) {', '.join(unknown)}")
    check_int("batch_size", batch_size, 2)
    if ONESHOT.canonical(method) != ZeroCostPT.name:
        raise ValueError(f"run_zc_pt runs method 'zc_pt', got {method!r}")
    device = _device(accelerator)
    search_space, data, kwargs, module = build_search(
        space=space, method=ZeroCostPT.name, method_args=method_args, dataset=dataset, data_dir=data_dir,
        limit=limit, model_kwargs=model_kwargs, search_args=None, seed=seed)
    module.to(device)
    zc = module.method
    loader = DataLoader(data.train, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    if len(loader) == 0:
        raise ValueError(f"{len(data.train)} training images are fewer than batch_size={batch_size}")
    start = time.perf_counter()
    batches = cycle_batches(loader)
    passes = []
    for number in range(zc.pool_size):
        selection = select_by_proxy(module, batches)
        sample = module.derived_sample()
        passes.append({"arch": search_space.to_string(sample), "sample": sample, "selected": dict(zc.selected),
                       "selection": selection, "dropped": set(zc.dropped), "inputs": list(zc.inputs)})
        _log.info("zc_pt seed %d: pass %d/%d gives %s", seed, number + 1, zc.pool_size, passes[-1]["arch"])
    validation = list(itertools.islice(cycle_batches(loader), zc.validate_batches))
    validate_kwargs = {"in_channels": data.in_channels, "num_classes": data.num_classes, **zc.validate_model}
    scores = _validate(search_space, {p["arch"]: p["sample"] for p in passes}, validation, zc, validate_kwargs,
                       device)
    best = max(scores, key=scores.get)  # ties: the earliest pass (scores keeps the passes' order)
    winner = next(p for p in passes if p["arch"] == best)
    zc.selected, zc.selection = dict(winner["selected"]), list(winner["selection"])
    zc.dropped, zc.inputs = set(winner["dropped"]), list(winner["inputs"])
    seconds = time.perf_counter() - start
    return OneShotResult(
        space=search_space.name, method=zc.name, seed=seed, sample=winner["sample"], arch=winner["arch"],
        history=[], weights=module.arch_weights(), epochs=0, seconds=seconds, seconds_per_step=float("nan"),
        peak_memory_mb=torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None,
        extra={**search_extra(module, model_kwargs=kwargs, dataset=dataset, limit=limit, batch_size=batch_size),
               "candidates": [{"pass": k, "arch": p["arch"], "score": scores[p["arch"]]}
                              for k, p in enumerate(passes)]},
    )


def select_by_proxy(module: "OneShotSearch", batches: Iterator[Batch]) -> list[dict[str, Any]]:
    """One pass of Zero-Cost-PT on ``module`` (whose method is a :class:`ZeroCostPT`): every edge, in a random
    order, keeps the op whose removal gives the lowest proxy score on the next batch; then, in a space whose
    nodes keep only some inputs, each node keeps the incoming edges whose removal scores lowest. The method's
    ``selected``/``dropped`` are reset first and hold the pass's choice after; returns the per-edge decisions
    (the node decisions are in ``method.inputs``)."""
    from nni_effnas.oneshot.search import SearchFailedError
    from nni_effnas.proxies import score

    zc = module.method
    if not isinstance(zc, ZeroCostPT):
        raise TypeError(f"select_by_proxy needs a ZeroCostPT method, got {type(zc).__name__}")
    net = _Relaxed(module)
    labels = module.supernet.labels
    zc.selected, zc.selection, zc.dropped, zc.inputs = {}, [], set(), []
    for position in torch.randperm(len(labels), generator=zc.generator).tolist():
        label, (x, y) = labels[position], next(batches)
        names = module.supernet.op_names[label]
        without = {}  # the proxy's score without each op a derived cell can hold
        for index in selectable(module.space, names):
            with zc.without(label, index):
                without[index] = score(net, zc.proxy, inputs=x, targets=y, seed=zc.seed)
        finite = [i for i, s in without.items() if math.isfinite(s)]
        if not finite:
            kept = {entry["label"]: entry["selected"] for entry in zc.selection}
            raise SearchFailedError(f"zc_pt: proxy {zc.proxy!r} gave no finite score with any op of edge {label!r} "
                                    f"removed (the edges decided so far may cut the input off: {kept})")
        if len(finite) > 1 and len({without[i] for i in finite}) == 1:
            raise ValueError(f"zc_pt: proxy {zc.proxy!r} scores every removal on edge {label!r} the same "
                             f"({without[finite[0]]}): it cannot tell the ops apart; choose another proxy")
        choice = min(finite, key=lambda i: (without[i], i))
        zc.selected[label] = choice
        zc.selection.append({"label": label, "score_without": {names[i]: s for i, s in without.items()},
                             "selected": names[choice]})

    batch: list[Batch] = []  # one batch per node, drawn when its first removal is measured

    def measure() -> tuple[float, float]:
        if not batch:
            batch.append(next(batches))
        value = score(net, zc.proxy, inputs=batch[0][0], targets=batch[0][1], seed=zc.seed)
        return (value if math.isfinite(value) else math.inf), value

    select_inputs(zc, module.space, labels, measure, after=batch.clear)
    return list(zc.selection)


def _validate(space: "SearchSpace", candidates: Mapping[str, Any], batches: list[Batch], zc: ZeroCostPT,
              model_kwargs: Mapping[str, Any], device: torch.device) -> dict[str, float]:
    """Each candidate's proxy summed over ``batches`` on a fresh stand-alone network (NaN: ``-inf``, ranked last)."""
    from nni_effnas.proxies import score

    if len(candidates) == 1:
        return {arch: float("nan") for arch in candidates}  # nothing to choose between
    out = {}
    for arch, sample in candidates.items():
        torch.manual_seed(zc.seed)
        net = space.build(sample, **model_kwargs).to(device)
        total = sum(score(net, zc.proxy, inputs=x, targets=y, seed=zc.seed) for x, y in batches)
        out[arch] = total if math.isfinite(total) else float("-inf")
    return out


def _device(accelerator: str) -> torch.device:
    if accelerator == "cpu":
        return torch.device("cpu")
    if accelerator == "gpu":
        if not torch.cuda.is_available():
            raise ValueError("accelerator='gpu' but torch sees no CUDA device")
        return torch.device("cuda")
    raise ValueError(f"accelerator must be 'cpu' or 'gpu', got {accelerator!r}")
