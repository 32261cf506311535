"""NAS-Bench-201's graph encodings, registered in :data:`nni_effnas.encodings.ENCODINGS` for space ``nb201``.

The NB201 cell puts operations on edges: 4 nodes, 6 edges ``j -> i``. Both encodings here first view it the
other way round, as BANANAS, NASLib and Neural Predictor do for this space.

``adjacency`` (op-on-node DAG). Each edge becomes a node holding its op, between an ``input`` node (cell node 0)
and an ``output`` node (cell node 3): 8 nodes, ``input, edge_0_1, edge_0_2, edge_1_2, edge_0_3, edge_1_3,
edge_2_3, output`` (a topological order, so ``adj`` is strictly upper triangular). The edge-node ``j -> i``
feeds every edge-node leaving cell node ``i``, or ``output`` when ``i = 3``; ``input`` feeds the edge-nodes
leaving cell node 0. Node features are a one-hot over ``input, output, none, skip_connect, nor_conv_1x1,
nor_conv_3x3, avg_pool_3x3``. Deviation from NASLib's ``encode_gcn_nasbench201``: a ``none`` node keeps its
feature row but loses its in- and out-edges (it carries nothing), so ``adj`` depends on the ops. Flat row:
28 upper-triangle entries + 8 x 7 node one-hots = 84 columns.

``path`` (White, Neiswanger and Savani, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search", AAAI 2021). One binary column per op sequence of an input -> output path. The cell has
4 such routes (``0-3``; ``0-1-3``, ``0-2-3``; ``0-1-2-3``), so paths have 1 to 3 edges. Choices:

* ``none`` breaks a path: the vocabulary is the 4 other ops, so 4 + 4^2 + 4^3 = 84 columns, and an
  all-``none`` cell encodes as all zeros. NASLib keeps ``none`` in the vocabulary (155 columns).
* No truncation: BANANAS truncates the path list on NAS-Bench-101, where it is exponential; here all 84
  sequences are kept.
* Presence, not counts, as in the paper: the two length-2 routes with the same op sequence set one column.
* Edges off every input -> output path (e.g. ``0 -> 1`` when ``1 -> 2`` and ``1 -> 3`` are ``none``) do not
  appear, so cells that compute the same function encode the same.
"""
from __future__ import annotations

import numpy as np

from nni_effnas.encodings import ENCODINGS, register_cell_graph
from nni_effnas.nb201 import EDGES, OPS
from nni_effnas.space import CategoricalSpace

NODE_FEATURES: tuple[str, ...] = ("input", "output", *OPS)
NUM_NODES = len(EDGES) + 2
_NONE = OPS.index("none")
_PATH_OPS: tuple[str, ...] = tuple(op for op in OPS if op != "none")


def _op_ids(space: CategoricalSpace, indices: np.ndarray) -> np.ndarray:
    """Choice indices -> ``OPS`` ids per edge (robust to a reordered label or choice order)."""
    choices = space.as_dict()
    columns = []
    for j, i in EDGES:
        label = f"edge_{j}_{i}"
        lut = np.array([OPS.index(op) for op in choices[label]], dtype=np.int64)
        columns.append(lut[indices[:, space.labels.index(label)]])
    return np.stack(columns, axis=1) if columns else np.zeros((len(indices), 0), dtype=np.int64)


def _base_adjacency() -> np.ndarray:
    adj = np.zeros((NUM_NODES, NUM_NODES), dtype=np.int64)
    out = NUM_NODES - 1
    for a, (j, i) in enumerate(EDGES, start=1):
        if j == 0:
            adj[0, a] = 1
        if i == 3:
            adj[a, out] = 1
        for b, (k, _) in enumerate(EDGES, start=1):
            if k == i:
                adj[a, b] = 1
    if np.tril(adj).any():
        raise AssertionError("NB201 op-on-node order is not topological")
    return adj


_BASE_ADJ = _base_adjacency()


@register_cell_graph("nb201", num_nodes=NUM_NODES, node_features=NODE_FEATURES)
def nb201_graphs(space: CategoricalSpace, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(adj (n, 8, 8), ops (n, 8, 7))``; ``none`` edge-nodes are disconnected."""
    ops = _op_ids(space, indices)
    n = len(ops)
    live = np.ones((n, NUM_NODES), dtype=bool)
    live[:, 1:-1] = ops != _NONE
    adj = _BASE_ADJ[None] * live[:, :, None] * live[:, None, :]
    feats = np.zeros((n, NUM_NODES, len(NODE_FEATURES)), dtype=np.int64)
    feats[:, 0, 0] = 1
    feats[:, -1, 1] = 1
    feats[np.arange(n)[:, None], np.arange(1, NUM_NODES - 1)[None], 2 + ops] = 1
    return adj, feats


def _routes() -> list[tuple[int, ...]]:
    """Input -> output routes as tuples of edge indices, shortest first."""
    routes: list[tuple[int, ...]] = []

    def walk(node: int, route: tuple[int, ...]) -> None:
        if node == 3:
            routes.append(route)
            return
        for e, (j, i) in enumerate(EDGES):
            if j == node:
                walk(i, route + (e,))

    walk(0, ())
    return sorted(routes, key=len)


ROUTES: tuple[tuple[int, ...], ...] = tuple(_routes())
_MAX_LEN = max(map(len, ROUTES))
_OFFSETS = np.cumsum([0] + [len(_PATH_OPS) ** length for length in range(1, _MAX_LEN + 1)])
PATH_WIDTH = int(_OFFSETS[-1])


@ENCODINGS.register("path", space="nb201")
def nb201_path(space: CategoricalSpace, indices: np.ndarray) -> np.ndarray:
    """Binary presence of each op sequence along an input -> output route; ``none`` breaks a route."""
    ops = _op_ids(space, indices)
    code = np.full(len(OPS), -1, dtype=np.int64)  # OPS id -> path vocabulary id; none -> -1
    code[[OPS.index(op) for op in _PATH_OPS]] = np.arange(len(_PATH_OPS))
    ids = code[ops]
    X = np.zeros((len(ops), PATH_WIDTH))
    rows = np.arange(len(ops))
    for route in ROUTES:
        along = ids[:, list(route)]
        weights = len(_PATH_OPS) ** np.arange(len(route) - 1, -1, -1)
        column = _OFFSETS[len(route) - 1] + along @ weights
        alive = (along >= 0).all(axis=1)
        X[rows[alive], column[alive]] = 1.0
    return X
