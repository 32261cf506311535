"""Tabular benchmarks for simulated search: every architecture's reward, cost and reported metric in a table.

The simulated protocol (NATS-Bench; ``shared/docs/anchors.md``): a strategy "trains" a sample by reading its
*reward* (NAS-Bench-201: 12-epoch validation accuracy) and pays its *cost* (12-epoch training time) on the
simulated clock; the figure reported for a search is the *reported* metric (200-epoch test accuracy) of the
sample with the best reward. :meth:`TabularBenchmark.nb201` builds it from the shipped table;
:meth:`TabularBenchmark.from_csv` from any user table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas.space import CategoricalSpace, Sample

#: NATS-Bench time budgets (seconds) for a 100 % search on NAS-Bench-201
NB201_BUDGETS = {"cifar10": 20_000.0, "cifar100": 40_000.0, "imagenet16": 120_000.0}


@dataclass
class TabularBenchmark:
    """A search space whose every sample has a row of numbers."""

    name: str
    space: CategoricalSpace
    rows: dict[str, int]  # space.key(sample) -> row
    reward: np.ndarray
    cost: np.ndarray
    reported: np.ndarray
    budget_s: float
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # for constraints

    def row(self, sample: Mapping[str, Any]) -> int:
        key = self.space.key(sample)
        if key not in self.rows:
            raise ValueError(f"sample {dict(sample)} is not in the table {self.name!r}")
        return self.rows[key]

    def evaluate(self, sample: Mapping[str, Any]) -> dict[str, float]:
        i = self.row(sample)
        return {"default": float(self.reward[i]), "cost": float(self.cost[i]), "reported": float(self.reported[i])}

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ValueError(f"unknown column {name!r} in {self.name!r}; expected one of: {', '.join(sorted(self.columns))}")
        return self.columns[name]

    def ceiling(self, mask: np.ndarray | None = None) -> float:
        """Reported metric of the best-reward row (among ``mask``): the protocol's ceiling."""
        idx = np.arange(len(self.reward)) if mask is None else np.flatnonzero(mask)
        if idx.size == 0:
            raise ValueError("no row satisfies the constraint")
        return float(self.reported[idx[np.argmax(self.reward[idx])]])

    def optimum(self, mask: np.ndarray | None = None) -> float:
        values = self.reported if mask is None else self.reported[mask]
        return float(values.max())

    # -- constructors --------------------------------------------------------------------------------------
    @classmethod
    def nb201(cls, dataset: str = "cifar10") -> "TabularBenchmark":
        from nni_effnas.nb201 import EDGE_LABELS, OPS, canonical_dataset, load_table

        dataset = canonical_dataset(dataset)
        table = load_table()
        space = CategoricalSpace.from_dict({label: OPS for label in EDGE_LABELS})
        rows = {space.key(table.sample(i)): i for i in range(len(table))}
        columns = {"params": table.column(dataset, "params_M")}
        columns.update({f"latency:{d}": table.column(dataset, f"latency:{d}") for d in table.devices})
        return cls(name=f"nb201/{dataset}", space=space, rows=rows,
                   reward=table.column(dataset, "valid_acc_12ep"), cost=table.column(dataset, "cost_12ep_s"),
                   reported=table.column(dataset, "test_acc_200ep"), budget_s=NB201_BUDGETS[dataset],
                   columns=columns)

    @classmethod
    def from_csv(cls, path: str | Path, *, arch_columns: Sequence[str], reward: str, cost: str, reported: str,
                 budget_s: float) -> "TabularBenchmark":
        """A user table: categorical ``arch_columns`` span the space (every combination present once)."""
        import pandas as pd

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"table {path} not found")
        frame = pd.read_csv(path)
        needed = [*arch_columns, reward, cost, reported]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"table {path} has no column(s) {missing}; it has: {', '.join(map(str, frame.columns))}")
        if not arch_columns:
            raise ValueError("--arch-columns must name at least one categorical column")
        if budget_s <= 0:
            raise ValueError(f"budget must be > 0 seconds, got {budget_s}")
        arch = frame[list(arch_columns)].astype(str)
        space = CategoricalSpace.from_dict({c: sorted(arch[c].unique()) for c in arch_columns})
        rows: dict[str, int] = {}
        for i, values in enumerate(arch.itertuples(index=False)):
            key = space.key(dict(zip(arch_columns, values)))
            if key in rows:
                raise ValueError(f"table {path}: architecture {list(values)} appears twice (rows {rows[key]} and {i})")
            rows[key] = i
        numeric = {}
        for column in frame.columns:
            if column not in arch_columns and pd.api.types.is_numeric_dtype(frame[column]):
                numeric[str(column)] = frame[column].to_numpy(dtype=np.float64)
        for column in (reward, cost, reported):
            if column not in numeric:
                raise ValueError(f"table {path}: column {column!r} is not numeric")
            if not np.isfinite(numeric[column]).all():
                raise ValueError(f"table {path}: column {column!r} has missing or non-finite values")
        return cls(name=path.stem, space=space, rows=rows, reward=numeric[reward], cost=numeric[cost],
                   reported=numeric[reported], budget_s=float(budget_s), columns=numeric)


_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z0-9_:.\-]+)\s*(<=|>=|<|>)\s*([^\s]+)\s*$")
_OPS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater,
}


@dataclass(frozen=True)
class Constraint:
    """``COLUMN OP VALUE``, e.g. ``params<=0.344``, ``latency:pixel2<=13``; VALUE may be ``MEDIAN``."""

    column: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> "Constraint":
        match = _CONSTRAINT_RE.match(text or "")
        if not match:
            raise ValueError(f"bad constraint {text!r}; expected COLUMN<=VALUE, e.g. 'params<=0.344' or 'latency:pixel2<=13'")
        column, op, value = match.groups()
        if value.upper() != "MEDIAN":
            try:
                float(value)
            except ValueError:
                raise ValueError(f"bad constraint {text!r}: {value!r} is not a number or MEDIAN") from None
        return cls(column, op, value)

    def threshold(self, bench: TabularBenchmark) -> float:
        values = bench.column(self.column)
        return float(np.median(values)) if self.value.upper() == "MEDIAN" else float(self.value)

    def mask(self, bench: TabularBenchmark) -> np.ndarray:
        return _OPS[self.op](bench.column(self.column), self.threshold(bench))

    def feasible(self, bench: TabularBenchmark) -> Callable[[Sample], bool]:
        mask = self.mask(bench)
        if not mask.any():
            values = bench.column(self.column)
            closest = int(np.argmin(np.abs(values - self.threshold(bench))))
            arch = next((k for k, row in bench.rows.items() if row == closest), str(closest))
            raise ValueError(f"constraint {self} admits no architecture of {bench.name!r}; the closest is {arch} "
                             f"with {self.column}={values[closest]:g}")
        return lambda sample: bool(mask[bench.row(sample)])

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.value}"
