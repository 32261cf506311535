"""Tabular benchmarks for simulated search: every architecture's reward, cost and reported metric in a table.

The simulated protocol (NATS-Bench; ``shared/docs/anchors.md``): a strategy "trains" a sample by reading its
*reward* (NAS-Bench-201: 12-epoch validation accuracy) and pays its *cost* (12-epoch training time) on the
simulated clock; the figure reported for a search is the *reported* metric (200-epoch test accuracy) of the
sample with the best reward. :meth:`TabularBenchmark.nb201` builds it from the shipped table;
:meth:`TabularBenchmark.from_csv` from any user table.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas.checks import is_number
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
        try:  # the hot path of every simulated trial: explain only when the lookup fails
            return self.rows[self.space.key(sample)]
        except (KeyError, TypeError):
            pass
        raise ValueError(f"sample {sample!r} is not in the table {self.name!r}; expected a dict with the labels "
                         f"{list(self.space.labels)}, each set to one of its values in the table")

    def evaluate(self, sample: Mapping[str, Any]) -> dict[str, float]:
        i = self.row(sample)
        return {"default": float(self.reward[i]), "cost": float(self.cost[i]), "reported": float(self.reported[i])}

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ValueError(f"unknown column {name!r} in {self.name!r}; expected one of: {', '.join(sorted(self.columns))}")
        return self.columns[name]

    def ceiling(self, mask: np.ndarray | None = None) -> float:
        """Reported metric of the best-reward row (among ``mask``): the protocol's ceiling."""
        idx = self._scored_rows(mask)
        return float(self.reported[idx[np.argmax(self.reward[idx])]])

    def optimum(self, mask: np.ndarray | None = None) -> float:
        """Best reported metric (among ``mask``)."""
        return float(self.reported[self._scored_rows(mask)].max())

    def _scored_rows(self, mask: np.ndarray | None) -> np.ndarray:
        """Rows among ``mask`` with a reward (a NaN reward is a failed architecture)."""
        scored = np.isfinite(self.reward) if mask is None else np.isfinite(self.reward) & mask
        idx = np.flatnonzero(scored)
        if idx.size == 0:
            raise ValueError("no row satisfies the constraint")
        return idx

    # -- constructors --------------------------------------------------------------------------------------
    @classmethod
    def nb201(cls, dataset: str = "cifar10") -> "TabularBenchmark":
        from nni_effnas.nb201 import EDGE_LABELS, LATENCY_DATASETS, OPS, canonical_dataset, load_table

        dataset = canonical_dataset(dataset)
        table = load_table()
        space = CategoricalSpace.from_dict({label: OPS for label in EDGE_LABELS})
        rows = {space.key(table.sample(i)): i for i in range(len(table))}
        columns = {"params": table.column(dataset, "params_M")}
        if dataset in LATENCY_DATASETS:
            columns.update({f"latency:{d}": table.column(dataset, f"latency:{d}") for d in table.devices})
        return cls(name=f"nb201/{dataset}", space=space, rows=rows,
                   reward=table.column(dataset, "valid_acc_12ep"), cost=table.column(dataset, "cost_12ep_s"),
                   reported=table.column(dataset, "test_acc_200ep"), budget_s=NB201_BUDGETS[dataset],
                   columns=columns)

    @classmethod
    def from_csv(cls, path: str | Path, *, arch_columns: Sequence[str] | str, reward: str, cost: str, reported: str,
                 budget_s: float) -> "TabularBenchmark":
        """A user table, one row per architecture: the categorical ``arch_columns`` (a list or a comma-separated
        string; read as text) span the space, and every combination of their values must be present once.

        ``cost`` must be a finite number > 0 on every row (it advances the simulated clock). An empty or NaN
        ``reward`` marks an architecture whose training failed: a search that samples it pays its cost and
        records a FAILED trial; ``reported`` must be finite on every row with a reward. Bad input raises a
        one-line ``ValueError`` naming the file.
        """
        import pandas as pd

        path = Path(path)
        if isinstance(arch_columns, str):
            arch_columns = [c.strip() for c in arch_columns.split(",") if c.strip()]
        arch_columns = list(arch_columns)
        if not arch_columns:
            raise ValueError(f"table {path}: arch_columns (--arch-columns) must name at least one categorical column")
        twice = sorted({c for c in arch_columns if arch_columns.count(c) > 1})
        if twice:
            raise ValueError(f"table {path}: architecture column(s) {twice} named more than once; expected distinct "
                             f"columns")
        for role, column in (("reward", reward), ("cost", cost), ("reported metric", reported)):
            if column in arch_columns:
                raise ValueError(f"table {path}: column {column!r} is used both as an architecture column and as the "
                                 f"{role}")
        if not is_number(budget_s) or budget_s <= 0:
            raise ValueError(f"table {path}: budget must be a finite number of seconds > 0, got {budget_s!r}")
        if path.is_dir():
            raise ValueError(f"table {path} is a directory; expected a CSV file")
        if not path.is_file():
            raise FileNotFoundError(f"table {path} not found")
        frame = _read_csv(path)
        needed = [*arch_columns, reward, cost, reported]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"table {path} has no column(s) {missing}; it has: {', '.join(map(str, frame.columns))}")
        if frame.empty:
            raise ValueError(f"table {path} has no rows; expected one row per architecture after the header")
        arch = _read_csv(path, usecols=arch_columns, dtype=str, keep_default_na=False)[arch_columns]  # verbatim
        for column in arch_columns:
            empty = np.flatnonzero(arch[column].str.strip() == "")
            if empty.size:
                raise ValueError(f"table {path} line {empty[0] + 2}: empty cell in architecture column {column!r}; "
                                 f"expected a value")
        space = CategoricalSpace.from_dict({c: sorted(arch[c].unique()) for c in arch_columns})
        rows: dict[str, int] = {}
        for i, values in enumerate(arch.itertuples(index=False)):
            key = space.key(dict(zip(arch_columns, values)))
            if key in rows:
                raise ValueError(f"table {path}: architecture {list(values)} appears twice (lines {rows[key] + 2} "
                                 f"and {i + 2})")
            rows[key] = i
        if len(rows) < space.size:
            example = next(combo for combo in itertools.product(*space.as_dict().values())
                           if space.key(dict(zip(arch_columns, combo))) not in rows)
            raise ValueError(f"table {path} lacks {space.size - len(rows)} of the {space.size} combinations of "
                             f"{arch_columns}, e.g. {dict(zip(arch_columns, example))}; expected one row per "
                             f"combination")
        numeric = {}
        for column in frame.columns:
            if column not in arch_columns and pd.api.types.is_numeric_dtype(frame[column]):
                numeric[str(column)] = frame[column].to_numpy(dtype=np.float64)
        for column in (reward, cost, reported):
            if column not in numeric:
                raise ValueError(f"table {path}: column {column!r} is not numeric; expected numbers")
        values = numeric[reward]
        if np.isnan(values).all():
            raise ValueError(f"table {path}: column {reward!r} (the reward) is empty; expected numbers")
        _refuse_rows(path, reward, np.isinf(values), values, "a finite number (or empty for a failed architecture)")
        _refuse_rows(path, cost, ~(np.isfinite(numeric[cost]) & (numeric[cost] > 0)), numeric[cost],
                     "a finite number of seconds > 0")
        _refuse_rows(path, reported, np.isfinite(values) & ~np.isfinite(numeric[reported]), numeric[reported],
                     "a finite number on every row with a reward")
        return cls(name=path.stem, space=space, rows=rows, reward=numeric[reward], cost=numeric[cost],
                   reported=numeric[reported], budget_s=float(budget_s), columns=numeric)


def _read_csv(path: Path, **kwargs: Any) -> Any:
    """``pandas.read_csv`` with one-line errors naming ``path``."""
    import pandas as pd

    try:
        return pd.read_csv(path, **kwargs)
    except UnicodeDecodeError:
        raise ValueError(f"table {path} is not UTF-8 text; expected a UTF-8 CSV file") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"table {path} is empty; expected a CSV file with a header line") from None
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[-1].removeprefix("Error tokenizing data. C error: ")
        raise ValueError(f"table {path} is not a valid CSV file ({reason}); expected the same number of fields on "
                         f"every line") from None


def _refuse_rows(path: Path, column: str, bad: np.ndarray, values: np.ndarray, expected: str) -> None:
    """A one-line ``ValueError`` naming the first ``bad`` row of ``column``, if any."""
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"table {path} line {i + 2}: column {column!r} is {values[i]:g}; expected {expected} "
                         f"({int(bad.sum())} bad row(s) in all)")


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
                number = float(value)
            except ValueError:
                number = float("nan")
            if not np.isfinite(number):
                raise ValueError(f"bad constraint {text!r}: {value!r} is not a finite number or MEDIAN")
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
