"""NAS-Bench-201 (Dong & Yang, ICLR 2020): its cell encoding and the offline table shipped with the package.

The cell is a DAG of 4 nodes; each of its 6 edges ``j -> i`` (j < i) carries one of 5 operations. The official
arch string lists the edges grouped by target node::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|      edges 0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3

Three equivalent views of a cell are used across the package, with conversions here:

* a *sample* ``{"edge_0_1": "nor_conv_3x3", ...}`` (what NNI and our strategies see; labels in ``EDGE_LABELS``),
* the official *arch string*,
* the official *index* in 0..15624 (the order of the original benchmark files).

Cells that compute the same function: :func:`canonical_ops` maps each cell to one representative of its class
(11,155 classes of the 15,625 cells; exact rules only, see there).

The table (``nni_effnas/data/nb201.npz``, see ``PROVENANCE.md`` beside it) holds, per cell and dataset,
200-epoch test and validation accuracy, 12-epoch validation accuracy and cost (the NATS-Bench simulated-search
protocol), parameters, and measured latency on 22 device settings.
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any, Mapping

import numpy as np

from nni_effnas.checks import is_int

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
EDGE_LABELS: tuple[str, ...] = tuple(f"edge_{j}_{i}" for j, i in EDGES)
NUM_ARCHS = len(OPS) ** len(EDGES)

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16")
_DATASET_ALIASES = {
    "cifar10": "cifar10", "cifar-10": "cifar10", "cifar10-valid": "cifar10",
    "cifar100": "cifar100", "cifar-100": "cifar100",
    "imagenet16": "imagenet16", "imagenet16-120": "imagenet16", "imagenet16_120": "imagenet16",
    "imagenet": "imagenet16",
}
METRICS: tuple[str, ...] = ("test_acc_200ep", "valid_acc_200ep", "valid_acc_12ep", "cost_12ep_s", "params_M")
#: the datasets the shipped device latencies fit: they were measured with 32x32 inputs (one value per cell)
LATENCY_DATASETS: tuple[str, ...] = ("cifar10", "cifar100")


def check_latency_dataset(dataset: str) -> str:
    """``dataset`` (canonical) if the shipped latencies fit its networks, else a one-line ``ValueError``."""
    dataset = canonical_dataset(dataset)
    if dataset not in LATENCY_DATASETS:
        raise ValueError(f"no NAS-Bench-201 latency is recorded for dataset {dataset!r}: the shipped latencies are "
                         "for 32x32 inputs, not ImageNet16-120's 16x16; use cifar10 or cifar100, or a latency table "
                         "of your own")
    return dataset

_ARCH_RE = re.compile(r"^\|[a-z0-9_]+~0\|\+\|[a-z0-9_]+~0\|[a-z0-9_]+~1\|\+\|[a-z0-9_]+~0\|[a-z0-9_]+~1\|[a-z0-9_]+~2\|$")


def canonical_dataset(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _DATASET_ALIASES:
        raise ValueError(f"unknown NAS-Bench-201 dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    return _DATASET_ALIASES[key]


def parse_arch(arch: str) -> tuple[str, ...]:
    """Official arch string -> the 6 op names in edge order; raises ``ValueError`` on a malformed string."""
    if not isinstance(arch, str) or not _ARCH_RE.match(arch.strip()):
        raise ValueError(
            f"malformed NAS-Bench-201 arch string {arch!r}; expected e.g. "
            "'|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'"
        )
    ops = tuple(tok.split("~")[0] for node in arch.strip().strip("|").split("|+|") for tok in node.split("|"))
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown NAS-Bench-201 operation {op!r} in {arch!r}; expected one of: {', '.join(OPS)}")
    return ops


def format_arch(ops: tuple[str, ...] | list[str]) -> str:
    if len(ops) != len(EDGES):
        raise ValueError(f"a NAS-Bench-201 cell has {len(EDGES)} edges, got {len(ops)} ops")
    nodes = []
    for target in (1, 2, 3):
        nodes.append("|" + "|".join(f"{op}~{j}" for op, (j, i) in zip(ops, EDGES) if i == target) + "|")
    return "+".join(nodes)


def sample_to_arch(sample: Mapping[str, Any]) -> str:
    missing = [label for label in EDGE_LABELS if label not in sample]
    if missing:
        raise ValueError(f"NAS-Bench-201 sample is missing {missing}; expected labels {list(EDGE_LABELS)}")
    ops = tuple(sample[label] for label in EDGE_LABELS)
    for label, op in zip(EDGE_LABELS, ops):
        if op not in OPS:
            raise ValueError(f"sample value {op!r} for {label!r} is not one of {list(OPS)}")
    return format_arch(ops)


def arch_to_sample(arch: str) -> dict[str, str]:
    return dict(zip(EDGE_LABELS, parse_arch(arch)))


_EDGE_INDEX = {edge: k for k, edge in enumerate(EDGES)}


def canonical_ops(ops: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """One representative of the class of cells that compute the same function as ``ops`` (in ``EDGES`` order).

    Exact rules only: an intermediate node with no non-``none`` edge towards the output is dead, so the edges into
    it are set to ``none``; and when the edge 1->2 is ``none`` the two intermediate nodes are interchangeable, so
    the smaller of the two orderings is kept. The representative is the class's cheapest member (no dead
    convolutions). Not merged: a node whose inputs are all ``none`` feeding a convolution, whose BatchNorm still
    adds a learned constant. 11,155 classes; ``tests/test_nb201_canonical.py`` checks the function equality.
    """
    ops = list(parse_arch(format_arch(ops)))
    e = _EDGE_INDEX
    if ops[e[2, 3]] == "none":
        ops[e[0, 2]] = ops[e[1, 2]] = "none"
    if ops[e[1, 3]] == "none" and ops[e[1, 2]] == "none":
        ops[e[0, 1]] = "none"
    if ops[e[1, 2]] == "none":
        swapped = list(ops)
        swapped[e[0, 1]], swapped[e[0, 2]] = ops[e[0, 2]], ops[e[0, 1]]
        swapped[e[1, 3]], swapped[e[2, 3]] = ops[e[2, 3]], ops[e[1, 3]]
        ops = min(ops, swapped)
    return tuple(ops)


def canonical_arch(arch: str) -> str:
    """:func:`canonical_ops` of an arch string, as an arch string."""
    return format_arch(canonical_ops(parse_arch(arch)))


class NB201Table:
    """The offline NAS-Bench-201 table. Use :func:`load_table` for the shared, cached instance."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self._arrays = dict(arrays)
        ops = self._arrays["ops"]
        if ops.shape != (NUM_ARCHS, len(EDGES)):
            raise ValueError(f"NAS-Bench-201 table has ops of shape {ops.shape}, expected {(NUM_ARCHS, len(EDGES))}")
        self._ops = ops.astype(np.int64)
        # index lookup through a base-5 code of the op ids
        codes = self._ops @ (len(OPS) ** np.arange(len(EDGES)))
        self._index_of_code = np.full(NUM_ARCHS, -1, dtype=np.int64)
        self._index_of_code[codes] = np.arange(NUM_ARCHS)
        self.devices: tuple[str, ...] = tuple(sorted(k.split("__", 1)[1] for k in self._arrays if k.startswith("latency__")))

    def __len__(self) -> int:
        return NUM_ARCHS

    # -- conversions -------------------------------------------------------------------------------------
    def index(self, arch: str | Mapping[str, Any] | int) -> int:
        """Index of an arch string, a sample, or a (validated) index."""
        if is_int(arch):
            if not 0 <= int(arch) < NUM_ARCHS:
                raise ValueError(f"NAS-Bench-201 index {arch} out of range; expected 0..{NUM_ARCHS - 1}")
            return int(arch)
        ops = parse_arch(arch) if isinstance(arch, str) else parse_arch(sample_to_arch(arch))
        code = sum(OPS.index(op) * len(OPS) ** k for k, op in enumerate(ops))
        return int(self._index_of_code[code])

    def arch_str(self, index: int) -> str:
        index = self.index(index)
        return format_arch([OPS[i] for i in self._ops[index]])

    def sample(self, index: int) -> dict[str, str]:
        return arch_to_sample(self.arch_str(index))

    # -- data --------------------------------------------------------------------------------------------
    def column(self, dataset: str, metric: str) -> np.ndarray:
        """A read-only column over all cells: ``metric`` in ``METRICS`` or ``latency:DEVICE`` (for a dataset of
        ``LATENCY_DATASETS``)."""
        if metric.startswith("latency:"):
            device = metric.split(":", 1)[1]
            if device not in self.devices:
                raise ValueError(f"unknown latency device {device!r}; expected one of: {', '.join(self.devices)}")
            check_latency_dataset(dataset)
            array = self._arrays[f"latency__{device}"]
        else:
            if metric not in METRICS:
                raise ValueError(f"unknown NAS-Bench-201 metric {metric!r}; expected one of: {', '.join(METRICS)} or latency:DEVICE")
            array = self._arrays[f"{canonical_dataset(dataset)}__{metric}"]
        view = array.view()
        view.flags.writeable = False
        return view

    def test_accuracies(self, arch: str | Mapping[str, Any] | int) -> dict[str, float]:
        """The cell's 200-epoch test accuracy on each dataset (``DATASETS``)."""
        return {dataset: self.query(arch, dataset)["test_acc_200ep"] for dataset in DATASETS}

    def query(self, arch: str | Mapping[str, Any] | int, dataset: str = "cifar10") -> dict[str, Any]:
        """Everything the table knows about one cell on one dataset, as a JSON-ready dict (``latency_ms`` only
        for ``LATENCY_DATASETS``)."""
        dataset = canonical_dataset(dataset)
        index = self.index(arch)
        record: dict[str, Any] = {"index": index, "arch": self.arch_str(index), "dataset": dataset}
        for metric in METRICS:
            record[metric] = round(float(self._arrays[f"{dataset}__{metric}"][index]), 6)
        if dataset in LATENCY_DATASETS:
            record["latency_ms"] = {d: round(float(self._arrays[f"latency__{d}"][index]), 6) for d in self.devices}
        return record


@functools.lru_cache(maxsize=1)
def load_table() -> NB201Table:
    """Load the NAS-Bench-201 table shipped as package data (cached)."""
    path = resources.files("nni_effnas.data").joinpath("nb201.npz")
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as npz:
        return NB201Table({key: npz[key] for key in npz.files})


#: Each NAS-Bench-201 task's classifier size and input shape (C, H, W): the network a proxy should score.
TASKS: dict[str, tuple[int, tuple[int, int, int]]] = {
    "cifar10": (10, (3, 32, 32)),
    "cifar100": (100, (3, 32, 32)),
    "imagenet16": (120, (3, 16, 16)),
}
