"""The multi-objective contract: maximise the reward (accuracy) and minimise one cost (latency, FLOPs, params).

A :class:`MultiObjectiveStrategy` is an ordinary :class:`~nni_effnas.strategies.base.Strategy` (so the NNI tuner
adapter, the Optuna adapter and the in-process loop drive it unchanged): ``tell(sample, reward, metrics)`` gets
the accuracy as ``reward`` and reads the cost from ``metrics[cost_metric]``. Hardware-aware search usually knows
the cost *before* training (a device latency table, a per-operation lookup table, a FLOP count), so a strategy
may also be given a ``cost_model``: a callable ``sample -> cost`` or a spec string (:func:`resolve_cost_model`),
used when a trial does not report the cost, and by strategies that screen candidates before proposing them.

Every strategy keeps its observations; :meth:`MultiObjectiveStrategy.front` is the non-dominated set of them.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Mapping

import numpy as np

from nni_effnas.space import CategoricalSpace, Sample
from nni_effnas.strategies.base import Strategy, observed_reward

_logger = logging.getLogger(__name__)

CostModel = Callable[[Sample], float]


def resolve_cost_model(spec: str | CostModel | None, *, dataset: str = "cifar10") -> CostModel | None:
    """A cost model from a spec: a callable is returned as is; strings name a column of the shipped
    NAS-Bench-201 table, ``nb201:latency:DEVICE`` (ms on one of the 22 device settings), ``nb201:params``
    (millions) or ``nb201:flops`` (millions, :func:`~nni_effnas.costs.nb201_counts.nb201_flops`), optionally with
    ``@DATASET`` (default ``dataset``); or a user
    latency table, ``csv:PATH:COLUMN`` (architectures in column ``arch_str``)."""
    if spec is None or callable(spec):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"bad cost_model {spec!r}; expected a callable or a string like 'nb201:latency:pixel2'")
    if spec.startswith("csv:"):
        from nni_effnas.costs.tables import LatencyTable

        path, _, column = spec[4:].rpartition(":")
        if not path or not column:
            raise ValueError(f"bad cost_model {spec!r}; expected 'csv:PATH:COLUMN'")
        return LatencyTable.from_csv(path, latency_column=column)
    if not spec.startswith("nb201:"):
        raise ValueError(f"bad cost_model {spec!r}; expected 'nb201:latency:DEVICE', 'nb201:params', "
                         "'nb201:flops' or 'csv:PATH:COLUMN'")
    from nni_effnas.nb201 import load_table

    metric, _, data = spec[len("nb201:"):].partition("@")
    table = load_table()
    if metric == "flops":
        from nni_effnas.costs.nb201_counts import nb201_flops

        values = nb201_flops(data or dataset) / 1e6
    else:
        values = table.column(data or dataset, {"params": "params_M"}.get(metric, metric))

    def cost(sample: Mapping[str, Any]) -> float:
        return float(values[table.index(sample)])

    cost.__name__ = f"nb201_{metric.replace(':', '_')}"
    return cost


class MultiObjectiveMixin:
    """Cost bookkeeping shared by the multi-objective strategies (mixed into a
    :class:`~nni_effnas.strategies.base.Strategy`); call :meth:`_init_objectives` in ``__init__`` and
    :meth:`_setup_cost_model` in ``setup``."""

    def _init_objectives(self, cost_metric: str, cost_model: str | CostModel | None) -> None:
        if not isinstance(cost_metric, str) or not cost_metric:
            raise ValueError(f"cost_metric must be a non-empty metric name, got {cost_metric!r}")
        self.cost_metric = cost_metric
        self.cost_model_spec = cost_model
        self.cost_model: CostModel | None = None
        #: (sample, reward, cost) of every successful observation, in order
        self.observations: list[tuple[Sample, float, float]] = []
        self._observed_keys: set[str] = set()

    def _setup_cost_model(self) -> None:
        self.cost_model = resolve_cost_model(self.cost_model_spec)

    def observed_cost(self, sample: Sample, metrics: Mapping[str, Any] | None) -> float | None:
        """The cost of an observation: ``metrics[cost_metric]``, else the cost model's, else ``None``."""
        for value in ((metrics or {}).get(self.cost_metric),
                      self.cost_model(sample) if self.cost_model is not None else None):
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value):
                return float(value)
        return None

    def record(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None) -> float | None:
        """Store a successful observation; returns its cost, or ``None`` (failed, non-finite or cost unknown:
        not stored, with a warning in the last case)."""
        reward = observed_reward(reward)
        if reward is None:
            return None
        key = self._space().key(sample)
        if key in self._observed_keys:  # told again (a replay, or a re-proposed sample): one observation
            return self.observed_cost(sample, metrics)
        cost = self.observed_cost(sample, metrics)
        if cost is None:
            _logger.warning("%s: trial reported no finite %r and there is no cost model; the observation is "
                            "ignored", type(self).__name__, self.cost_metric)
            return None
        self.observations.append((dict(sample), reward, cost))
        self._observed_keys.add(key)
        return cost

    def front(self) -> list[tuple[Sample, float, float]]:
        """The non-dominated observations (highest reward, lowest cost), sorted by cost."""
        from nni_effnas.pareto import non_dominated

        if not self.observations:
            return []
        mask = non_dominated([(r, c) for _, r, c in self.observations])
        return sorted((o for o, keep in zip(self.observations, mask) if keep), key=lambda o: (o[2], -o[1]))

    def _objectives_state(self) -> dict[str, Any]:
        return {"observations": [[s, r, c] for s, r, c in self.observations]}

    def _load_objectives_state(self, state: Mapping[str, Any]) -> None:
        self.observations = [(dict(s), float(r), float(c)) for s, r, c in state.get("observations", ())]
        self._observed_keys = {self._space().key(s) for s, _, _ in self.observations}


class MultiObjectiveStrategy(MultiObjectiveMixin, Strategy):
    """Base of the accuracy-against-cost strategies.

    Args:
        cost_metric: the metric a trial reports its cost under (e.g. ``latency``, ``params_M``).
        cost_model: cost known before training, a callable or a spec (:func:`resolve_cost_model`); used when a
            trial's metrics lack ``cost_metric``.
        seed: seed of this strategy's generator.
    """

    def __init__(self, *, cost_metric: str = "latency_ms", cost_model: str | CostModel | None = None,
                 seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self._init_objectives(cost_metric, cost_model)

    def setup(self, space: CategoricalSpace, *, feasible: Callable[[Sample], bool] | None = None) -> None:
        super().setup(space, feasible=feasible)
        self._setup_cost_model()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), **self._objectives_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._load_objectives_state(state)


def costs_of(model: CostModel, samples: list[Sample]) -> np.ndarray:
    return np.array([float(model(s)) for s in samples], dtype=float)
