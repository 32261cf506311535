"""FLOPs and parameters of all 15,625 NAS-Bench-201 networks, without building 15,625 networks.

FLOPs come in closed form (:func:`nb201_flops_M`). Parameters are additive over the cell's edges: a network's
count is a constant (stem, reduction blocks, head; measured once on the built all-``none`` network with :func:`~nni_effnas.costs.flops.count_flops` and
:func:`~nni_effnas.costs.params.count_params`) plus, for each edge, its op's count summed over the 15 cells
(:func:`nni_effnas.oneshot.cost.nb201_cost_table`). This is exact, not an approximation: ``FlopCounterMode``
counts only convolutions and matrix products, which sit in the ops and the fixed parts, never in the cell's
sums (``tests/test_oneshot_cost.py`` and ``tests/test_costs.py`` compare it with the counter on built
networks). Building and counting each network instead takes about 0.3 s per cell on one CPU core (about
80 minutes for the space) against about 0.1 s for all of them here.

Networks are the NAS-Bench-201 paper's (Dong & Yang, ICLR 2020: ``C=16``, ``N=5``), with the dataset's classes and input size
(``nni_effnas.nb201.TASKS``). Parameters are our recount, which differs from the benchmark's recorded
``params_M`` for 150 cells (see :mod:`nni_effnas.search_spaces.nb201_network`).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import numpy as np

from nni_effnas.nb201 import EDGE_LABELS, NUM_ARCHS, OPS, TASKS, canonical_dataset, load_table, parse_arch

__all__ = ["nb201_arch_strings", "nb201_flops", "nb201_flops_M", "nb201_op_indices", "nb201_params"]


def nb201_flops(dataset: str = "cifar10") -> np.ndarray:
    """FLOPs (2 per MAC, one image) of every NAS-Bench-201 network, indexed like ``NB201Table``; read-only."""
    return _counts(canonical_dataset(dataset), "flops")


def nb201_params(dataset: str = "cifar10") -> np.ndarray:
    """Parameters of every NAS-Bench-201 network (our count), indexed like ``NB201Table``; read-only."""
    return _counts(canonical_dataset(dataset), "params")


@functools.lru_cache(maxsize=1)
def nb201_arch_strings() -> tuple[str, ...]:
    """The official arch string of every cell, indexed like ``NB201Table``."""
    table = load_table()
    return tuple(table.arch_str(i) for i in range(NUM_ARCHS))


@functools.lru_cache(maxsize=1)
def nb201_op_indices() -> np.ndarray:
    """``(15625, 6)`` op ids (positions in ``OPS``) of every cell in ``EDGE_LABELS`` order; read-only."""
    ops = np.array([[OPS.index(op) for op in parse_arch(arch)] for arch in nb201_arch_strings()])
    ops.flags.writeable = False
    return ops


@functools.lru_cache(maxsize=None)
def _counts(dataset: str, metric: str) -> np.ndarray:
    if metric == "flops":  # closed form: no network is built
        fixed, per_unit = _flops_terms(dataset, 16, 5)
        area = np.array([{"nor_conv_3x3": 9, "nor_conv_1x1": 1}.get(op, 0) for op in OPS])
        values = fixed + per_unit * area[nb201_op_indices()].sum(axis=1)
        values.flags.writeable = False
        return values
    from nni_effnas.costs.flops import count_flops
    from nni_effnas.costs.params import count_params
    from nni_effnas.oneshot.cost import nb201_cost_table
    from nni_effnas.costs.lut import build_nb201_network

    num_classes, shape = TASKS[dataset]
    per_edge = nb201_cost_table(metric, input_size=shape[1])
    none = dict.fromkeys(EDGE_LABELS, "none")
    network = build_nb201_network(none, num_classes=num_classes, in_channels=shape[0])
    fixed = count_flops(network, shape) if metric == "flops" else count_params(network)
    fixed -= per_edge.total(none)
    costs = np.array([per_edge.costs(label, OPS) for label in EDGE_LABELS])  # (6 edges, 5 ops)
    ops = nb201_op_indices()
    values = fixed + costs[np.arange(len(EDGE_LABELS)), ops].sum(axis=1)
    values.flags.writeable = False
    return values


def nb201_flops_M(sample: Mapping[str, Any], *, dataset: str = "cifar10", channels: int = 16,
                  num_cells: int = 5) -> float:
    """Forward FLOPs (millions, one image, 2 per multiply-accumulate) of NAS-Bench-201's network for ``sample``,
    in closed form: exactly what ``FlopCounterMode`` counts on the built network (convolutions and the
    classifier only), without building it (a build imports ``nni.nas``: seconds in every trial process, for a
    lookup that otherwise takes milliseconds). See :func:`_flops_terms`."""
    kernel_area = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
    per_cell = sum(kernel_area.get(sample[label], 0) for label in EDGE_LABELS)
    fixed, per_unit = _flops_terms(canonical_dataset(dataset), channels, num_cells)
    return (fixed + per_cell * per_unit) / 1e6


def _flops_terms(dataset: str, channels: int, num_cells: int) -> tuple[float, float]:
    """``(fixed, per_unit)``: a network's FLOPs are ``fixed + per_unit * k`` with ``k`` the sum over its cell's
    edges of the kernel area of the convolution on it (9 for ``nor_conv_3x3``, 1 for ``nor_conv_1x1``, 0 for
    the parameter-free ops). The stem (3x3, in -> C), the two reduction blocks (3x3 stride 2 C -> 2C, 3x3
    2C -> 2C, 1x1 shortcut C -> 2C) and the classifier are fixed; a ``k x k`` convolution edge adds
    ``2 * k^2 * C^2 * H * W`` per cell at every stage's width and resolution. ``tests/test_trials_hw.py`` checks
    it against the counter on built networks of the three tasks."""
    classes, (in_channels, height, width) = TASKS[dataset]
    fixed = 2 * 9 * in_channels * channels * height * width  # stem
    per_unit, c = 0.0, channels
    for stage in range(3):
        if stage:
            height, width = math.ceil(height / 2), math.ceil(width / 2)
            fixed += 2 * height * width * (18 * c * c + 36 * c * c + 2 * c * c)
            c *= 2
        per_unit += num_cells * 2 * c * c * height * width
    return float(fixed + 2 * c * classes), float(per_unit)
