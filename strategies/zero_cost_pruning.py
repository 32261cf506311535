"""Zero-cost pruning: score a random candidate pool with zero-cost proxies, keep the best, search only those.

The idea of ranking untrained networks to shrink what a search must train is from Mellor et al., "Neural
Architecture Search without Training" (NASWOT, ICML 2021: score N random cells, train the best) and
Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021). This strategy generalises NASWOT's
"score a pool, keep the top" into a pruning step in front of any other strategy:

1. draw ``pool_size`` distinct random samples that pass the user's constraint (``feasible``; free);
2. score them with ``proxies`` (several: mean rank), paying the real compute on the clock;
3. keep the top ``keep`` fraction (at least one) as the *survivors*;
4. run ``base`` (``random``, ``regularized_evolution`` or any registered strategy) restricted to the survivors:
   each proposal of the base is *projected* onto the nearest survivor not yet proposed (Hamming distance over
   the labels; ties go to the better proxy rank), and the base is told the result under the projected sample.

With ``base="random"`` this is NASWOT followed by training the survivors in a random order; with
``keep * pool_size`` survivors fewer than the budget allows, the search ends early (``ask`` returns ``None``).
Deviations: NASWOT trains only the single best-scored cell; here the base strategy spends the rest of the
budget on the survivors. The projection is ours (the papers have no base strategy to restrict).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from nni_effnas.space import Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward
from nni_effnas.strategies.zc_common import BaseStrategyMixin, ZeroCostMixin, hamming_nearest


@STRATEGIES.register("zero_cost_pruning", aliases=("zc_pruning", "zcp"))
class ZeroCostPruning(BaseStrategyMixin, ZeroCostMixin, Strategy):
    """Prune a scored pool to its top fraction, then search the survivors with ``base``.

    Args:
        base: registry name of the strategy run on the survivors.
        base_args: its keyword arguments (its seed is drawn from this strategy's generator).
        pool_size: candidates scored.
        keep: fraction of the pool kept, in (0, 1].
        seed: seed of this strategy's generator.
        **zero_cost: scorer settings, see :class:`~nni_effnas.strategies.zc_common.ZeroCostMixin`.
    """

    def __init__(self, *, base: str = "random", base_args: Mapping[str, Any] | None = None, pool_size: int = 500,
                 keep: float = 0.1, seed: int | None = None, **zero_cost: Any) -> None:
        super().__init__(seed=seed)
        if not 0 < keep <= 1:
            raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        self._init_base(base, base_args)
        self._init_zero_cost(**zero_cost)
        self.pool_size, self.keep = int(pool_size), float(keep)
        self.pool: list[Sample] | None = None  # the scored candidates, best first
        self.survivors: list[Sample] | None = None  # best first
        self.proposed: set[str] = set()

    def setup(self, space, *, feasible=None) -> None:
        super().setup(space, feasible=feasible)
        self._setup_base(space, feasible)

    def _prune(self) -> list[Sample]:
        self.pool = self._ranked_pool(self.pool_size)
        return self.pool[: max(1, math.ceil(self.keep * len(self.pool)))]

    def ask(self) -> Sample | None:
        space = self._space()
        if self.survivors is None:
            self.survivors = self._prune()
        free = [s for s in self.survivors if space.key(s) not in self.proposed]
        if not free:
            return None
        proposal = self.base.ask() if self.base is not None else None
        if proposal is None:
            choice = free[0]
        else:
            codes = np.array([space.encode(s) for s in free])
            choice = free[int(hamming_nearest(codes, np.array(space.encode(space.validate(proposal))))[0])]
        self.proposed.add(space.key(choice))
        return choice

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        observed_reward(reward)  # refused before anything is recorded
        self.proposed.add(self._space().key(sample))
        if self.base is not None:
            self.base.tell(sample, reward, metrics)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "survivors": self.survivors, "proposed": sorted(self.proposed),
                "base": self._base_state(), "zero_cost": self._zc_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.survivors = [dict(s) for s in state["survivors"]] if state.get("survivors") is not None else None
        self.proposed = set(state.get("proposed", ()))
        self._load_base_state(state.get("base"))
        self._load_zc_state(state.get("zero_cost", {}))
