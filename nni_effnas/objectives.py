"""Scalar rewards for hardware-aware search: the MnasNet soft-constraint reward.

Reference: Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019, Eq. 2:
``reward = ACC * (LAT / T) ** w`` with ``w = alpha`` if ``LAT <= T`` else ``beta``. The paper's soft setting is
``alpha = beta = -0.07`` (a network twice as slow must be about 5 % more accurate to score the same); the hard
setting ``alpha = 0, beta = -1`` penalises only violations. Any cost works in place of latency (FLOPs, params);
that, and using the reward outside MnasNet's RL controller (with any of our strategies), are the only
deviations.

:func:`mnasnet_evaluate` wraps an evaluator so that any single-objective strategy optimises this reward: the
trial's metrics gain ``mnasnet_reward`` (pass ``reward_key="mnasnet_reward"`` to the loop) and keep the raw
accuracy and cost, so the search can still be reported by accuracy under the bound. :func:`best_feasible`
picks a search's answer under a hard bound, or the closest architecture when the bound is infeasible.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Mapping, Sequence, TypeVar

from nni_effnas.checks import is_number

_logger = logging.getLogger(__name__)
T = TypeVar("T")

REWARD_KEY = "mnasnet_reward"


def mnasnet_reward(accuracy: float, cost: float, target: float, *, alpha: float = -0.07,
                   beta: float = -0.07) -> float:
    """``accuracy * (cost / target) ** (alpha if cost <= target else beta)``."""
    if not (is_number(target) and target > 0):
        raise ValueError(f"MnasNet target must be a finite number > 0, got {target!r}")
    if not (math.isfinite(cost) and cost > 0):
        raise ValueError(f"MnasNet reward needs a finite cost > 0, got {cost!r}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        if not math.isfinite(value):
            raise ValueError(f"MnasNet {name} must be finite, got {value!r}")
    return float(accuracy) * (float(cost) / float(target)) ** (alpha if cost <= target else beta)


def mnasnet_evaluate(evaluate: Callable[[Mapping[str, Any]], Mapping[str, Any]], *, cost_metric: str,
                     target: float, accuracy_key: str = "default", alpha: float = -0.07,
                     beta: float = -0.07) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``evaluate`` whose metrics also carry ``mnasnet_reward`` computed from ``accuracy_key`` and
    ``cost_metric``; a trial without a finite cost fails with a message naming the metric."""
    mnasnet_reward(1.0, target, target, alpha=alpha, beta=beta)  # check the settings once, up front

    def wrapped(sample: Mapping[str, Any]) -> dict[str, Any]:
        metrics = dict(evaluate(sample))
        if cost_metric not in metrics:
            raise KeyError(f"the trial reported no {cost_metric!r}; it has: {', '.join(sorted(metrics))}")
        metrics[REWARD_KEY] = mnasnet_reward(float(metrics[accuracy_key]), float(metrics[cost_metric]), target,
                                             alpha=alpha, beta=beta)
        return metrics

    return wrapped


def best_feasible(items: Sequence[T], *, bound: float, reward: Callable[[T], float],
                  cost: Callable[[T], float]) -> tuple[T | None, bool]:
    """The highest-reward item whose cost is at most ``bound``, with ``True``; when none is, the infeasibility
    is logged and the item of least cost (the closest to feasible) is returned with ``False``; ``(None, False)``
    for no items."""
    if not items:
        return None, False
    feasible = [item for item in items if cost(item) <= bound]
    if feasible:
        return max(feasible, key=reward), True
    closest = min(items, key=cost)
    _logger.warning("the constraint cost <= %g is infeasible: no evaluated architecture meets it; returning the "
                    "closest, at cost %g", bound, cost(closest))
    return closest, False
