"""Regularized (aging) evolution.

Reference: Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture Search",
AAAI 2019 (arXiv:1802.01548), Algorithm 1.

Variant: the population is filled with ``population_size`` random samples; then each step draws
``sample_size`` members uniformly *with replacement* from the population, mutates the one with the best
reward, and after its evaluation appends the child and removes the *oldest* member. Mutation changes exactly
one label to a different choice (the paper's "op mutation"; NB201 has no hidden-state mutation because its
cell topology is fixed). Deviations: failed or constraint-rejected samples are not added to the population
(the paper has no such case); with ``sample_size > population_size`` the paper is undefined, we raise.
Defaults (population 10, sample 3) follow the NATS-Bench REA baseline.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Mapping

from nni_effnas.space import Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward


def mutate(sample: Mapping[str, Any], space, rng) -> Sample:
    """Change one uniformly chosen label to a different uniformly chosen value."""
    mutable = [(label, values) for label, values in space.choices if len(values) > 1]
    if not mutable:
        return dict(sample)
    label, values = mutable[int(rng.integers(len(mutable)))]
    others = [v for v in values if v != sample[label]]
    child = dict(sample)
    child[label] = others[int(rng.integers(len(others)))]
    return child


@STRATEGIES.register("regularized_evolution", aliases=("evolution", "rea", "aging_evolution"))
class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection.

    Args:
        population_size: P, members alive at once.
        sample_size: S, tournament size.
        seed: seed of the strategy's generator.
    """

    def __init__(self, *, population_size: int = 10, sample_size: int = 3, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        if population_size < 1:
            raise ValueError(f"population_size must be >= 1, got {population_size}")
        if not 1 <= sample_size <= population_size:
            raise ValueError(f"sample_size must be in 1..population_size ({population_size}), got {sample_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[tuple[Sample, float]] = deque()

    def ask(self) -> Sample:
        space = self._space()
        if len(self.population) < self.population_size:
            return space.sample(self.rng)
        picks = self.rng.integers(len(self.population), size=self.sample_size)
        parent = max((self.population[int(i)] for i in picks), key=lambda member: member[1])[0]
        return self.child(parent)

    def child(self, parent: Sample) -> Sample:
        """The mutation of the tournament winner (subclasses choose it differently)."""
        return mutate(parent, self._space(), self.rng)

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        reward = observed_reward(reward)
        if reward is None:
            return
        self.population.append((dict(sample), reward))
        if len(self.population) > self.population_size:
            self.population.popleft()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": [[s, r] for s, r in self.population]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = deque((dict(s), float(r)) for s, r in state.get("population", ()))
