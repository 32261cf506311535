"""What the zero-cost strategies share: their scorer settings, the candidate pool, and the clock accounting.

A zero-cost strategy scores networks it has not trained, so unlike other strategies it builds models: the
:class:`~nni_effnas.zerocost.ZeroCostScorer` does, from the settings below (all plain values, so the strategy
can be created by name from an NNI config, the Python API or ``bench search``). The scoring compute is charged
to a simulated clock: the part spent in ``ask`` is measured by the loop, the part read from the zero-cost
cache is reported by :meth:`ZeroCostMixin.reused_compute_s` at its recorded cost.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from nni_effnas.space import CategoricalSpace, Sample


class ZeroCostMixin:
    """Scorer settings and accounting for a :class:`~nni_effnas.strategies.base.Strategy`.

    Args (keyword, shared by every zero-cost strategy):
        proxies: proxy names (``"synflow"`` or ``"synflow,jacob_cov,nwot"``; several are rank-aggregated).
        search_space: the registered search space whose networks are scored (``"nb201"``).
        dataset: the NAS-Bench-201 task the networks are built for (classes and input size).
        proxy_data: the proxy batch source (``"noise"``, ``"fashion-mnist"``; see ``nni_effnas.proxy_data``).
        proxy_batch_size: its size.
        zc_seed: seed of the scored networks' weights and of the proxy batch. Deliberately separate from the
            strategy's ``seed``: searches with different seeds share cached scores.
        model_kwargs: build arguments of the scored networks (NB201 default: the benchmark's evaluation network,
            ``channels=16, num_cells=5``; a smaller one scores faster and ranks differently).
        cache: zero-cost cache file (default ``~/.cache/nni-effnas/zerocost.sqlite``; ``False``: none).
        device: where scoring runs.
        scorer: instead of all the above, any object with ``rank(samples) -> array`` and ``charged_s`` /
            ``computed_s`` attributes (tests use a toy one; users may bring their own scoring).
    """

    def _init_zero_cost(
        self,
        *,
        proxies: str | Sequence[str] = "synflow",
        search_space: str = "nb201",
        dataset: str | None = "cifar10",
        proxy_data: str = "noise",
        proxy_batch_size: int = 64,
        zc_seed: int = 0,
        model_kwargs: Mapping[str, Any] | None = None,
        cache: Any = None,
        device: str = "cpu",
        scorer: Any = None,
    ) -> None:
        from nni_effnas.proxies import proxy_names

        names = list(proxy_names(proxies, owner="a zero-cost strategy"))  # fails at construction, not first ask
        self.zc_config = {"space": search_space, "proxies": names, "dataset": dataset, "data": proxy_data,
                          "batch_size": proxy_batch_size, "seed": zc_seed, "model_kwargs": model_kwargs,
                          "cache": cache, "device": device}
        self._scorer: Any = scorer
        self._scorer_state: Mapping[str, float] = {}

    @classmethod
    def benchmark_args(cls, benchmark: str) -> dict[str, Any]:
        """On ``nb201/<task>`` score the task's networks (its classes and input size)."""
        space, _, task = benchmark.partition("/")
        return {"search_space": space, "dataset": task} if space == "nb201" and task else {}

    @property
    def scorer(self):
        """The :class:`~nni_effnas.zerocost.ZeroCostScorer`, built on first use."""
        if self._scorer is None:
            from nni_effnas.zerocost import ZeroCostScorer

            config = dict(self.zc_config)
            self._scorer = ZeroCostScorer(config.pop("space"), **config)
            self._load_zc_state(self._scorer_state)
        return self._scorer

    def reused_compute_s(self) -> float:
        if self._scorer is None:
            return float(self._scorer_state.get("charged_s", 0.0)) - float(self._scorer_state.get("computed_s", 0.0))
        return self._scorer.charged_s - self._scorer.computed_s

    def _zc_state(self) -> dict[str, float]:
        if self._scorer is None:
            return dict(self._scorer_state)
        return {"charged_s": float(self._scorer.charged_s), "computed_s": float(self._scorer.computed_s)}

    def _ranked_pool(self, size: int) -> list[Sample]:
        """Up to ``size`` distinct feasible random samples (:func:`draw_pool`), best-scored first."""
        pool = draw_pool(self._space(), self.rng, size, self.feasible)
        order = np.argsort(-np.asarray(self.scorer.rank(pool), dtype=float), kind="stable")
        return [pool[int(i)] for i in order]

    def _load_zc_state(self, state: Mapping[str, float]) -> None:
        self._scorer_state = dict(state)
        if self._scorer is not None:
            self._scorer.charged_s = float(state.get("charged_s", 0.0))
            self._scorer.computed_s = float(state.get("computed_s", 0.0))


class BaseStrategyMixin:
    """For a strategy that hands part of the search to another registered strategy, ``base``: built in ``setup``
    (its seed drawn from this strategy's generator), set up on the same space and constraint, saved with it."""

    def _init_base(self, base: str, base_args: Mapping[str, Any] | None) -> None:
        from nni_effnas.strategies import STRATEGIES

        STRATEGIES.get(base)  # fail at construction, with the known names
        self.base_name, self.base_args = base, dict(base_args or {})
        self.base: Any = None

    def _setup_base(self, space: CategoricalSpace, feasible: Any) -> None:
        from nni_effnas.strategies import create_strategy

        if self.base is None:
            self.base = create_strategy(self.base_name, seed=int(self.rng.integers(2**31)), **self.base_args)
        self.base.setup(space, feasible=feasible)

    def _base_state(self) -> dict[str, Any] | None:
        return self.base.state_dict() if self.base is not None else None

    def _load_base_state(self, state: Mapping[str, Any] | None) -> None:
        if self.base is not None and state is not None:
            self.base.load_state_dict(state)


def draw_pool(
    space: CategoricalSpace, rng: np.random.Generator, size: int, feasible: Any = None, *, max_draws: int | None = None
) -> list[Sample]:
    """Up to ``size`` distinct random samples passing ``feasible`` (drawing is free; the constraint is known
    before training). Stops early when the space (or its feasible part) runs out."""
    if size < 1:
        raise ValueError(f"pool_size must be >= 1, got {size}")
    max_draws = max_draws if max_draws is not None else 50 * size + 1000
    seen: set[str] = set()
    pool: list[Sample] = []
    for _ in range(max_draws):
        if len(pool) >= size or len(seen) >= space.size:
            break
        sample = space.sample(rng)
        key = space.key(sample)
        if key in seen:
            continue
        seen.add(key)
        if feasible is None or feasible(sample):
            pool.append(sample)
    if not pool:
        raise ValueError("no feasible sample found for the zero-cost pool; is the constraint satisfiable?")
    return pool


def hamming_nearest(candidates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Indices of ``candidates`` (rows of label indices) sorted by Hamming distance to ``target`` (stable)."""
    distance = (candidates != target[None, :]).sum(axis=1)
    return np.argsort(distance, kind="stable")
