"""Pareto fronts and hypervolume for accuracy-against-cost search (accuracy maximised, cost minimised).

Non-dominated sorting and the hypervolume come from ``moocore`` (López-Ibáñez et al., the maintained C library
behind the ``eaf`` and ``mooplot`` packages), not from code of our own.

Hypervolume convention (the one ``bench multiobjective`` reports): both objectives are normalised by a
:class:`FrontScale`, the ideal and nadir points of a *reference front* (on a tabular benchmark the true front
of every architecture), so that 0 is the ideal and 1 the nadir of each objective; the reference point is 1.1
in both, the convention of EvoXBench (Lu et al., "Neural Architecture Search as Multiobjective Optimization
Benchmarks: Problem Formulation and Performance Assessment", IEEE TEVC 2023). Points beyond the reference
point add nothing. The ratio of a found front's hypervolume to the reference front's is then independent of
units (percent and milliseconds) and of the table's worst architectures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: reference point in normalised coordinates (EvoXBench)
REFERENCE = 1.1
_MAXIMISE = [True, False]  # (accuracy, cost)


def _points(points: Any) -> np.ndarray:
    array = np.asarray(points, dtype=float).reshape(-1, 2) if len(points) else np.zeros((0, 2))
    if not np.isfinite(array).all():
        bad = array[~np.isfinite(array).all(axis=1)][0]
        raise ValueError(f"non-finite point {bad.tolist()} in a front; expected finite (accuracy, cost) pairs")
    return array


def non_dominated(points: Any) -> np.ndarray:
    """Boolean mask of the (accuracy, cost) rows that no other row dominates (duplicates all kept)."""
    import moocore

    array = _points(points)
    if len(array) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(array, maximise=_MAXIMISE, keep_weakly=True), dtype=bool)


def pareto_front(points: Any) -> np.ndarray:
    """The non-dominated (accuracy, cost) rows, sorted by cost."""
    array = _points(points)
    front = array[non_dominated(array)] if len(array) else array
    return front[np.lexsort((-front[:, 0], front[:, 1]))]


@dataclass(frozen=True)
class FrontScale:
    """Ideal and nadir of a reference front: accuracy from ``acc_nadir`` (worst) to ``acc_ideal`` (best), cost
    from ``cost_ideal`` (least) to ``cost_nadir`` (most)."""

    acc_ideal: float
    acc_nadir: float
    cost_ideal: float
    cost_nadir: float

    @classmethod
    def of(cls, points: Any) -> "FrontScale":
        front = pareto_front(points)
        if len(front) == 0:
            raise ValueError("the reference front is empty; expected at least one (accuracy, cost) point")
        scale = cls(float(front[:, 0].max()), float(front[:, 0].min()), float(front[:, 1].min()),
                    float(front[:, 1].max()))
        return scale

    def normalise(self, points: Any) -> np.ndarray:
        """(accuracy, cost) -> (accuracy shortfall, cost), both minimised, 0 at the ideal and 1 at the nadir."""
        array = _points(points)
        acc_span = self.acc_ideal - self.acc_nadir or 1.0
        cost_span = self.cost_nadir - self.cost_ideal or 1.0
        return np.c_[(self.acc_ideal - array[:, 0]) / acc_span, (array[:, 1] - self.cost_ideal) / cost_span]

    def to_dict(self) -> dict[str, float]:
        return {"acc_ideal": self.acc_ideal, "acc_nadir": self.acc_nadir, "cost_ideal": self.cost_ideal,
                "cost_nadir": self.cost_nadir, "reference": REFERENCE}


def hypervolume(points: Any, scale: FrontScale) -> float:
    """Hypervolume of ``points`` (accuracy, cost) in ``scale``'s normalised coordinates, reference point 1.1."""
    import moocore

    normal = scale.normalise(points)
    inside = normal[(normal < REFERENCE).all(axis=1)] if len(normal) else normal
    if len(inside) == 0:
        return 0.0
    return float(moocore.hypervolume(inside, ref=[REFERENCE, REFERENCE]))


def hypervolume_ratio(points: Any, reference_front: Any, scale: FrontScale | None = None) -> float:
    """``hypervolume(points) / hypervolume(reference_front)`` under ``scale`` (default: the reference front's)."""
    scale = scale or FrontScale.of(reference_front)
    best = hypervolume(reference_front, scale)
    if not best > 0:
        raise ValueError("the reference front has zero hypervolume; expected at least one point inside the reference")
    return hypervolume(points, scale) / best


def selected_front(observed: Sequence[tuple[float, float]], reported: Sequence[float]) -> np.ndarray:
    """Indices of the rows a search returns as its front: non-dominated in what it *observed* (reward, cost).

    On a tabular benchmark the front is then scored with the *reported* accuracy of these rows (the simulated
    protocol's analogue of reporting the best-reward architecture's test accuracy); ``reported`` is only checked
    for length here."""
    if len(observed) != len(reported):
        raise ValueError(f"{len(observed)} observed points but {len(reported)} reported values")
    return np.flatnonzero(non_dominated(observed)) if len(observed) else np.zeros(0, dtype=int)
