"""Pools of unseen candidate samples, shared by the surrogate-driven strategies (BANANAS, PNAS).

A strategy that mixes this in keeps ``proposed`` (the keys of every sample it asked or was told) and has
``rng``, ``feasible`` and ``_space()`` from :class:`~nni_effnas.strategies.base.Strategy`. A candidate is
*fresh* when it was never proposed, is not already in the pool being built (``taken``, updated as candidates
are accepted) and passes the user's constraint. Random draws are used while the space has plenty of unseen
samples; a small space (up to ``ENUMERATE_BELOW`` samples) that is nearly used up is enumerated instead, so a
search never stalls on the last few unseen samples.
"""
from __future__ import annotations

from typing import Collection, Sequence

import numpy as np

from nni_effnas.space import Sample
from nni_effnas.strategies.base import observed_reward
from nni_effnas.strategies.regularized_evolution import mutate

#: spaces up to this size are enumerated when random draws find no unseen feasible sample
ENUMERATE_BELOW = 100_000


def refit_due(n: int, fit_info: dict[str, int] | None, *, every: int, fraction: float) -> bool:
    """Whether a surrogate last fitted on ``fit_info["n"]`` rewards should be refitted now that there are ``n``:
    after at least ``max(every, fraction * n_fitted)`` new rewards (always when never fitted)."""
    return fit_info is None or n - fit_info["n"] >= max(every, int(fraction * fit_info["n"]))


class CandidatePool:
    """Mixin: unseen, feasible candidates by mutation of good samples and by random draws."""

    proposed: set[str]

    def _mutation_pool(self, parents: Sequence[Sample], size: int) -> list[Sample]:
        """``size`` candidates: half mutations (one or two labels changed) of ``parents``, half random."""
        space, taken = self._space(), set()
        want = size // 2 if parents else 0
        pool: list[Sample] = []
        for _ in range(4 * want):
            if len(pool) >= want:
                break
            child = mutate(parents[int(self.rng.integers(len(parents)))], space, self.rng)
            if self.rng.random() < 0.5:
                child = mutate(child, space, self.rng)
            if self._fresh(child, taken):
                pool.append(child)
        return pool + self._random_unseen(size - len(pool), taken)

    def _random_unseen(self, count: int, taken: set[str]) -> list[Sample]:
        """Up to ``count`` distinct fresh samples. Random draws; a small space that is nearly used up (or whose
        draws all fail) is enumerated instead."""
        space, out = self._space(), []
        small = space.size <= ENUMERATE_BELOW
        if count < 1 or (small and space.size - len(self.proposed) - len(taken) <= 4 * count):
            return self._enumerate_unseen(count, taken) if count >= 1 else []
        for _ in range(20 * count + 200):
            if len(out) >= count:
                break
            sample = space.sample(self.rng)
            if self._fresh(sample, taken):
                out.append(sample)
        return out if out or not small else self._enumerate_unseen(count, taken)

    def _enumerate_unseen(self, count: int, taken: set[str]) -> list[Sample]:
        space = self._space()
        rest = [s for s in (space.decode(c) for c in np.ndindex(*[len(v) for _, v in space.choices]))
                if space.key(s) not in self.proposed and space.key(s) not in taken
                and (self.feasible is None or self.feasible(s))]
        out = [rest[int(i)] for i in self.rng.permutation(len(rest))[:count]]
        taken.update(space.key(s) for s in out)
        return out

    def _record(self, sample: Sample, reward: float | None, seen: Collection[str]) -> tuple[Sample, str] | None:
        """``tell``'s bookkeeping: validate ``sample`` and mark it proposed; return it with its key when
        ``reward`` is a finite number for a sample not in ``seen`` (a result told twice, e.g. replayed on
        resume, keeps the first), else None."""
        reward = observed_reward(reward)
        space = self._space()
        sample = space.validate(sample)
        key = space.key(sample)
        self.proposed.add(key)
        if reward is None or key in seen:
            return None
        return sample, key

    def _fresh(self, sample: Sample, taken: set[str]) -> bool:
        key = self._space().key(sample)
        if key in self.proposed or key in taken or (self.feasible is not None and not self.feasible(sample)):
            return False
        taken.add(key)
        return True
