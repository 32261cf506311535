"""DARTS samples as NAS-Bench-301 configurations, NASLib compact tuples, and YAHPO surrogate inputs.

NAS-Bench-301 (J. Siems, L. Zimmer, A. Zela, J. Lukasik, M. Keuper, F. Hutter, "NAS-Bench-301 and the Case
for Surrogate Benchmarks for Neural Architecture Search", arXiv:2008.09777, 2020) describes a DARTS genotype as a *conditional*
ConfigSpace configuration, per cell type ``t`` in ``normal, reduce``:

* ``NetworkSelectorDatasetInfo:darts:inputs_node_{t}_{i}`` for nodes ``i = 3, 4, 5``: the pair ``"j_k"``;
* ``NetworkSelectorDatasetInfo:darts:edge_{t}_{e}``: the op of edge ``e``, numbered by target node, then
  source node (``e = 0, 1`` feed node 2; ``2..4`` node 3; ``5..8`` node 4; ``9..13`` node 5). Only the 8
  edges the chosen pairs use are active and present (16 of 28 per configuration).

YAHPO Gym (slds-lmu/yahpo_gym, benchmark ``nb301``) spells ``:`` as ``_COLON_`` and feeds its ONNX surrogate
``x_cat``: the 34 categoricals in its ``cat_names`` order (edges normal 0..13, edges reduce 0..13, inputs
normal 3..5, inputs reduce 3..5), each coded by its level index in alphabetical order counted from 1, and
``0`` (``"#na#"``) for an inactive edge; and ``x_cont``: the epoch (1..98) as a float. The codes follow from
the ConfigSpace levels alone, so they are computed here rather than shipped; the tests check them against
YAHPO's ``encoding_v2.json``.

NASLib's *compact* form (automl/NASLib, ``nasbench301/conversions.py``) is, per cell, 8 ``(input node, op
index)`` pairs in genotype order with op indices into ``CELL_OPS``; its NAS-Bench-301 data files are keyed by
the string of that nested list.
"""
from __future__ import annotations

import ast
import numbers
from typing import Any, Mapping, Sequence

import numpy as np

from nni_effnas.checks import is_int
from nni_effnas.search_spaces.darts_genotype import (
    CELL_OPS, CELL_TYPES, INPUT_PAIRS, NODES, cell_nodes, check_cell, nodes_to_sample,
)
from nni_effnas.space import Sample

__all__ = [
    "EPOCHS", "NB301_PREFIX", "YAHPO_CAT_NAMES", "YAHPO_PREFIX", "edge_index", "from_compact", "from_nb301",
    "surrogate_inputs", "to_compact", "to_nb301", "yahpo_encoding",
]

NB301_PREFIX = "NetworkSelectorDatasetInfo:darts:"
YAHPO_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
_NODE_OFFSET = {i: sum(range(2, i)) for i in NODES}  # first edge index of each node: 0, 2, 5, 9
_NUM_EDGES = 14
#: YAHPO's input columns (its ``cat_names`` for ``nb301``), without the prefix.
_CAT_COLUMNS: tuple[str, ...] = (
    tuple(f"edge_{t}_{e}" for t in CELL_TYPES for e in range(_NUM_EDGES))
    + tuple(f"inputs_node_{t}_{i}" for t in CELL_TYPES for i in NODES[1:])
)
YAHPO_CAT_NAMES: tuple[str, ...] = tuple(YAHPO_PREFIX + c for c in _CAT_COLUMNS)
EPOCHS = (1, 98)


def edge_index(source: int, node: int) -> int:
    """NAS-Bench-301's number (0..13) of the edge ``source -> node``."""
    if node not in _NODE_OFFSET or not 0 <= source < node:
        raise ValueError(f"no DARTS edge {source!r} -> {node!r}; expected 0 <= source < node, node in 2..5")
    return _NODE_OFFSET[node] + source


def to_nb301(sample: Mapping[str, Any], *, yahpo_names: bool = False) -> dict[str, str]:
    """A validated sample -> its NAS-Bench-301 configuration (active hyperparameters only)."""
    prefix = YAHPO_PREFIX if yahpo_names else NB301_PREFIX
    config: dict[str, str] = {}
    for t in CELL_TYPES:
        for i, ((op_j, j), (op_k, k)) in zip(NODES, cell_nodes(sample, t)):
            config[f"{prefix}edge_{t}_{edge_index(j, i)}"] = op_j
            config[f"{prefix}edge_{t}_{edge_index(k, i)}"] = op_k
            if i > 2:
                config[f"{prefix}inputs_node_{t}_{i}"] = f"{j}_{k}"
    return config


def from_nb301(config: Mapping[str, Any]) -> Sample:
    """A NAS-Bench-301 configuration (``:`` or YAHPO's ``_COLON_`` spelling) -> a sample.

    Other keys (YAHPO's ``epoch``, training constants) are ignored; a missing input pair or active edge, an
    inactive edge with a value, or an unknown darts key raises ``ValueError`` naming it.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"a NAS-Bench-301 configuration must be a dict, got {type(config).__name__}")
    values: dict[str, Any] = {}
    for key, value in config.items():
        short = next((key[len(p):] for p in (NB301_PREFIX, YAHPO_PREFIX) if str(key).startswith(p)), None)
        if short is None:
            continue
        if short not in _CAT_COLUMNS:
            raise ValueError(f"unknown NAS-Bench-301 hyperparameter {key!r}")
        values[short] = value
    sample: Sample = {}
    for t in CELL_TYPES:
        nodes = []
        used: set[str] = set()
        for i in NODES:
            pair = "0_1" if i == 2 else values.get(f"inputs_node_{t}_{i}")
            if pair not in INPUT_PAIRS[i]:
                raise ValueError(f"NAS-Bench-301 configuration has inputs_node_{t}_{i} = {pair!r}; "
                                 f"expected one of {list(INPUT_PAIRS[i])}")
            j, k = (int(s) for s in pair.split("_"))
            ops = []
            for source in (j, k):
                key = f"edge_{t}_{edge_index(source, i)}"
                if key not in values:
                    raise ValueError(f"NAS-Bench-301 configuration lacks the active edge {key!r} ({source} -> {i})")
                used.add(key)
                ops.append((values[key], source))
            nodes.append(ops)
        extra = sorted(k for k in values if k.startswith(f"edge_{t}_") and k not in used)
        if extra:
            raise ValueError(f"NAS-Bench-301 configuration sets inactive edge {extra[0]!r}")
        sample.update(nodes_to_sample(t, check_cell(t, [p for node in nodes for p in node], range(2, 6))))
    return sample


def to_compact(sample: Mapping[str, Any]) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
    """NASLib's compact form: per cell, 8 ``(input node, CELL_OPS index)`` pairs, smaller input first."""
    return tuple(  # type: ignore[return-value]
        tuple((src, CELL_OPS.index(op)) for node in cell_nodes(sample, t) for op, src in node) for t in CELL_TYPES
    )


def from_compact(compact: Sequence[Any] | str) -> Sample:
    """NASLib's compact form (nested sequences, or their string as in NASLib's data files) -> a sample."""
    if isinstance(compact, str):
        try:
            compact = ast.literal_eval(compact)
        except (ValueError, SyntaxError):
            raise ValueError(f"malformed NASLib compact DARTS architecture {compact!r}") from None
    if isinstance(compact, (str, bytes)) or not isinstance(compact, Sequence) or len(compact) != 2:
        raise ValueError(f"a NASLib compact DARTS architecture is 2 cells of 8 (input, op) pairs, got {compact!r}")
    sample: Sample = {}
    for t, cell in zip(CELL_TYPES, compact):
        if isinstance(cell, (str, bytes)) or not isinstance(cell, Sequence):
            raise ValueError(f"malformed {t} cell {cell!r} in a NASLib compact DARTS architecture")
        pairs = []
        for pair in cell:
            if not isinstance(pair, Sequence) or len(pair) != 2 or not _is_index(pair[1], len(CELL_OPS)):
                raise ValueError(f"malformed (input, op index) pair {pair!r} in the {t} cell; op indices are "
                                 f"0..{len(CELL_OPS) - 1} into {list(CELL_OPS)}")
            pairs.append((CELL_OPS[int(pair[1])], pair[0]))
        sample.update(nodes_to_sample(t, check_cell(t, pairs, range(2, 6))))
    return sample


def _is_index(value: Any, size: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= value < size


def _codes() -> dict[str, dict[str, int]]:
    table = {}
    for column, name in zip(_CAT_COLUMNS, YAHPO_CAT_NAMES):
        levels = CELL_OPS if column.startswith("edge_") else INPUT_PAIRS[int(column.rsplit("_", 1)[1])]
        table[name] = {"#na#": 0, **{level: code for code, level in enumerate(sorted(levels), start=1)}}
    return table


_YAHPO_CODES = _codes()


def yahpo_encoding() -> dict[str, dict[str, int]]:
    """YAHPO's integer codes per column (``encoding_v2.json``): ``#na#`` 0, then levels alphabetically from 1."""
    return {name: dict(codes) for name, codes in _YAHPO_CODES.items()}


def surrogate_inputs(sample: Mapping[str, Any], *, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x_cat, x_cont)`` for YAHPO's NAS-Bench-301 ONNX surrogate: int32 ``[1, 34]`` and float32 ``[1, 1]``."""
    if not is_int(epoch):
        raise TypeError(f"epoch must be an int, got {epoch!r}")
    if not EPOCHS[0] <= epoch <= EPOCHS[1]:
        raise ValueError(f"epoch must be in {EPOCHS[0]}..{EPOCHS[1]} (NAS-Bench-301's fidelity range), got {epoch!r}")
    config = to_nb301(sample, yahpo_names=True)
    x_cat = np.array([[_YAHPO_CODES[name][config.get(name, "#na#")] for name in YAHPO_CAT_NAMES]], dtype=np.int32)
    return x_cat, np.array([[float(epoch)]], dtype=np.float32)
