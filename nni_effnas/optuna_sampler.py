"""Our strategies as Optuna samplers: any registered strategy drives any Optuna study over categorical parameters.

    import optuna
    from nni_effnas.optuna_sampler import StrategySampler

    sampler = StrategySampler("predictor_guided", seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                storage="sqlite:///search.db", study_name="nb201", load_if_exists=True)
    study.optimize(objective, n_trials=100)

    # accuracy against latency: the objective returns (accuracy, latency_ms)
    sampler = StrategySampler("nsga2", seed=0, strategy_args={"sampler_args": {"population_size": 20}})
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

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
* **Two objectives.** A multi-objective strategy (``nsga2``, ``nsga3``, ``motpe``, ``mo_bananas``: accuracy
  against a cost) runs in a two-objective study, ``directions=["maximize", "minimize"]`` with the objective
  returning ``(accuracy, cost)``: the strategy is told ``reward = values[0]`` and
  ``metrics = {cost_metric: values[1]}`` (each negated when its direction is the other way round). It also runs
  in a single-objective study when it has a ``cost_model`` (the cost known before training). Other
  strategies take single-objective studies only.
* **Metrics.** The numeric user attributes of a trial (``trial.set_user_attr("params_M", 1.2)``) reach the
  strategy's ``tell`` as ``metrics`` too; a two-objective study's cost takes precedence over an attribute of
  the same name.
* **Duplicates.** Our strategies avoid proposing a sample twice while unseen ones remain (random search aside);
  the sampler adds nothing. When a strategy has nothing left to propose, the trial is sampled independently.
* **Limits.** At most two objectives, and two only for a multi-objective strategy (anything else raises a
  one-line ``ValueError``); choices must be Optuna categorical values (None, bool, int, float, str).

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
from nni_effnas.strategies import STRATEGIES, Strategy, check_strategy_args, create_strategy
from nni_effnas.strategies.multiobjective import MultiObjectiveMixin

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
            self.strategy = create_strategy(name, seed=seed, **check_strategy_args(strategy_args))
            self.strategy_name = name
        self.space: CategoricalSpace | None = None
        self._fixed = search_space is not None
        if search_space is not None:
            self._set_space(CategoricalSpace.from_dict(search_space))
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ValueError(f"independent_sampler must be an Optuna sampler, got {independent_sampler!r}")
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._seen: set[int] = set()
        self._warned: set[str] = set()
        self._lock = threading.RLock()

    # -- Optuna's seam ----------------------------------------------------------------------------------------
    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._check_objectives(study)
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
    def n_objectives(self) -> int:
        """2 for a multi-objective strategy (accuracy against a cost: it expects a two-objective study), else 1."""
        return 2 if isinstance(self.strategy, MultiObjectiveMixin) else 1

    def front(self) -> list[tuple[Sample, float, float]]:
        """A multi-objective strategy's non-dominated observations ``(sample, reward, cost)`` in its own
        orientation (reward maximised, cost minimised); ``[]`` for other strategies."""
        return self.strategy.front() if isinstance(self.strategy, MultiObjectiveMixin) else []

    @property
    def unique_samples(self) -> bool:
        """Whether the strategy promises never to propose a sample twice (the conformance kit checks it)."""
        return bool(self.strategy.unique_samples)

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def n_told(self) -> int:
        """Finished trials the strategy has been told about."""
        return len(self._seen)

    def _check_objectives(self, study: optuna.Study) -> None:
        n = len(study.directions)
        name = self.strategy_name
        if self.n_objectives == 1 and n > 1:
            raise ValueError(f"StrategySampler({name!r}) supports single-objective studies; this study has {n} "
                             "objectives (multi-objective strategies: nsga2, nsga3, motpe, mo_bananas)")
        if n > 2:
            raise ValueError(f"StrategySampler({name!r}) optimises two objectives (accuracy, cost); this study "
                             f"has {n}")
        if n == 1 and self.n_objectives == 2 and getattr(self.strategy, "cost_model_spec", None) is None:
            raise ValueError(f"StrategySampler({name!r}) optimises accuracy against a cost: use a two-objective "
                             "study (directions=['maximize', 'minimize'], the objective returning (accuracy, "
                             "cost)) or give the strategy a cost_model")

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
        metrics = {k: float(v) for k, v in trial.user_attrs.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        reward = None
        if state == TrialState.COMPLETE and values and all(math.isfinite(v) for v in values):
            directions = study.directions
            reward = _oriented(values[0], directions[0], maximize=True)
            if len(values) > 1 and isinstance(self.strategy, MultiObjectiveMixin):
                metrics[self.strategy.cost_metric] = _oriented(values[1], directions[1], maximize=False)
        self.strategy.tell(sample, reward, metrics or None)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=3)


def _oriented(value: float, direction: optuna.study.StudyDirection, *, maximize: bool) -> float:
    """``value`` as an objective to maximise (``maximize=True``) or to minimise, whatever the study's direction."""
    same = (direction == optuna.study.StudyDirection.MAXIMIZE) == maximize
    return float(value) if same else -float(value)


def create_sampler(strategy: str = "predictor_guided", **kwargs: Any) -> StrategySampler:
    """``StrategySampler(strategy, **kwargs)``; the name reads better in user code."""
    return StrategySampler(strategy, **kwargs)
