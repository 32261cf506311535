"""Random search: the baseline every strategy is measured against.

Reference: Li & Talwalkar, "Random Search and Reproducibility for Neural Architecture Search", UAI 2019;
NAS-Bench-201 (Dong & Yang, ICLR 2020) uses it as its RS baseline. Variant: uniform sampling with replacement
over the categorical space (as in the NATS-Bench protocol), or without replacement (``unique=True``).
Deviations: none.
"""
from __future__ import annotations

from typing import Any, Mapping

from nni_effnas.space import Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy


@STRATEGIES.register("random")
class Random(Strategy):
    """Uniform random sampling.

    Args:
        seed: seed of the strategy's generator.
        unique: never propose the same sample twice (returns ``None`` once the space is exhausted).
    """

    def __init__(self, *, seed: int | None = None, unique: bool = False) -> None:
        super().__init__(seed=seed)
        self.unique = unique
        self._proposed: set[str] = set()

    def ask(self) -> Sample | None:
        space = self._space()
        if not self.unique:
            return space.sample(self.rng)
        if len(self._proposed) >= space.size:
            return None
        while True:
            sample = space.sample(self.rng)
            key = space.key(sample)
            if key not in self._proposed:
                self._proposed.add(key)
                return sample

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "proposed": sorted(self._proposed)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._proposed = set(state.get("proposed", ()))
