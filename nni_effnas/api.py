"""The Python API: run any registered strategy on any space and evaluator in-process, without the NNI manager.

    from nni_effnas.api import search

    result = search(strategy="regularized_evolution", space="nb201", evaluator="benchmark",
                    evaluator_args={"dataset": "cifar100"}, time_budget_s=40_000, seed=0)
    print(result.best.metrics["arch"], result.best.metrics["test_acc"])

For benchmark evaluators the clock is simulated (their ``cost`` metric plus the strategy's compute); for
training evaluators it is the wall clock. Pass ``checkpoint="run.json"`` to make a long run resumable.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from nni_effnas.loop import SearchResult, Trial, run_search
from nni_effnas.search_spaces import get_space
from nni_effnas.strategies import check_strategy_args, create_strategy
from nni_effnas.trials.evaluators import EVALUATORS, create_evaluator


def search(
    *,
    strategy: str = "regularized_evolution",
    space: str = "nb201",
    evaluator: str = "benchmark",
    strategy_args: Mapping[str, Any] | None = None,
    evaluator_args: Mapping[str, Any] | None = None,
    max_trials: int | None = None,
    time_budget_s: float | None = None,
    seed: int | None = 0,
    checkpoint: str | Path | None = None,
    feasible: Callable[[Mapping[str, Any]], bool] | None = None,
    verbose: bool = False,
) -> SearchResult:
    """Search ``space`` with ``strategy``, scoring samples with ``evaluator``; see :func:`run_search`.
    ``feasible`` is a constraint known before evaluation: other samples are rejected at no cost (and the
    zero-cost strategies leave them out of their pools)."""
    search_space = get_space(space)
    if evaluator_args is not None and not isinstance(evaluator_args, Mapping):
        raise ValueError(f"evaluator_args must be a dict of keyword arguments, got {evaluator_args!r}")
    evaluator_args, strategy_args = dict(evaluator_args or {}), check_strategy_args(strategy_args)
    scorer = create_evaluator(evaluator, **evaluator_args)
    scorer.check_space(search_space)
    chooser = create_strategy(strategy, seed=seed, **strategy_args)

    def evaluate(sample: Mapping[str, Any]) -> Mapping[str, Any]:
        return scorer.evaluate(sample, space=search_space)

    return run_search(chooser, search_space.categorical(), evaluate, max_trials=max_trials,
                      time_budget_s=time_budget_s, checkpoint=checkpoint, feasible=feasible,
                      progress=_print_progress if verbose else None,
                      settings={"strategy_args": strategy_args, "evaluator": EVALUATORS.canonical(evaluator),
                                "evaluator_args": evaluator_args})


def _print_progress(trial: Trial, result: SearchResult) -> None:
    best = result.best
    shown = f"{best.reward:.2f}" if best else "-"
    print(f"trial {trial.number:4d} {trial.status:9s} reward {trial.reward if trial.reward is not None else '-'!s:>10}"
          f"  best {shown}  clock {result.clock_s:,.0f} s", file=sys.stderr)
