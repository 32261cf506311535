"""A differentiable expected-cost loss for differentiable (DARTS-family) architecture search.

The expected cost of a relaxed architecture is ``sum_label sum_op w[label][op] * cost[label][op]``, with ``w``
the method's relaxed per-op weights (softmax(alpha) for DARTS, a Gumbel sample for GDAS, ...): a function of
the architecture parameters, so a cost term added to the architecture loss moves alpha towards cheaper ops.
This is the expected-latency loss of FBNet (B. Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
Differentiable Neural Architecture Search", CVPR 2019: a per-layer latency look-up table, ``E[LAT] = sum
p * LUT``) and of ProxylessNAS (H. Cai, L. Zhu and S. Han, "ProxylessNAS: Direct Neural Architecture Search on
Target Task and Hardware", ICLR 2019: ``E[latency] = sum_j p_j F(op_j)``), with any additive per-op cost
(latency, parameters, FLOPs) in place of latency.

NNI 3.0's ``ExpectationProfilerPenalty`` has no gradient with respect to alpha: ``DartsLightningModule`` feeds
it ``export_probs()``, which ``DifferentiableMixedLayer`` builds with ``softmax(alpha).cpu().tolist()``
(Python floats), so the penalty only shifts the loss. Here the weights stay tensors.

* :class:`OpCostTable`: cost per (label, op) in a ``unit``; from a nested mapping, a per-op mapping with
  per-label multipliers (:meth:`~OpCostTable.from_per_op`) or a CSV file (:meth:`~OpCostTable.from_csv`).
* :func:`expected_cost` and :class:`CostPenalty` (``linear``, ``log`` or ``hinge``).
* :func:`nb201_cost_table`: exact parameter and FLOP tables of the NAS-Bench-201 network.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Callable, Literal, Mapping, Sequence, Union

import torch

from nni_effnas.checks import check_int, check_number

__all__ = ["CostPenalty", "OpCostTable", "expected_cost", "nb201_cost_table"]

OpNames = Union[Mapping[str, Sequence[str]], Callable[[str], Sequence[str]]]
_MODES = ("linear", "log", "hinge")


class OpCostTable:
    """Cost of each candidate op of each label (searchable decision), in ``unit``.

    A discrete architecture's cost is the sum over the table's labels of its op's cost; labels a method
    searches but the table lacks (e.g. input choices) cost nothing. Costs must be finite and >= 0.
    """

    def __init__(self, costs: Mapping[str, Mapping[str, float]], *, unit: str) -> None:
        if not isinstance(unit, str) or not unit.strip():
            raise ValueError(f"unit must be a non-empty string, got {unit!r}")
        if not isinstance(costs, Mapping) or not costs:
            raise ValueError(f"an op cost table needs a non-empty mapping label -> op -> cost, got {costs!r}")
        table: dict[str, dict[str, float]] = {}
        for label, ops in costs.items():
            if not isinstance(ops, Mapping) or not ops:
                raise ValueError(f"label {label!r} needs a non-empty mapping op -> cost, got {ops!r}")
            table[str(label)] = {
                str(op): check_number(f"the cost of op {op!r} of label {label!r}", v) for op, v in ops.items()
            }
        self._costs = table
        self.unit = unit

    @classmethod
    def from_per_op(
        cls, per_op: Mapping[str, float], *, labels: Sequence[str] | Mapping[str, float], unit: str
    ) -> "OpCostTable":
        """The same per-op costs for every label, times the label's multiplier (e.g. the number of cells that
        share the label); ``labels`` as a sequence means multiplier 1 for each."""
        if not isinstance(per_op, Mapping) or not per_op:
            raise ValueError(f"per_op must be a non-empty mapping op -> cost, got {per_op!r}")
        base = {str(op): check_number(f"the cost of op {op!r}", v) for op, v in per_op.items()}
        if isinstance(labels, str):
            raise ValueError(f"labels must be a sequence or mapping of labels, not the string {labels!r}")
        multipliers = dict(labels) if isinstance(labels, Mapping) else dict.fromkeys(labels, 1.0)
        if not multipliers:
            raise ValueError("labels must not be empty")
        for label, m in multipliers.items():
            check_number(f"the multiplier of label {label!r}", m)
        return cls({label: {op: c * float(m) for op, c in base.items()} for label, m in multipliers.items()}, unit=unit)

    @classmethod
    def from_csv(
        cls, path: str | Path, *, unit: str,
        label_column: str = "label", op_column: str = "op", cost_column: str = "cost",
    ) -> "OpCostTable":
        """A table from a CSV file with a header and one row per (label, op)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"op cost table file {str(path)!r} does not exist")
        costs: dict[str, dict[str, float]] = {}
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            for column in (label_column, op_column, cost_column):
                if column not in header:
                    raise ValueError(f"column {column!r} not in {str(path)!r}; its columns are {header}")
            for line, row in enumerate(reader, start=2):
                label, op, text = row[label_column], row[op_column], row[cost_column]
                if not label or not op:
                    raise ValueError(f"{path.name} line {line}: empty label or op in {dict(row)}")
                try:
                    value = float(text)
                except (TypeError, ValueError):
                    where = f"{path.name} line {line}"
                    raise ValueError(f"{where}: cost {text!r} of {label!r}/{op!r} is not a number") from None
                if op in costs.setdefault(label, {}):
                    raise ValueError(f"{path.name} line {line}: duplicate row for label {label!r}, op {op!r}")
                what = f"the cost of op {op!r} of label {label!r} ({path.name} line {line})"
                costs[label][op] = check_number(what, value)
        if not costs:
            raise ValueError(f"op cost table file {str(path)!r} has no rows")
        return cls(costs, unit=unit)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self._costs)

    def ops(self, label: str) -> tuple[str, ...]:
        return tuple(self._label(label))

    def _label(self, label: str) -> dict[str, float]:
        if label not in self._costs:
            raise ValueError(f"label {label!r} is not in the {self.unit} table; its labels are {list(self._costs)}")
        return self._costs[label]

    def cost(self, label: str, op: str) -> float:
        ops = self._label(label)
        if op not in ops:
            raise ValueError(f"op {op!r} of label {label!r} has no cost in the {self.unit} table; it has {list(ops)}")
        return ops[op]

    def costs(self, label: str, ops: Sequence[str] | None = None) -> list[float]:
        """Costs of ``ops`` (default: the table's op order) of ``label``, in that order."""
        return [self.cost(label, op) for op in (self.ops(label) if ops is None else ops)]

    def total(self, sample: Mapping[str, str]) -> float:
        """Cost of a discrete architecture (label -> op); labels outside the table cost nothing."""
        missing = [label for label in self._costs if label not in sample]
        if missing:
            raise ValueError(f"sample lacks labels {missing} of the {self.unit} table")
        return sum(self.cost(label, str(sample[label])) for label in self._costs)

    def max_total(self) -> float:
        """The largest cost an architecture can have (most expensive op on every label)."""
        return sum(max(ops.values()) for ops in self._costs.values())

    def min_total(self) -> float:
        return sum(min(ops.values()) for ops in self._costs.values())

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {label: dict(ops) for label, ops in self._costs.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpCostTable) and (self.unit, self._costs) == (other.unit, other._costs)

    def __repr__(self) -> str:
        return f"OpCostTable({len(self._costs)} labels, unit={self.unit!r}, max_total={self.max_total():g})"


def expected_cost(
    table: OpCostTable, weights: Mapping[str, torch.Tensor], *, op_names: OpNames | None = None
) -> torch.Tensor:
    """``sum_label sum_i weights[label][i] * cost(label, op_i)`` over the table's labels, differentiable in the
    weights. ``op_names`` gives each label's op order in its weight vector (a mapping, or a callable such as
    the search module's ``op_names``); default: the table's op order. Extra labels in ``weights`` are ignored."""
    terms: list[torch.Tensor] = []
    for label in table.labels:
        if label not in weights:
            raise ValueError(f"weights lack label {label!r} of the {table.unit} table; they have {list(weights)}")
        w = weights[label]
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"weights[{label!r}] must be a tensor, got {type(w).__name__}")
        names = table.ops(label) if op_names is None else (op_names(label) if callable(op_names) else op_names[label])
        if w.dim() != 1 or w.numel() != len(names):
            raise ValueError(
                f"weights[{label!r}] has shape {tuple(w.shape)}, expected ({len(names)},) for ops {list(names)}"
            )
        terms.append((w * torch.tensor(table.costs(label, names), dtype=w.dtype, device=w.device)).sum())
    return sum(terms[1:], terms[0])  # a table has at least one label


class CostPenalty:
    """The cost term to add to the architecture loss: ``penalty(weights) -> scalar tensor``.

    ``op_names`` (here or per call, as in :func:`expected_cost`) gives the op order of the weight vectors;
    without it the table's order must be the weights' (true for :func:`nb201_cost_table` and this package's
    NAS-Bench-201 supernet, both in ``nni_effnas.nb201.OPS`` order; a CSV table is in row order).

    With ``C`` the :func:`expected_cost` and ``ref`` the table's :meth:`~OpCostTable.max_total`:

    * ``linear``: ``weight * C / ref`` (in [0, weight]): a constant pull, ProxylessNAS' additive
      ``lambda * E[latency]`` with the scale made unit-free;
    * ``log``: ``weight * log(C / ref)`` (<= 0; only its gradient ``weight * grad(C) / C`` matters): the
      relative pressure of FBNet's multiplicative ``CE * alpha * log(E[LAT])^beta``, simplified to an additive
      term without ``beta``; ``C`` is clamped at ``1e-12 * ref`` against log(0). It pushes harder the cheaper
      the architecture gets, so with zero-cost ops available it drives towards them: prefer ``hinge`` then;
    * ``hinge``: ``weight * relu(C / target - 1)``: no pull below the budget ``target`` (required, > 0),
      as NNI's ``ProfilerPenalty(nonlinear='positive', aggregate='add')`` but with a gradient.
    """

    def __init__(
        self, table: OpCostTable, *, weight: float, target: float | None = None,
        mode: Literal["linear", "log", "hinge"] = "linear", op_names: OpNames | None = None,
    ) -> None:
        if not isinstance(table, OpCostTable):
            raise TypeError(f"table must be an OpCostTable, got {type(table).__name__}")
        if mode not in _MODES:
            raise ValueError(f"unknown cost penalty mode {mode!r}; expected one of: {', '.join(_MODES)}")
        self.weight = check_number("the penalty weight", weight)
        if mode == "hinge":
            if target is None or check_number("the penalty target", target) == 0:
                raise ValueError(f"mode='hinge' needs a target > 0 in {table.unit}, got {target!r}")
        elif target is not None:
            raise ValueError(f"target={target!r} is only used by mode='hinge', not mode={mode!r}")
        if mode != "hinge" and table.max_total() == 0:
            raise ValueError(f"every cost in the {table.unit} table is 0; mode={mode!r} cannot normalise by it")
        self.table = table
        self.target = None if target is None else float(target)
        self.mode = mode
        self.op_names = op_names
        self.reference = table.max_total()

    def __call__(self, weights: Mapping[str, torch.Tensor], *, op_names: OpNames | None = None) -> torch.Tensor:
        cost = expected_cost(self.table, weights, op_names=self.op_names if op_names is None else op_names)
        if self.mode == "linear":
            return self.weight * cost / self.reference
        if self.mode == "log":
            return self.weight * torch.log(cost.clamp_min(1e-12 * self.reference) / self.reference)
        return self.weight * torch.relu(cost / (self.target or math.inf) - 1.0)

    def __repr__(self) -> str:
        return f"CostPenalty({self.table!r}, weight={self.weight:g}, target={self.target}, mode={self.mode!r})"


def nb201_cost_table(metric: str, *, channels: int = 16, num_cells: int = 5, input_size: int = 32) -> OpCostTable:
    """Parameters (``'params'``) or FLOPs (``'flops'``) of each NAS-Bench-201 op on each edge label, summed over
    the ``3 * num_cells`` cells that share the label (stage widths ``C, 2C, 4C`` at resolutions ``input_size``
    halved (rounding up) by each reduction block).

    Params count every parameter of the op built by ``make_op`` (conv weights and BN affine), as
    ``count_parameters``; FLOPs are per image as ``torch.utils.flop_counter.FlopCounterMode`` counts them (2
    per multiply-add; only convolutions and matrix products count, so BN, ReLU, pooling, ``none`` and the
    cell's additions are 0). A built network's count is the table's sum over its ops plus a constant (stem,
    reduction blocks, classifier), exactly for both metrics (``tests/test_oneshot_cost.py``).
    """
    if metric not in ("params", "flops"):
        raise ValueError(f"unknown NAS-Bench-201 cost metric {metric!r}; expected 'params' or 'flops'")
    for name, value in (("channels", channels), ("num_cells", num_cells), ("input_size", input_size)):
        check_int(name, value)
    from torch.utils.flop_counter import FlopCounterMode

    from nni_effnas.nb201 import EDGE_LABELS, OPS
    from nni_effnas.search_spaces.nb201_network import make_op

    sizes = [input_size, -(-input_size // 2), -(-input_size // 4)]  # ceil; ceil(ceil(x/2)/2) == ceil(x/4)
    per_op: dict[str, float] = {}
    for op in OPS:
        total = 0
        for stage, size in enumerate(sizes):
            module = make_op(op, channels * 2 ** stage)
            if metric == "params":
                total += sum(p.numel() for p in module.parameters())
            else:
                with torch.no_grad(), FlopCounterMode(display=False) as counter:
                    module(torch.zeros(1, channels * 2 ** stage, size, size))
                total += counter.get_total_flops()
        per_op[op] = float(total * num_cells)
    return OpCostTable.from_per_op(per_op, labels=EDGE_LABELS, unit="params" if metric == "params" else "FLOPs")
