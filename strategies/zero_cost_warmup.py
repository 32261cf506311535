"""Zero-cost warmup (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, Section 5.1).

Score a pool of random samples with a zero-cost proxy and let a search start from the best of them: the first
``warmup`` proposals are the pool's top ``warmup`` samples, best first; from then on the ``base`` strategy
proposes, having been told every warmup result. For aging evolution (the default base) the warmup samples
become the initial population in place of random ones, which is the paper's "warmup" for evolution; for
random search it is the paper's warmup for random search (the top-ranked models are trained first).

Paper setting: a pool of 3,000 (NB201) scored with synflow; here ``pool_size`` (default 500) and ``proxies``
are configurable, and the pool only holds samples that pass the user's constraint. ``warmup`` defaults to the
base's ``population_size`` when it has one, else 10. Deviation: with asynchronous trials (NNI, concurrency >
1) the base may be asked before the warmup results are back; it then proposes on what it has been told.
"""
from __future__ import annotations

from typing import Any, Mapping


from nni_effnas.space import Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward
from nni_effnas.strategies.zc_common import BaseStrategyMixin, ZeroCostMixin


@STRATEGIES.register("zero_cost_warmup", aliases=("zc_warmup",))
class ZeroCostWarmup(BaseStrategyMixin, ZeroCostMixin, Strategy):
    """Evaluate the pool's best ``warmup`` samples first, then hand over to ``base``.

    Args:
        base: registry name of the strategy that continues (``regularized_evolution``, ``random``, ...).
        base_args: its keyword arguments (its seed is drawn from this strategy's generator).
        pool_size: candidates scored.
        warmup: how many of the best are proposed before the base takes over.
        seed: seed of this strategy's generator.
        **zero_cost: scorer settings, see :class:`~nni_effnas.strategies.zc_common.ZeroCostMixin`.
    """

    def __init__(self, *, base: str = "regularized_evolution", base_args: Mapping[str, Any] | None = None,
                 pool_size: int = 500, warmup: int | None = None, seed: int | None = None, **zero_cost: Any) -> None:
        super().__init__(seed=seed)
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        if warmup is not None and warmup < 1:
            raise ValueError(f"warmup must be >= 1, got {warmup}")
        self._init_base(base, base_args)
        self._init_zero_cost(**zero_cost)
        self.pool_size = int(pool_size)
        self.warmup = warmup
        self.queue: list[Sample] | None = None  # warmup samples not yet proposed, best first

    def setup(self, space, *, feasible=None) -> None:
        super().setup(space, feasible=feasible)
        self._setup_base(space, feasible)
        if self.warmup is None:
            self.warmup = int(getattr(self.base, "population_size", 10))

    def ask(self) -> Sample | None:
        if self.queue is None:
            self.queue = self._ranked_pool(self.pool_size)[: self.warmup]
        if self.queue:
            return self.queue.pop(0)
        return self.base.ask()

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        self.base.tell(sample, observed_reward(reward), metrics)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "queue": self.queue, "warmup": self.warmup,
                "base": self._base_state(), "zero_cost": self._zc_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.queue = [dict(s) for s in state["queue"]] if state.get("queue") is not None else None
        self.warmup = state.get("warmup", self.warmup)
        self._load_base_state(state.get("base"))
        self._load_zc_state(state.get("zero_cost", {}))
