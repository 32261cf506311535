"""Our strategies as Optuna samplers: any registered strategy drives any Optuna study over categorical parameters.

    import optuna
    from nni_effnas.optuna_sampler import StrategySampler

    sampler = StrategySampler("predictor_guided", seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                storage="sqlite:///search.db", study_name="nb201", load_if_exists=True)
    study.optimize(objective, n_trials=100)

How it maps (Optuna's documented sampler seam, ``optuna.samplers.BaseSampler``):

* **Search space.** Given ``search_space`` (``{label: [choices]}``), every trial is sampled by the strategy from
  the first one on. Without it, the space is inferred the way Optuna's own relative samplers do (the
  intersection of the completed trials' categorical parameters): the first trial is sampled independently
  (``independent_sampler``, default Optuna's seeded ``RandomSampler``), later ones by the strategy. Parameters
  the strategy does not cover (non-categorical ones, or conditional ones outside the intersection) are sampled
  independently, with a warning once per parameter, as Optuna's samplers do.
* **History.** Before each proposal the sampler tells the strategy every finished trial of the study it has not
  seen, including trials from other processes on the same storage and from earlier runs: a study stored in an
  RDB (a SQLite file) resumes with the strategy's state rebuilt (a predictor refitted on the whole history,
  an evolution population refilled), and several workers share one history. Rewards are the study's values
  (negated when the study minimises); failed or pruned trials and NaN/inf values are told as failures.
* **Duplicates.** Our strategies avoid proposing a sample twice while unseen ones remain (random search aside);
  the sampler adds nothing. When a strategy has nothing left to propose, the trial is sampled independently.
* **Limits.** Single-objective studies only (a multi-objective study raises a one-line ``ValueError``); choices
  must be Optuna categorical values (None, bool, int, float, str).

The strategy's own randomness comes from ``seed``; with one worker, the same seed and the same objective give
the same trials. Check any sampler with :func:`nni_effnas.optuna_conformance.check_sampler`.
"""
from __future__ import annotations

import math
import threading
import warnings
from typing import Any, Mapping, Sequence

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import FrozenTrial, TrialState

from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES, Strategy, create_strategy

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


class StrategySampler(BaseSampler):
    """An Optuna sampler that asks a registered strategy (see the module docstring).

    Args:
        strategy: registry key (``nni-effnas list`` shows them), or a ``Strategy`` instance not yet set up.
        search_space: ``{label: [choices]}``; ``None`` infers it from the completed trials.
        seed: seed of the strategy (ignored for an instance) and of the default independent sampler.
        strategy_args: keyword arguments of the strategy (e.g. ``{"predictor": "gp"}``).
        independent_sampler: samples what the strategy does not cover; default ``RandomSampler(seed)``.
    """

    def __init__(self, strategy: str | Strategy = "predictor_guided", *,
                 search_space: Mapping[str, Sequence[Any]] | None = None, seed: int | None = None,
                 strategy_args: Mapping[str, Any] | None = None,
                 independent_sampler: BaseSampler | None = None) -> None:
        if isinstance(strategy, Strategy):
            if strategy_args:
                raise ValueError("strategy_args are for a strategy given by name; got an instance")
            self.strategy, self.strategy_name = strategy, type(strategy).__name__
        else:
            name = STRATEGIES.canonical(strategy)  # unknown name: one-line error listing the known ones
            if name.startswith(("nni_", "optuna_")):
                raise ValueError(f"strategy {strategy!r} wraps another tuner library; use it directly rather than "
                                 "through StrategySampler")
            self.strategy, self.strategy_name = create_strategy(name, seed=seed, **dict(strategy_args or {})), name
        self.space: CategoricalSpace | None = None
        self._fixed = search_space is not None
        if search_space is not None:
            self._set_space(CategoricalSpace.from_dict(search_space))
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._seen: set[int] = set()
        self._warned: set[str] = set()
        self._lock = threading.RLock()

    # -- Optuna's seam ----------------------------------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if len(study.directions) > 1:
            raise ValueError(f"StrategySampler({self.strategy_name!r}) supports single-objective studies; this "
                             f"study has {len(study.directions)} objectives")
        with self._lock:
            if self.space is None:
                inferred = IntersectionSearchSpace(include_pruned=False).calculate(study)
                categorical = {k: d for k, d in inferred.items() if isinstance(d, CategoricalDistribution)}
                if categorical:
                    self._set_space(CategoricalSpace.from_dict({k: d.choices for k, d in sorted(categorical.items())}))
            if self.space is None:
                return {}
            return {label: CategoricalDistribution(list(values)) for label, values in self.space.choices}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        with self._lock:
            self._sync(study)
            sample = self.strategy.ask()
        if sample is None:
            self._warn_once("*", f"strategy {self.strategy_name!r} has nothing left to propose; sampling "
                                 "independently")
            return {}
        return {label: sample[label] for label in search_space}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if self.space is not None:
            self._warn_once(param_name, f"parameter {param_name!r} ({type(param_distribution).__name__}) is "
                                        f"outside the space {self.strategy_name!r} searches; sampled by "
                                        f"{type(self._independent).__name__}")
        return self._independent.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        with self._lock:
            if self.space is None or trial.number in self._seen:
                return
            self._tell(study, trial, state, values)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def reseed_rng(self) -> None:
        self._independent.reseed_rng()
        self.strategy.rng = self.strategy.rng.spawn(1)[0]

    @property
    def unique_samples(self) -> bool:
        """Whether the strategy promises never to propose a sample twice (the conformance kit checks it)."""
        return bool(self.strategy.unique_samples)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def n_told(self) -> int:
        """Finished trials the strategy has been told about."""
        return len(self._seen)

    def _set_space(self, space: CategoricalSpace) -> None:
        from nni_effnas.strategies.optuna_builtin import distributions

        distributions(space)  # one-line error for choices Optuna cannot store
        self.space = space
        self.strategy.setup(space)

    def _sync(self, study: optuna.Study) -> None:
        for frozen in study.get_trials(deepcopy=False, states=_FINISHED):
            if frozen.number not in self._seen:
                self._tell(study, frozen, frozen.state, frozen.values)

    def _tell(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
              values: Sequence[float] | None) -> None:
        space = self.space
        assert space is not None
        self._seen.add(trial.number)
        params = {label: trial.params.get(label) for label in space.labels}
        try:
            sample = space.validate(params)
        except ValueError:
            return  # a trial outside the space (other parameters, or sampled before the space was known)
        reward = None
        if state == TrialState.COMPLETE and values and math.isfinite(values[0]):
            reward = float(values[0]) if study.direction == optuna.study.StudyDirection.MAXIMIZE else -float(values[0])
        self.strategy.tell(sample, reward, None)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=3)


def create_sampler(strategy: str = "predictor_guided", **kwargs: Any) -> StrategySampler:
    """``StrategySampler(strategy, **kwargs)``; the name reads better in user code."""
    return StrategySampler(strategy, **kwargs)
