"""NNI's built-in HPO tuners (TPE, Random, Evolution) driven as our strategies, for side-by-side baselines.

They receive the same search-space JSON our spaces produce (``CategoricalSpace.to_nni()``) and are called the
way NNI's dispatcher calls them (``generate_multiple_parameters`` -> ``receive_trial_result`` ->
``trial_end``), always with ``optimize_mode="maximize"``. Algorithms: TPE (Bergstra et al., NeurIPS 2011, NNI's
own implementation), NNI's Random, and NNI's Evolution tuner (a steady-state GA after Real et al., "Large-Scale
Evolution of Image Classifiers", ICML 2017: pairwise tournament, the loser is replaced by a one-label mutation of
the winner). Resuming them needs NNI's ``import_data``; they have no ``state_dict`` beyond the wrapper's.
Deviations from running them under NNI: none in the algorithms (NNI's code runs unchanged, seeded through
``compat``); a result told for a sample the tuner did not propose is dropped, as NNI's dispatcher would.
"""
from __future__ import annotations

import logging

from collections import defaultdict, deque
from typing import Any, Callable, Mapping

from nni_effnas import compat
from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward


class NNIBuiltinTuner(Strategy):
    """Base wrapper: ``make_tuner(seed, **tuner_kwargs)`` builds the NNI tuner."""

    make_tuner: Callable[..., Any]

    def __init__(self, *, seed: int | None = None, **tuner_kwargs: Any) -> None:
        super().__init__(seed=seed)
        try:  # bad tuner arguments fail here, with their name, not at the first setup
            with compat.private_global_random(0), compat.nni_logging_at(logging.WARNING):
                type(self).make_tuner(0, **tuner_kwargs)
        except TypeError as exc:
            raise ValueError(f"bad arguments for NNI's tuner: {exc}") from None
        self.tuner_kwargs = tuner_kwargs
        self.tuner: Any = None
        self._next_id = 0
        self._pending: dict[str, deque[int]] = defaultdict(deque)
        self._late: list[tuple[int, Sample]] = []

    def setup(self, space: CategoricalSpace, *, feasible: Any = None) -> None:
        super().setup(space, feasible=feasible)
        tuner_seed = int(self.rng.integers(2**31))
        with compat.private_global_random(tuner_seed):
            self.tuner = type(self).make_tuner(tuner_seed, **self.tuner_kwargs)
            self.tuner.update_search_space(space.to_nni())

    def ask(self) -> Sample | None:
        space = self._space()
        pid = self._next_id
        self._next_id += 1
        with compat.private_global_random(int(self.rng.integers(2**31))):
            params = self.tuner.generate_multiple_parameters([pid], st_callback=self._on_late)
        if not params:
            if not self._late:
                return None
            pid, params = self._late.pop(0)
            params = [params]
        sample = space.validate(params[0])
        self._pending[space.key(sample)].append(pid)
        return sample

    def _on_late(self, pid: int, params: Sample) -> None:
        self._late.append((pid, params))

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        reward = observed_reward(reward)
        queue = self._pending.get(self._space().key(sample))
        if not queue:
            return  # not proposed by the tuner (e.g. replayed history): nothing to match
        pid = queue.popleft()
        with compat.private_global_random(int(self.rng.integers(2**31))):
            if reward is not None:
                self.tuner.receive_trial_result(pid, sample, {"default": float(reward)})
            self.tuner.trial_end(pid, reward is not None)


def _tpe(seed: int, **kwargs: Any) -> Any:
    from nni.algorithms.hpo.tpe_tuner import TpeTuner

    return TpeTuner(optimize_mode="maximize", seed=seed, **kwargs)


def _random(seed: int, **kwargs: Any) -> Any:
    from nni.algorithms.hpo.random_tuner import RandomTuner

    return RandomTuner(seed=seed, **kwargs)


def _evolution(seed: int, **kwargs: Any) -> Any:
    from nni.algorithms.hpo.evolution_tuner import EvolutionTuner

    return compat.seed_evolution_tuner(EvolutionTuner(optimize_mode="maximize", **kwargs), seed)


@STRATEGIES.register("nni_tpe")
class NNITPE(NNIBuiltinTuner):
    """NNI's built-in TPE tuner (``nni.algorithms.hpo.tpe_tuner.TpeTuner``)."""

    make_tuner = staticmethod(_tpe)


@STRATEGIES.register("nni_random")
class NNIRandom(NNIBuiltinTuner):
    """NNI's built-in Random tuner."""

    make_tuner = staticmethod(_random)


@STRATEGIES.register("nni_evolution")
class NNIEvolution(NNIBuiltinTuner):
    """NNI's built-in Evolution tuner (population 32 by default; pass ``population_size``)."""

    make_tuner = staticmethod(_evolution)
