"""Aging evolution with a zero-cost move proposal (Abdelfattah et al., "Zero-Cost Proxies for Lightweight
NAS", ICLR 2021, Section 5.2).

Regularized evolution (``regularized_evolution.py``) mutates the tournament winner at random; here the child is
chosen by a zero-cost proxy instead: every single-label mutation of the parent (or ``candidates`` of them,
drawn at random) that passes the user's constraint and was not proposed before is scored, and the best-scored
one is proposed. The proxies' compute is charged to the clock. Everything else (population, tournament,
removal of the oldest) is regularized evolution's.

Deviations: the paper scores the mutations with synflow; ``proxies`` is configurable (several: mean rank among
the candidates). Samples already proposed are skipped (the paper does not say); when every mutation was, a
random mutation is proposed as in plain evolution. Combine with :mod:`zero_cost_warmup` (``zero_cost_warmup``
with ``base="zero_cost_evolution"``) for the paper's warmup + move variant.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from nni_effnas.space import Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.regularized_evolution import RegularizedEvolution, mutate
from nni_effnas.strategies.zc_common import ZeroCostMixin


def all_mutations(sample: Mapping[str, Any], space) -> list[Sample]:
    """Every sample differing from ``sample`` in exactly one label."""
    out = []
    for label, values in space.choices:
        for value in values:
            if value != sample[label]:
                child = dict(sample)
                child[label] = value
                out.append(child)
    return out


@STRATEGIES.register("zero_cost_evolution", aliases=("zc_evolution", "zc_move_evolution", "zero_cost_move"))
class ZeroCostEvolution(ZeroCostMixin, RegularizedEvolution):
    """Aging evolution whose mutation is the best-scored of the parent's one-label mutations.

    Args:
        population_size, sample_size: as in :class:`RegularizedEvolution`.
        candidates: how many mutations to score per child (``None``: all of them).
        seed: seed of the strategy's generator.
        **zero_cost: scorer settings, see :class:`~nni_effnas.strategies.zc_common.ZeroCostMixin`.
    """

    def __init__(self, *, population_size: int = 10, sample_size: int = 3, candidates: int | None = None,
                 seed: int | None = None, **zero_cost: Any) -> None:
        super().__init__(population_size=population_size, sample_size=sample_size, seed=seed)
        if candidates is not None and candidates < 1:
            raise ValueError(f"candidates must be >= 1 (or None for all mutations), got {candidates}")
        self._init_zero_cost(**zero_cost)
        self.candidates = candidates
        self.proposed: set[str] = set()

    def ask(self) -> Sample:
        sample = super().ask()
        self.proposed.add(self._space().key(sample))
        return sample

    def child(self, parent: Sample) -> Sample:
        space = self._space()
        options = [c for c in all_mutations(parent, space) if space.key(c) not in self.proposed
                   and (self.feasible is None or self.feasible(c))]
        if self.candidates is not None and len(options) > self.candidates:
            keep = self.rng.choice(len(options), size=self.candidates, replace=False)
            options = [options[int(i)] for i in np.sort(keep)]
        if not options:
            return mutate(parent, space, self.rng)
        return options[int(np.argmax(self.scorer.rank(options)))]

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        super().tell(sample, reward, metrics)  # refuses a bad reward before anything is recorded
        self.proposed.add(self._space().key(sample))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "proposed": sorted(self.proposed), "zero_cost": self._zc_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.proposed = set(state.get("proposed", ()))
        self._load_zc_state(state.get("zero_cost", {}))
