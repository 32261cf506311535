"""A conformance kit for Optuna samplers over categorical spaces: what every sampler we ship must do.

    from nni_effnas.optuna_conformance import check_sampler
    from nni_effnas.optuna_sampler import StrategySampler

    check_sampler(lambda seed: StrategySampler("regularized_evolution", seed=seed))   # raises on a failure

``make_sampler(seed)`` must return a fresh sampler. Each check is a function ``check(make_sampler, workdir)``
in :data:`CHECKS` (pytest can parametrise over them); :func:`check_sampler` runs them all and raises
:class:`ConformanceError` naming the check and what went wrong. The checks run small studies on a toy space of
three labels (18 samples) with a unique optimum, in memory and in a SQLite file under ``workdir``.

A sampler whose ``n_objectives`` attribute is 2 (a multi-objective sampler, e.g. ``StrategySampler("nsga2")``)
is checked in two-objective studies: every check's study gets ``directions=[direction, opposite]`` and its
objective returns ``(value, toy_cost(params))`` (the cost negated when its direction is ``maximize``); the
value is always the first objective. Other samplers are checked in single-objective studies.

* ``valid_params``: every trial's parameters are choices of the space; the study records every value.
* ``seeded``: two studies with the same seed propose the same trials.
* ``direction``: maximising ``f`` and minimising ``-f`` propose the same trials (the sign is handled).
* ``failures``: trials that raise, return NaN or are pruned are recorded as such and the study goes on.
* ``constant``: a constant objective (no information) does not break the sampler.
* ``rdb_resume``: a study in a SQLite file, continued in a new study object with a new sampler, finishes
  with every trial recorded (samplers that expose ``n_told`` must have been told the earlier trials).
* ``mixed_space``: a float and a conditional parameter next to the categorical ones are sampled validly
  (independently, or by the sampler itself).
* ``no_duplicates`` (only for samplers whose ``unique_samples`` attribute is true): no sample is proposed twice
  while unseen ones remain.
* ``finds_optimum`` (same condition): the optimum is found within the 18 trials of an exhaustive budget.
* ``two_objectives`` (only for samplers with ``n_objectives == 2``): every trial of a two-objective study
  completes with both values; a sampler that exposes ``front()`` (``(sample, value, cost)`` rows) reports
  exactly the study's non-dominated values, so it was told both objectives, each the right way round.
"""
from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from nni_effnas.strategies.optuna_builtin import quiet_optuna

MakeSampler = Callable[[int], optuna.samplers.BaseSampler]

SPACE = {"a": [0, 1, 2], "b": ["x", "y", "z"], "c": [False, True]}


class ConformanceError(AssertionError):
    """A sampler failed a conformance check."""


#: per-label costs of :func:`toy_cost`: rising with the value, so the two objectives conflict
COSTS = {"a": {0: 0.0, 1: 1.0, 2: 3.0}, "b": {"x": 0.0, "y": 0.5, "z": 2.0}, "c": {False: 0.0, True: 1.5}}


def toy_cost(params: Any) -> float:
    """The second objective of the two-objective checks (minimised): a cost known from the parameters alone,
    so it also serves as a ``cost_model`` (e.g. ``StrategySampler("mo_bananas", strategy_args={"cost_model":
    toy_cost})``)."""
    return 1.0 + sum(COSTS[label][params[label]] for label in COSTS)


def n_objectives(sampler: optuna.samplers.BaseSampler) -> int:
    """How many objectives the kit checks ``sampler`` with: its ``n_objectives`` attribute, default 1."""
    return int(getattr(sampler, "n_objectives", 1))


def toy_objective(trial: optuna.Trial) -> float:
    a = trial.suggest_categorical("a", SPACE["a"])
    b = trial.suggest_categorical("b", SPACE["b"])
    c = trial.suggest_categorical("c", SPACE["c"])
    return a + {"x": 0, "y": 1, "z": 2}[b] + (0.5 if c else 0.0)


def _study(make_sampler: MakeSampler, seed: int, direction: str = "maximize", **kwargs: Any) -> optuna.Study:
    sampler = make_sampler(seed)
    if n_objectives(sampler) == 2:
        opposite = "minimize" if direction == "maximize" else "maximize"
        return optuna.create_study(directions=[direction, opposite], sampler=sampler, **kwargs)
    return optuna.create_study(direction=direction, sampler=sampler, **kwargs)


def _with_cost(study: optuna.Study, objective: Callable[[optuna.Trial], float]) -> Callable[[optuna.Trial], Any]:
    """``objective`` as the study needs it: unchanged for one objective; ``(value, ±toy_cost)`` for two."""
    if len(study.directions) == 1:
        return objective
    sign = 1.0 if study.directions[1] == optuna.study.StudyDirection.MINIMIZE else -1.0

    def both(trial: optuna.Trial) -> tuple[float, float]:
        value = objective(trial)
        return value, sign * toy_cost(trial.params)

    return both


def _optimize(study: optuna.Study, objective: Callable[[optuna.Trial], float], n: int) -> None:
    """Run ``n`` trials; the objective's own RuntimeErrors are failed trials, anything else the sampler causes
    is a conformance failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            study.optimize(_with_cost(study, objective), n_trials=n, catch=(RuntimeError,))
        except Exception as exc:  # noqa: BLE001 - reported as the check's failure
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConformanceError(f"the study raised {type(exc).__name__}: {first}") from exc


def _params(study: optuna.Study) -> list[tuple]:
    return [tuple(sorted(t.params.items())) for t in study.trials]


def _best_value(study: optuna.Study) -> float:
    """The best first objective of the completed trials (the study maximises it in every check that asks)."""
    return max(t.values[0] for t in study.trials if t.state == TrialState.COMPLETE)


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise ConformanceError(message)


def check_valid_params(make_sampler: MakeSampler, workdir: Path) -> None:
    study = _study(make_sampler, 0)
    _optimize(study, toy_objective, 15)
    _expect(len(study.trials) == 15, f"expected 15 trials, the study has {len(study.trials)}")
    for t in study.trials:
        _expect(t.state == TrialState.COMPLETE, f"trial {t.number} is {t.state.name}, expected COMPLETE")
        for label, choices in SPACE.items():
            _expect(t.params.get(label) in choices, f"trial {t.number}: {label}={t.params.get(label)!r} "
                                                    f"is not one of {choices}")


def check_seeded(make_sampler: MakeSampler, workdir: Path) -> None:
    runs = []
    for _ in range(2):
        study = _study(make_sampler, 3)
        _optimize(study, toy_objective, 12)
        runs.append(_params(study))
    _expect(runs[0] == runs[1], "two studies with the same seed proposed different trials")


def check_direction(make_sampler: MakeSampler, workdir: Path) -> None:
    up, down = _study(make_sampler, 5, "maximize"), _study(make_sampler, 5, "minimize")
    _optimize(up, toy_objective, 14)
    _optimize(down, lambda t: -toy_objective(t), 14)
    _expect(_params(up) == _params(down), "maximising f and minimising -f proposed different trials")


def check_failures(make_sampler: MakeSampler, workdir: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        value = toy_objective(trial)
        if trial.number % 4 == 1:
            raise RuntimeError("a failing trial")
        if trial.number % 4 == 2:
            return float("nan")
        if trial.number % 4 == 3:
            raise optuna.TrialPruned()
        return value

    study = _study(make_sampler, 1)
    _optimize(study, objective, 16)
    states = [t.state for t in study.trials]
    _expect(len(states) == 16, f"the study stopped after {len(states)} of 16 trials")
    _expect(states.count(TrialState.COMPLETE) == 4 and states.count(TrialState.PRUNED) == 4
            and states.count(TrialState.FAIL) == 8, f"unexpected trial states {[s.name for s in states]}")


def check_constant(make_sampler: MakeSampler, workdir: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        toy_objective(trial)
        return 1.0

    study = _study(make_sampler, 2)
    _optimize(study, objective, 14)
    _expect(all(t.state == TrialState.COMPLETE for t in study.trials) and len(study.trials) == 14,
            "a constant objective broke the study")


def check_rdb_resume(make_sampler: MakeSampler, workdir: Path) -> None:
    storage = f"sqlite:///{Path(workdir) / 'conformance.db'}"
    first = _study(make_sampler, 4, storage=storage, study_name="resume", load_if_exists=True)
    _optimize(first, toy_objective, 8)
    sampler = make_sampler(4)
    second = optuna.load_study(study_name="resume", storage=storage, sampler=sampler)
    _optimize(second, toy_objective, 6)
    trials = optuna.load_study(study_name="resume", storage=storage).trials
    _expect(len(trials) == 14 and all(t.state == TrialState.COMPLETE for t in trials),
            f"the resumed SQLite study has {len(trials)} trials, expected 14 COMPLETE")
    told = getattr(sampler, "n_told", None)
    _expect(told is None or told >= 13, f"the resumed sampler was told {told} earlier trials, expected >= 13")


def check_mixed_space(make_sampler: MakeSampler, workdir: Path) -> None:
    def objective(trial: optuna.Trial) -> float:
        value = toy_objective(trial)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        if trial.params["c"]:
            value += trial.suggest_int("extra", 0, 3) * 0.1
        return value - abs(math.log10(lr) + 2)

    study = _study(make_sampler, 6)
    _optimize(study, objective, 12)
    for t in study.trials:
        _expect(t.state == TrialState.COMPLETE, f"trial {t.number} is {t.state.name} in a mixed space")
        _expect(1e-4 <= t.params["lr"] <= 1e-1, f"trial {t.number}: lr={t.params['lr']} outside [1e-4, 1e-1]")
        _expect(("extra" in t.params) == bool(t.params["c"]), f"trial {t.number}: conditional parameter mixed up")


def check_no_duplicates(make_sampler: MakeSampler, workdir: Path) -> None:
    if not getattr(make_sampler(0), "unique_samples", False):
        return
    study = _study(make_sampler, 7)
    _optimize(study, toy_objective, 18)
    seen = _params(study)
    _expect(len(set(seen)) == 18, f"{18 - len(set(seen))} duplicate proposals among 18 trials of an 18-sample space")


def check_finds_optimum(make_sampler: MakeSampler, workdir: Path) -> None:
    if not getattr(make_sampler(0), "unique_samples", False):
        return
    study = _study(make_sampler, 8)
    _optimize(study, toy_objective, 18)
    _expect(_best_value(study) == 4.5, f"best value {_best_value(study)} after an exhaustive budget, expected 4.5")


def check_two_objectives(make_sampler: MakeSampler, workdir: Path) -> None:
    if n_objectives(make_sampler(0)) != 2:
        return
    study = _study(make_sampler, 9)
    _optimize(study, toy_objective, 14)
    for t in study.trials:
        _expect(t.state == TrialState.COMPLETE and t.values is not None and len(t.values) == 2,
                f"trial {t.number} is {t.state.name} with values {t.values}, expected COMPLETE with 2 values")
    front = getattr(study.sampler, "front", None)
    if callable(front):
        told = {(round(float(r), 9), round(float(c), 9)) for _, r, c in front()}
        best = {tuple(round(v, 9) for v in t.values) for t in study.best_trials}
        _expect(told == best, f"the sampler's front {sorted(told)} is not the study's non-dominated values "
                              f"{sorted(best)}")


CHECKS: dict[str, Callable[[MakeSampler, Path], None]] = {
    "valid_params": check_valid_params,
    "seeded": check_seeded,
    "direction": check_direction,
    "failures": check_failures,
    "constant": check_constant,
    "rdb_resume": check_rdb_resume,
    "mixed_space": check_mixed_space,
    "no_duplicates": check_no_duplicates,
    "finds_optimum": check_finds_optimum,
    "two_objectives": check_two_objectives,
}


def check_sampler(make_sampler: MakeSampler, *, checks: list[str] | None = None) -> None:
    """Run the named checks (default all); raise :class:`ConformanceError` on the first failure."""
    unknown = sorted(set(checks or ()) - set(CHECKS))
    if unknown:
        raise ValueError(f"unknown conformance checks {unknown}; expected some of {sorted(CHECKS)}")
    with quiet_optuna(optuna.logging.ERROR), tempfile.TemporaryDirectory() as tmp:
        for name in checks or CHECKS:
            try:
                CHECKS[name](make_sampler, Path(tmp))
            except ConformanceError as exc:
                raise ConformanceError(f"{name}: {exc}") from None
