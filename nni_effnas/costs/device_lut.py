"""Per-operation latency tables for devices we cannot run on, fitted to the NAS-Bench-201 device tables.

The shipped table has each cell's measured latency on 22 device settings, but the differentiable expected-cost
loss of the DARTS family (:class:`~nni_effnas.oneshot.cost.CostPenalty`) needs a cost per (edge, op): the
lookup table of FBNet (Wu et al., CVPR 2019) and ProxylessNAS (Cai et al., ICLR 2019). Without the device, we
fit one (our own method, not from those papers, which measure each op on the device): ``latency ~ fixed + sum_edge cost[edge][op]``
by non-negative least squares (``scipy.optimize.nnls``) over all 15,625 cells, a one-hot design of 6 edges x 5
ops plus the fixed part. The fit is only as good as latency is additive over edges on that device (parallel
hardware and per-layer overheads are not), so :func:`fit_nb201_device_lut` reports its error (R^2, mean
absolute percentage error, Spearman rank correlation with the measured latency); the table is the one
:func:`~nni_effnas.costs.lut.build_nb201_lut` measures on the local machine, for the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nni_effnas.nb201 import EDGE_LABELS, OPS

__all__ = ["DeviceLUT", "fit_nb201_device_lut"]


@dataclass(frozen=True)
class DeviceLUT:
    """A fitted per-op latency table (ms) for one device: ``predict = fixed_ms + table.total(sample)``."""

    device: str
    table: Any  # OpCostTable
    fixed_ms: float
    fit: dict[str, float]

    def predict(self, sample: Any) -> float:
        return self.fixed_ms + self.table.total(sample)


def fit_nb201_device_lut(device: str, dataset: str = "cifar10") -> DeviceLUT:
    """Fit the per-(edge, op) latency table of ``device`` (one of the shipped NB201 devices) to its measured
    latencies, non-negative, with its fit statistics over all cells."""
    from scipy.optimize import nnls
    from scipy.stats import spearmanr

    from nni_effnas.costs.nb201_counts import nb201_op_indices
    from nni_effnas.costs.tables import nb201_latency
    from nni_effnas.oneshot.cost import OpCostTable

    latency = np.asarray(nb201_latency(device, dataset).values, dtype=float)
    ops = nb201_op_indices()
    design = np.zeros((len(latency), len(EDGE_LABELS) * len(OPS) + 1))
    for edge in range(len(EDGE_LABELS)):
        design[np.arange(len(latency)), edge * len(OPS) + ops[:, edge]] = 1.0
    design[:, -1] = 1.0
    coef, _ = nnls(design, latency)
    predicted = design @ coef
    residual = latency - predicted
    fit = {"r2": float(1 - residual.var() / latency.var()) if latency.var() > 0 else 1.0,
           "mape_pct": float(np.mean(np.abs(residual) / np.maximum(np.abs(latency), 1e-12)) * 100),
           "spearman": float(spearmanr(predicted, latency).statistic), "cells": int(len(latency))}
    costs = {label: {op: float(coef[e * len(OPS) + k]) for k, op in enumerate(OPS)}
             for e, label in enumerate(EDGE_LABELS)}
    return DeviceLUT(device=device, table=OpCostTable(costs, unit=f"ms on {device}"), fixed_ms=float(coef[-1]),
                     fit=fit)
