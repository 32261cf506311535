"""Optuna's own samplers (TPE, GP) driven as our strategies, for side-by-side baselines.

This is the opposite direction of :mod:`nni_effnas.optuna_sampler` (which makes our strategies Optuna samplers):
here an Optuna sampler runs behind our ask/tell interface, so it is an NNI tuner through the adapter
(``EffnasOptunaTPE``, ``EffnasOptunaGP``), a ``bench search`` baseline and a Python-API strategy.

Algorithms (Optuna's implementations, unchanged): TPE (Bergstra et al., "Algorithms for Hyper-Parameter
Optimization", NeurIPS 2011; Optuna's ``TPESampler``, here with ``multivariate=True`` by default, Falkner et
al. 2018's joint density, which suits the correlated labels of a cell) and Optuna's Gaussian-process sampler
(``GPSampler``: a GP with a Matern-5/2 kernel in which each categorical parameter contributes a 0/1
Hamming distance, and log expected improvement). Each runs in a private in-memory study with maximisation; ``sampler_args`` reach the sampler's
constructor. With a constraint known before evaluation (``feasible``), an infeasible proposal is told to Optuna
as the worst reward seen so far and the sampler asked again, inside one ``ask`` (a deviation from running the
sampler alone, where a rejected trial is a failure that Optuna's samplers ignore: the GP sampler then proposes
the same rejected sample indefinitely). Optuna may propose a sample twice (it does not know the space is finite); each proposal is
evaluated and charged like any other, which is how these samplers behave in a real study.

Resume: ``state_dict`` holds every observation; ``load_state_dict`` rebuilds the study from them (Optuna's
samplers keep no state of their own beyond the study and their generator, which is reseeded from ours).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Mapping

from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES
from nni_effnas.strategies.base import Strategy, observed_reward

_OPTUNA_TYPES = (type(None), bool, int, float, str)
#: infeasible proposals penalised inside one ``ask`` before the last one is returned anyway (the loop rejects it)
_MAX_REJECTIONS = 100


@contextlib.contextmanager
def quiet_optuna(level: int = logging.WARNING):
    """Silence Optuna's log lines below ``level`` (default: the per-trial INFO lines) for the duration; the
    previous verbosity is restored."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(level)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def distributions(space: CategoricalSpace) -> dict[str, Any]:
    """Optuna ``CategoricalDistribution`` per label; choices must be None, bool, int, float or str."""
    from optuna.distributions import CategoricalDistribution

    out = {}
    for label, values in space.choices:
        bad = [v for v in values if not isinstance(v, _OPTUNA_TYPES)]
        if bad:
            raise ValueError(f"label {label!r} has choice {bad[0]!r} of type {type(bad[0]).__name__}; Optuna "
                             "categorical choices must be None, bool, int, float or str")
        out[label] = CategoricalDistribution(list(values))
    return out


class OptunaSamplerStrategy(Strategy):
    """Base wrapper: ``make_sampler(seed, **sampler_args)`` builds the Optuna sampler."""

    make_sampler: Callable[..., Any]
    #: the study's directions (the multi-objective wrappers add the cost's)
    directions: tuple[str, ...] = ("maximize",)

    def __init__(self, *, seed: int | None = None, sampler_args: Mapping[str, Any] | None = None) -> None:
        super().__init__(seed=seed)
        if sampler_args is not None and not isinstance(sampler_args, Mapping):
            raise ValueError(f"sampler_args must be a dict of keyword arguments, got {sampler_args!r}")
        self.sampler_args = dict(sampler_args or {})
        self._make_sampler(0)  # bad sampler_args fail here, with their name, not at the first setup
        self.study: Any = None
        self.history: list[tuple[Sample, float | None]] = []
        self._pending: dict[str, list[Any]] = {}

    def setup(self, space: CategoricalSpace, *, feasible: Any = None) -> None:
        super().setup(space, feasible=feasible)
        self._distributions = distributions(space)
        self._new_study()

    def _make_sampler(self, seed: int) -> Any:
        try:
            with quiet_optuna():
                return type(self).make_sampler(seed, **self.sampler_args)
        except TypeError as exc:
            raise ValueError(f"bad sampler_args for {type(self).__name__}: {exc}") from None

    def _new_study(self) -> None:
        import optuna

        sampler = self._make_sampler(int(self.rng.integers(2**31)))
        with quiet_optuna():
            self.study = optuna.create_study(directions=list(self.directions), sampler=sampler)
        self._pending = {}

    def ask(self) -> Sample:
        space = self._space()
        for attempt in range(_MAX_REJECTIONS):
            with quiet_optuna():
                trial = self.study.ask(self._distributions)
            sample = space.validate(dict(trial.params))
            if self.feasible is None or self.feasible(sample) or attempt == _MAX_REJECTIONS - 1:
                break  # the last infeasible one is returned untold: the loop rejects it and tells it
            self._penalise(trial)
        self._pending.setdefault(space.key(sample), []).append(trial)
        return sample

    def _penalise(self, trial: Any) -> None:
        """A sample the user's constraint rejects is told to Optuna as the worst reward seen so far (as a failure
        before any reward): Optuna's samplers ignore failed trials, so the GP sampler would otherwise propose
        the same infeasible sample again and again."""
        import optuna

        rewards = [r for _, r in self.history if r is not None]
        with quiet_optuna():
            if rewards:
                self.study.tell(trial, min(rewards))
            else:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        import optuna

        reward = observed_reward(reward)
        ok = reward is not None
        space = self._space()
        sample = space.validate(sample)
        self.history.append((sample, reward))
        queue = self._pending.get(space.key(sample))
        with quiet_optuna():
            if queue:
                trial = queue.pop(0)
                if ok:
                    self.study.tell(trial, float(reward))
                else:
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            elif ok:  # replayed history (not proposed here): add it as a finished trial
                self.study.add_trial(optuna.trial.create_trial(params=sample, distributions=self._distributions,
                                                               value=float(reward)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "history": [[s, r] for s, r in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._new_study()
        self._replay(state)

    def _replay(self, state: Mapping[str, Any]) -> None:
        """Tell the fresh study every observation of ``state``."""
        self.history = []
        for sample, reward in state.get("history", ()):
            self.tell(sample, reward)


def _tpe(seed: int, **kwargs: Any) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, **{"multivariate": True, **kwargs})


def _gp(seed: int, **kwargs: Any) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed, **kwargs)


@STRATEGIES.register("optuna_tpe")
class OptunaTPE(OptunaSamplerStrategy):
    """Optuna's ``TPESampler`` (multivariate by default; ``sampler_args`` override)."""

    make_sampler = staticmethod(_tpe)


@STRATEGIES.register("optuna_gp")
class OptunaGP(OptunaSamplerStrategy):
    """Optuna's ``GPSampler`` (``sampler_args`` reach its constructor)."""

    make_sampler = staticmethod(_gp)
