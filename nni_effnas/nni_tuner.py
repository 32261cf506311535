"""The NNI adapter: any strategy of ours as an ``nni.tuner.Tuner`` (the route that works under ``nnictl``).

* ``update_search_space`` reads NNI's search-space JSON (``choice`` parameters) into a :class:`CategoricalSpace`.
* ``generate_parameters`` asks the strategy; a sample whose result is already known (earlier in this run or
  replayed by ``import_data`` on ``nnictl resume``) is told to the strategy again and never re-evaluated; a
  sample already in flight is skipped.
* ``receive_trial_result`` takes NNI's metric dict whole (``default`` is the reward) and keys its state on the
  ``parameter_id`` that comes with the metric. The whole dict reaches the strategy's ``tell`` as ``metrics``, on
  resume too (``import_data``), and the numeric metrics of every known sample are kept, so a sample proposed
  again is told with them: a multi-objective strategy (``nsga2``, ``mo_bananas``, ...) reads its cost there
  (``cost_metric``, e.g. ``latency_ms``). If the trial echoed the sample it evaluated (``value["sample"]``,
  as ``effnas-trial`` does), that sample is used: NNI 3.0's local training service can hand a trial another
  trial's parameters when several start at once.
* ``trial_end(success=False)`` tells the strategy the sample failed; the search goes on.
* Resume (``nnictl resume``): NNI never asks a tuner to save, but gives it a checkpoint directory
  (``NNI_CHECKPOINT_DIRECTORY``) and calls ``load_checkpoint`` on resume. The tuner therefore writes its state
  (the strategy's ``state_dict``, known results, samples in flight) there after every change, atomically, and
  restores it on resume: the strategy continues its own trajectory, and the samples that were in flight at the
  stop, which NNI re-runs itself, are not proposed again. NNI numbers parameters sequentially and, on resume,
  continues after the highest one it had submitted; so samples generated with a parameter id at or above the
  first id of the resumed run never reached a trial and are free to be proposed again. Results replayed by ``import_data`` that the
  checkpoint already holds are not told twice. Without a checkpoint, ``import_data`` alone rebuilds the state. A
  checkpoint written by another strategy, or not by this tuner, is refused at start-up (a ``ValueError`` naming
  the file); a malformed ``import_data`` record, or a result whose parameters are not a sample of the space (a
  customised trial's), is skipped with a warning.

Each strategy in the registry gets a registered tuner class ``Effnas<ClassName>`` in this module (built from
the registry by :func:`tuner_class`); ``nni-effnas register`` registers them with ``nnictl algo register``.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import reprlib
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import nni
from nni.tuner import Tuner

from nni_effnas.checks import is_number
from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies import STRATEGIES, check_strategy_args, create_strategy

_logger = logging.getLogger(__name__)

#: the keys a tuner checkpoint must have, and their types ("metrics" is absent in older checkpoints)
_CHECKPOINT_KEYS = {"version": int, "strategy": str, "strategy_state": dict, "results": dict, "in_flight": dict}

#: how many known samples in a row the strategy may propose before the tuner gives up (space exhausted)
MAX_DUPLICATES = 1000


def extract_reward(value: Any, *, minimize: bool = False) -> tuple[float | None, dict[str, Any]]:
    """NNI's reported value (a number, a dict with ``default``, or either JSON-encoded, once or twice as NNI's
    stores do) -> (reward, metrics); NaN -> ``None``."""
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            break
    metrics = dict(value) if isinstance(value, Mapping) else {"default": value}
    reward = metrics.get("default")
    if not is_number(reward):
        return None, metrics
    return (-float(reward) if minimize else float(reward)), metrics


def numeric_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The number-valued entries of a metric dict (what the tuner keeps per sample and stores in its checkpoint)."""
    return {str(k): float(v) for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _loads(text: str) -> Any:
    """``nni.load`` (JSON with NNI's type hooks); text it cannot read raises a one-line ``ValueError``."""
    try:
        return nni.load(text)
    except Exception as exc:  # the type hooks raise all kinds of errors on odd input
        raise ValueError(f"not readable JSON: {type(exc).__name__}: {exc}") from None


def _locked(method: Any) -> Any:
    """Serialise a tuner method on the instance's lock."""
    @functools.wraps(method)
    def wrapper(self: "StrategyTuner", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def parse_constraint(text: str) -> Callable[[Sample], bool]:
    """``COST_MODEL<=LIMIT`` (e.g. ``nb201:latency:pixel2<=12``) as a predicate on samples."""
    from nni_effnas.strategies.multiobjective import resolve_cost_model

    spec, sep, limit = str(text).rpartition("<=")
    try:
        bound = float(limit)
    except ValueError:
        bound = float("nan")
    if not sep or not spec.strip() or not math.isfinite(bound):
        raise ValueError(f"bad constraint {text!r}; expected COST_MODEL<=LIMIT, e.g. 'nb201:latency:pixel2<=12'")
    model = resolve_cost_model(spec.strip())
    return lambda sample: model(sample) <= bound


class StrategyTuner(Tuner):
    """An NNI tuner that runs one of our strategies.

    Args (``classArgs`` in an NNI config):
        strategy: registry key of the strategy (fixed in the per-strategy subclasses).
        optimize_mode: ``maximize`` (default) or ``minimize`` the ``default`` metric (never the cost of a
            multi-objective strategy, which is always minimised).
        seed: the strategy's seed.
        strategy_args: a dict passed to the strategy's constructor, e.g. ``{cost_model: "nb201:latency:pixel2",
            cost_metric: latency_ms}`` for ``mo_bananas``;
        constraint: a hard constraint known before training, ``COST_MODEL<=LIMIT`` with a cost-model spec of
            :func:`~nni_effnas.strategies.multiobjective.resolve_cost_model`, e.g. ``nb201:latency:pixel2<=12``
            or ``nb201:params<=0.5``: the strategy is set up with it (the zero-cost and predictor strategies
            leave infeasible samples out of their pools) and an infeasible proposal is told as rejected and
            never becomes a trial.
        **kwargs: also passed to the strategy's constructor (flat form, e.g. ``population_size``); a key given in
            both forms is an error.
    """

    strategy_name: str | None = None

    def __init__(self, strategy: str | None = None, optimize_mode: str = "maximize", seed: int | None = None,
                 strategy_args: Mapping[str, Any] | None = None, constraint: str | None = None,
                 **kwargs: Any) -> None:
        name = strategy or self.strategy_name
        if name is None:
            raise ValueError(f"StrategyTuner needs classArgs.strategy, one of: {', '.join(STRATEGIES.names())}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"optimize_mode {optimize_mode!r} is not 'maximize' or 'minimize'")
        args = check_strategy_args(strategy_args, "classArgs.strategy_args")
        both = sorted(args.keys() & kwargs.keys())
        if both:
            raise ValueError(f"classArgs {both} given both flat and in strategy_args; give each once")
        self._new_strategy = functools.partial(create_strategy, name, seed=seed, **args, **kwargs)
        self.strategy = self._new_strategy()
        self._strategy_key = STRATEGIES.canonical(name)  # what the checkpoint records and a resume must match
        self.minimize = optimize_mode == "minimize"
        self.feasible = parse_constraint(constraint) if constraint is not None else None
        self.space: CategoricalSpace | None = None
        self.pending: dict[int, Sample] = {}
        self.results: dict[str, float | None] = {}
        self.metrics: dict[str, dict[str, float]] = {}  # sample key -> numeric metrics of its result
        self.resumed_in_flight: dict[str, int] = {}  # sample key -> parameter id, from the checkpoint
        self._imported: list[Any] = []
        self._checkpoint: dict[str, Any] | None = None
        # NNI's dispatcher calls a tuner from two worker threads (trial_end comes on the second)
        self._lock = threading.RLock()

    # -- NNI Tuner API -------------------------------------------------------------------------------------
    @_locked
    def update_search_space(self, search_space: Mapping[str, Any]) -> None:
        self.space = CategoricalSpace.from_nni(search_space)
        self.strategy.setup(self.space, feasible=self.feasible)
        if self._checkpoint is not None:
            checkpoint, self._checkpoint = self._checkpoint, None
            self._restore(checkpoint)
        imported, self._imported = self._imported, []
        if imported:
            self.import_data(imported)

    @_locked
    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Sample:
        space = self._require_space()
        self.resumed_in_flight = {k: pid for k, pid in self.resumed_in_flight.items() if pid < parameter_id}
        in_flight = {space.key(s) for s in self.pending.values()} | set(self.resumed_in_flight)
        for _ in range(MAX_DUPLICATES):
            sample = self.strategy.ask()
            if sample is None:
                raise nni.NoMoreTrialError("the strategy has no more samples to propose")
            sample = space.validate(sample)
            key = space.key(sample)
            if key in self.results:
                self.strategy.tell(sample, self.results[key], self.metrics.get(key))
            elif key in in_flight:
                self.strategy.tell(sample, None, None)
            elif self.feasible is not None and not self.feasible(sample):
                self.strategy.tell(sample, None, None)  # rejected by the constraint: no trial
            else:
                self.pending[parameter_id] = sample
                self._save()
                return sample
        raise nni.NoMoreTrialError(f"the strategy proposed {MAX_DUPLICATES} already evaluated or infeasible samples "
                                   "in a row")

    @_locked
    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        space = self._require_space()
        reward, metrics = extract_reward(value, minimize=self.minimize)
        sample = self.pending.pop(parameter_id, None) or parameters
        echoed = metrics.get("sample")
        if isinstance(echoed, Mapping):
            try:
                sample = space.validate(echoed)
            except ValueError:
                _logger.warning("trial %s echoed a sample outside the space: %r", parameter_id, echoed)
        try:
            sample = space.validate(sample)
        except ValueError as exc:  # e.g. a customised trial's parameters: not ours to tell the strategy
            _logger.warning("ignoring the result of parameter id %s: its parameters %s are not a sample of the "
                            "search space (%s)", parameter_id, reprlib.repr(parameters), exc)
            return
        self._record(sample, reward, metrics)

    @_locked
    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        sample = self.pending.pop(parameter_id, None)
        if sample is not None and not success:
            self.strategy.tell(sample, None, None)
        self._save()

    @_locked
    def import_data(self, data: Any) -> None:
        """Replay earlier results (``nnictl resume``): each item ``{"parameter": sample, "value": metric}`` (or its
        JSON); a malformed item is skipped with a warning."""
        try:
            data = _loads(data) if isinstance(data, str) else data
        except ValueError as exc:
            _logger.warning("import_data: skipping %s (%s)", reprlib.repr(data), exc)
            return
        if not isinstance(data, (list, tuple)):
            _logger.warning("import_data: skipping %s; expected a list of {'parameter': ..., 'value': ...}",
                            reprlib.repr(data))
            return
        if self.space is None:
            self._imported.extend(data)
            return
        replayed = 0
        for raw in data:
            try:
                item = _loads(raw) if isinstance(raw, str) else raw
                if not isinstance(item, Mapping) or not {"parameter", "value"} <= item.keys():
                    raise ValueError("expected a dict with keys 'parameter' and 'value'")
                sample = self.space.validate(item["parameter"])
            except ValueError as exc:
                _logger.warning("import_data: skipping entry %s (%s)", reprlib.repr(raw), exc)
                continue
            if self.space.key(sample) in self.results:
                continue  # already known from the checkpoint
            reward, metrics = extract_reward(item["value"], minimize=self.minimize)
            self._record(sample, reward, metrics)
            replayed += 1
        _logger.info("import_data: replayed %d earlier trials", replayed)

    def _record(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None) -> None:
        key = self._require_space().key(sample)
        self.results[key] = reward
        self.metrics[key] = numeric_metrics(metrics)
        self.resumed_in_flight.pop(key, None)
        self.strategy.tell(sample, reward, metrics)
        self._save()

    # -- checkpoint (NNI's Recoverable seam) ------------------------------------------------------------------
    def _checkpoint_file(self) -> Path | None:
        directory = self.get_checkpoint_path()
        return Path(directory) / "effnas_tuner.json" if directory else None

    def _save(self) -> None:
        path = self._checkpoint_file()
        if path is None or self.space is None:
            return
        state = {"version": 1, "strategy": self._strategy_key,
                 "strategy_state": self.strategy.state_dict(), "results": self.results, "metrics": self.metrics,
                 "in_flight": {**self.resumed_in_flight, **{self.space.key(s): pid for pid, s in self.pending.items()}}}
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, default=lambda v: v.tolist() if hasattr(v, "tolist") else list(v)))
        os.replace(tmp, path)

    @_locked
    def load_checkpoint(self) -> None:
        """Read the checkpoint of an earlier run (restored once the search space arrives); one that is not of this
        tuner and strategy raises a ``ValueError`` naming the file (NNI calls this at start-up, before any trial)."""
        path = self._checkpoint_file()
        if path is None or not path.is_file():
            return
        try:
            state = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            _logger.warning("tuner checkpoint %s is unreadable; rebuilding the state from import_data", path)
            return
        if not isinstance(state, dict):
            raise ValueError(f"tuner checkpoint {path} holds a JSON {type(state).__name__}; expected a dict")
        missing = [key for key in _CHECKPOINT_KEYS if not isinstance(state.get(key), _CHECKPOINT_KEYS[key])]
        if missing:
            raise ValueError(f"tuner checkpoint {path} is not one of this tuner: missing or malformed {missing}")
        if state["strategy"] not in (self._strategy_key, type(self.strategy).__name__):
            raise ValueError(f"tuner checkpoint {path} was written by strategy {state['strategy']!r}; this tuner runs "
                             f"{self._strategy_key!r} (resume with the same strategy, or remove the checkpoint)")
        self._checkpoint = state

    def _restore(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint checked by :meth:`load_checkpoint`: all of it, or nothing (then a ``ValueError``)."""
        try:
            results = dict(state["results"])
            metrics = {k: dict(v) for k, v in state.get("metrics", {}).items()}  # absent in older checkpoints
            in_flight = {k: int(pid) for k, pid in state["in_flight"].items() if k not in results}
            self.strategy.load_state_dict(state["strategy_state"])
        except Exception as exc:
            self.strategy = self._new_strategy()  # not half-restored: a fresh strategy
            self.strategy.setup(self._require_space(), feasible=self.feasible)
            raise ValueError(f"tuner checkpoint {self._checkpoint_file()} does not fit strategy {self._strategy_key!r} "
                             f"on this search space: {type(exc).__name__}: {exc}") from exc
        self.results, self.metrics, self.resumed_in_flight = results, metrics, in_flight
        _logger.info("restored tuner state: %d results, %d samples in flight", len(self.results),
                     len(self.resumed_in_flight))

    def _require_space(self) -> CategoricalSpace:
        if self.space is None:
            raise RuntimeError("update_search_space was not called before generate_parameters")
        return self.space


def builtin_name(strategy: str) -> str:
    """The NNI tuner name of a strategy: ``Effnas<ClassName>``, e.g. ``EffnasRegularizedEvolution``."""
    return "Effnas" + STRATEGIES.get(strategy).__name__


_TUNER_CLASSES: dict[str, type[StrategyTuner]] = {}


def tuner_class(strategy: str) -> type[StrategyTuner]:
    """The tuner class for one registered strategy (created once, importable as ``nni_effnas.nni_tuner.<name>``)."""
    key = STRATEGIES.canonical(strategy)
    if key not in _TUNER_CLASSES:
        name = builtin_name(key)
        cls = type(name, (StrategyTuner,), {"strategy_name": key, "__module__": __name__,
                                             "__doc__": f"NNI tuner running the ``{key}`` strategy."})
        _TUNER_CLASSES[key] = cls
    return _TUNER_CLASSES[key]


def registered_strategies() -> list[str]:
    """Strategies exposed as NNI tuners (NNI's own tuners are already built into NNI)."""
    return [name for name in STRATEGIES.names() if not name.startswith("nni_")]


def __getattr__(name: str) -> type[StrategyTuner]:
    """NNI's dispatcher imports ``nni_effnas.nni_tuner.Effnas<ClassName>`` by name (PEP 562)."""
    for strategy in registered_strategies():
        if builtin_name(strategy) == name:
            return tuner_class(strategy)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
