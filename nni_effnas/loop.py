"""The in-process search loop: drive any strategy on any evaluator without the NNI manager.

Used by the Python API (:func:`nni_effnas.api.search`), the benchmarks and the tests. The clock is
*simulated* when evaluations report a cost (``cost_key``, e.g. a tabular benchmark's training time) and
wall-clock otherwise; the strategy's own compute (``ask``/``tell``) is always measured and added, so a
strategy that thinks hard pays for it. A failing evaluation is recorded as FAILED and the search goes on.
With ``checkpoint=PATH`` the history and the strategy's state are written after every trial (atomically),
and a later call with the same path resumes where it stopped.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from nni_effnas.checks import check_int, check_number, check_output_file, is_number
from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies.base import Strategy

_logger = logging.getLogger(__name__)

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"


@dataclass
class Trial:
    """One evaluated sample."""

    number: int
    sample: Sample
    status: str
    reward: float | None
    metrics: dict[str, Any] = field(default_factory=dict)
    cost_s: float = 0.0
    clock_s: float = 0.0  # search clock when this trial finished
    error: str | None = None


@dataclass
class SearchResult:
    trials: list[Trial]
    clock_s: float
    strategy_time_s: float
    rejected: int = 0

    @property
    def succeeded(self) -> list[Trial]:
        return [t for t in self.trials if t.status == SUCCEEDED]

    @property
    def best(self) -> Trial | None:
        """The trial with the highest reward (first one on ties)."""
        ok = self.succeeded
        return max(ok, key=lambda t: t.reward) if ok else None  # type: ignore[arg-type,return-value]

    def to_dict(self) -> dict[str, Any]:
        return {"clock_s": self.clock_s, "strategy_time_s": self.strategy_time_s, "rejected": self.rejected,
                "trials": [asdict(t) for t in self.trials]}


Evaluate = Callable[[Sample], Mapping[str, Any]]
Progress = Callable[[Trial, "SearchResult"], None]


def run_search(
    strategy: Strategy,
    space: CategoricalSpace,
    evaluate: Evaluate,
    *,
    max_trials: int | None = None,
    time_budget_s: float | None = None,
    reward_key: str = "default",
    cost_key: str | None = "cost",
    feasible: Callable[[Sample], bool] | None = None,
    max_rejections: int = 100_000,
    checkpoint: str | Path | None = None,
    progress: Progress | None = None,
    settings: Mapping[str, Any] | None = None,
) -> SearchResult:
    """Run ``strategy`` until ``max_trials`` evaluations or the clock passes ``time_budget_s``.

    A sample for which ``feasible`` is false is rejected before evaluation at no cost (the strategy is told
    ``reward=None``). The trial that crosses the budget still counts (NATS-Bench protocol).

    ``checkpoint``: a JSON file written after every trial; a search started again on it resumes. ``settings``
    (JSON-able, e.g. the evaluator and its arguments) are recorded in it, and a resume with other settings, another
    strategy or another space is refused rather than mixing two searches' trials.
    """
    if max_trials is None and time_budget_s is None:
        raise ValueError("run_search needs max_trials or time_budget_s (or both)")
    if max_trials is not None:
        check_int("max_trials", max_trials, 0)
    if time_budget_s is not None:
        check_number("time_budget_s", time_budget_s)
    if checkpoint is not None:
        check_output_file("checkpoint", checkpoint)
        header = {"space": _as_json(space.as_dict()), "settings": _as_json(settings or {})}  # what a resume checks
    result = SearchResult(trials=[], clock_s=0.0, strategy_time_s=0.0)
    timer = _StrategyTimer()
    timer.call(lambda: strategy.setup(space, feasible=feasible))
    if checkpoint is not None and Path(checkpoint).is_file():
        _restore(Path(checkpoint), header, strategy, result)
    timer.total = result.strategy_time_s
    rejected_in_a_row = 0
    while (max_trials is None or len(result.trials) < max_trials) and (
        time_budget_s is None or result.clock_s < time_budget_s
    ):
        sample = timer.call(strategy.ask)
        if sample is None:
            break
        sample = space.validate(sample)
        if feasible is not None and not feasible(sample):
            result.rejected += 1
            rejected_in_a_row += 1
            if rejected_in_a_row >= max_rejections:
                raise ValueError(f"the constraint rejected {max_rejections} samples in a row; is it feasible?")
            timer.call(strategy.tell, sample, None, None)
            result.clock_s = _clock(result, timer, strategy)
            continue
        rejected_in_a_row = 0
        trial = _evaluate(len(result.trials), sample, evaluate, reward_key, cost_key)
        result.trials.append(trial)
        timer.call(strategy.tell, sample, trial.reward, trial.metrics)
        result.clock_s = trial.clock_s = _clock(result, timer, strategy)
        result.strategy_time_s = timer.total
        if checkpoint is not None:
            _save(Path(checkpoint), header, strategy, result)
        if progress is not None:
            progress(trial, result)
    result.strategy_time_s = timer.total
    result.clock_s = _clock(result, timer, strategy)
    return result


class _StrategyTimer:
    def __init__(self) -> None:
        self.total = 0.0

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.total += time.perf_counter() - start


def _clock(result: SearchResult, timer: _StrategyTimer, strategy: Strategy) -> float:
    return sum(t.cost_s for t in result.trials) + timer.total + strategy.reused_compute_s()


def _evaluate(number: int, sample: Sample, evaluate: Evaluate, reward_key: str, cost_key: str | None) -> Trial:
    start = time.perf_counter()
    try:
        metrics = dict(evaluate(sample))
    except Exception as exc:  # a failing trial is recorded, the search goes on
        wall = time.perf_counter() - start
        _logger.warning("trial %d failed: %s: %s", number, type(exc).__name__, exc)
        return Trial(number, sample, FAILED, None, {}, wall, error=f"{type(exc).__name__}: {exc}")
    wall = time.perf_counter() - start
    cost = metrics[cost_key] if cost_key and cost_key in metrics else wall
    reward = metrics.get(reward_key)
    error = None
    if not is_number(cost) or cost < 0:  # charged the wall time instead, so the clock stays a number
        error, cost = f"metric {cost_key!r} is {cost!r}, expected a finite number >= 0", wall
    elif not is_number(reward):
        error = f"metric {reward_key!r} is {reward!r}, expected a finite number"
    if error is not None:
        _logger.warning("trial %d failed: %s", number, error)
        return Trial(number, sample, FAILED, None, metrics, float(cost), error=error)
    return Trial(number, sample, SUCCEEDED, float(reward), metrics, float(cost))


def _as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as it reads back from a checkpoint (tuples as lists)."""
    return json.loads(json.dumps(dict(value), default=_jsonable, sort_keys=True))


def _save(path: Path, header: Mapping[str, Any], strategy: Strategy, result: SearchResult) -> None:
    state = {"version": 1, "strategy": type(strategy).__name__, **header, "strategy_state": strategy.state_dict(),
             **result.to_dict()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, default=_jsonable))
    os.replace(tmp, path)


def _restore(path: Path, header: Mapping[str, Any], strategy: Strategy, result: SearchResult) -> None:
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"checkpoint {path} is not valid JSON ({exc}); delete it to start afresh") from None
    if not isinstance(state, dict) or not {"strategy", "strategy_state", "trials"} <= set(state):
        raise ValueError(f"{path} is not a search checkpoint (expected the file run_search writes); give another "
                         "path or delete it to start afresh")
    if state.get("strategy") != type(strategy).__name__:
        raise ValueError(
            f"checkpoint {path} was written by strategy {state.get('strategy')!r}, not {type(strategy).__name__!r}"
        )
    labels = state.get("space")
    if labels is not None and labels != header["space"]:
        raise ValueError(f"checkpoint {path} was written for another search space (labels {', '.join(labels)}); give "
                         "another path for this one")
    theirs, settings = state.get("settings", {}), header["settings"]
    for key in sorted(set(theirs) | set(settings)):
        if theirs.get(key) != settings.get(key):
            raise ValueError(f"checkpoint {path} was written with {key}={theirs.get(key)!r}, this search has "
                             f"{key}={settings.get(key)!r}; give another path for this search")
    strategy.load_state_dict(state["strategy_state"])
    result.trials = [Trial(**t) for t in state["trials"]]
    result.rejected = state.get("rejected", 0)
    result.strategy_time_s = state.get("strategy_time_s", 0.0)
    result.clock_s = state.get("clock_s", 0.0)
    _logger.info("resumed %d trials from %s", len(result.trials), path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")
