"""Optuna's multi-objective samplers (NSGA-II, NSGA-III, multi-objective TPE) as accuracy-against-cost strategies.

Algorithms (Optuna's implementations, unchanged):

* ``nsga2``: NSGA-II, Deb et al., "A Fast and Elitist Multiobjective Genetic Algorithm: NSGA-II", IEEE TEVC
  2002 (Optuna's ``NSGAIISampler``: generations of ``population_size`` trials, default 50).
* ``nsga3``: NSGA-III, Deb and Jain, "An Evolutionary Many-Objective Optimization Algorithm Using
  Reference-Point-Based Nondominated Sorting Approach", IEEE TEVC 2014 (``NSGAIIISampler``, marked experimental
  by Optuna; its warning is silenced). Its first generation is random, like NSGA-II's, and draws the same
  cells for the same seed, so below ``population_size`` evaluations the two search identically.
* ``motpe``: multi-objective TPE, Ozaki et al., "Multiobjective Tree-Structured Parzen Estimator for
  Computationally Expensive Optimization Problems", GECCO 2020 (``TPESampler`` on a two-objective study,
  ``multivariate=True`` by default as in our single-objective TPE).

Each runs a private in-memory study with directions (maximise reward, minimise cost); ``sampler_args`` reach the
sampler's constructor. The cost is what the trial reports (``cost_metric``) or the ``cost_model``'s: these
samplers learn it from observations like any other objective and never screen candidates with it. A sample the
user's constraint rejects, or a failed trial, is told to Optuna as FAIL (its samplers skip failed trials); a
constrained NSGA run therefore spends asks on infeasible children, each answered inside one ``ask`` up to
100 times (the proposal loop is :class:`~nni_effnas.strategies.optuna_builtin.OptunaSamplerStrategy`'s). Resume: ``state_dict`` holds every observation and ``load_state_dict`` replays them into a new study.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.multiobjective import CostModel, MultiObjectiveMixin
from nni_effnas.strategies.optuna_builtin import OptunaSamplerStrategy, quiet_optuna


class OptunaMultiObjective(MultiObjectiveMixin, OptunaSamplerStrategy):
    """Base wrapper: ``make_sampler(seed, **sampler_args)`` builds the Optuna sampler of a two-objective study."""

    directions = ("maximize", "minimize")

    def __init__(self, *, cost_metric: str = "latency_ms", cost_model: str | CostModel | None = None,
                 sampler_args: Mapping[str, Any] | None = None, seed: int | None = None) -> None:
        super().__init__(seed=seed, sampler_args=sampler_args)
        self._init_objectives(cost_metric, cost_model)

    def setup(self, space: CategoricalSpace, *, feasible: Callable[[Sample], bool] | None = None) -> None:
        super().setup(space, feasible=feasible)
        self._setup_cost_model()

    def _penalise(self, trial: Any) -> None:
        import optuna

        with quiet_optuna():
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        import optuna

        space = self._space()
        sample = space.validate(sample)
        cost = self.record(sample, reward, metrics)
        queue = self._pending.get(space.key(sample))
        with quiet_optuna():
            if queue:
                trial = queue.pop(0)
                if cost is None:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    self.study.tell(trial, [float(reward), cost])  # type: ignore[arg-type]
            elif cost is not None:  # replayed history: add it as a finished trial
                self.study.add_trial(optuna.trial.create_trial(
                    params=sample, distributions=self._distributions, values=[float(reward), cost]))  # type: ignore[arg-type]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **self._objectives_state()}

    def _replay(self, state: Mapping[str, Any]) -> None:
        self._load_objectives_state({})
        for sample, reward, cost in state.get("observations", ()):
            self.tell(sample, reward, {self.cost_metric: cost})


def _nsga2(seed: int, **kwargs: Any) -> Any:
    import optuna

    return optuna.samplers.NSGAIISampler(seed=seed, **kwargs)


def _nsga3(seed: int, **kwargs: Any) -> Any:
    import warnings

    import optuna

    with warnings.catch_warnings():  # "experimental" (since Optuna 3.2): said once in the docstring, not per search
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.NSGAIIISampler(seed=seed, **kwargs)


def _motpe(seed: int, **kwargs: Any) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, **{"multivariate": True, **kwargs})


@STRATEGIES.register("nsga2")
class NSGA2(OptunaMultiObjective):
    """Optuna's ``NSGAIISampler`` on (reward, cost)."""

    make_sampler = staticmethod(_nsga2)


@STRATEGIES.register("nsga3")
class NSGA3(OptunaMultiObjective):
    """Optuna's ``NSGAIIISampler`` on (reward, cost)."""

    make_sampler = staticmethod(_nsga3)


@STRATEGIES.register("motpe")
class MOTPE(OptunaMultiObjective):
    """Optuna's ``TPESampler`` on a two-objective study (multivariate by default)."""

    make_sampler = staticmethod(_motpe)
