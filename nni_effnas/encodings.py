"""Architecture encodings: samples of a categorical space as fixed-width float matrices, for predictors.

:func:`encode` turns a list of samples into an ``(n, d)`` float64 matrix. Encoding kinds (public API):

* ``onehot``: any :class:`~nni_effnas.space.CategoricalSpace`. The concatenation, in label order, of a one-hot
  of each label's choice; :func:`onehot_decode` inverts it. For NAS-Bench-201: 6 edges x 5 ops = 30 columns.
* ``adjacency``: spaces with a registered cell graph (today ``nb201``). The cell as an op-on-node DAG, as in
  BANANAS, NASLib and Neural Predictor: :func:`cell_graph` gives the structured :class:`CellGraph`
  ``(adj, ops)``; the flat row is ``[strict upper triangle of adj, row by row | ops one-hot, node by node]``
  (:func:`unflatten_adjacency` inverts it; the GNN predictor reads this row).
* ``path``: ``nb201``. The BANANAS path encoding (White, Neiswanger and Savani, "BANANAS: Bayesian
  Optimization with Neural Architectures for Neural Architecture Search", AAAI 2021): one binary column per
  op sequence of an input -> output path. See :mod:`nni_effnas.nb201_encodings`.

Per-space dispatch: :data:`ENCODINGS` holds generic encoders (any space) and per-space encoders keyed by the
search-space registry key. A later cell space registers its own, e.g. for DARTS::

    @ENCODINGS.register("path", space="darts")
    def darts_path(space: CategoricalSpace, indices: np.ndarray) -> np.ndarray: ...

    register_cell_graph("darts", node_features=(...))(darts_graphs)   # also registers "adjacency"

An encoder takes the space and an ``(n, labels)`` int matrix of choice indices (``CategoricalSpace.encode`` of
each sample) and returns ``(n, d)``. :func:`encode` accepts a registered space name, or a
``CategoricalSpace``: that gets the generic encodings, plus a registered space's own when it equals that
space's categorical view (a strategy holds only the ``CategoricalSpace``).

Optional extra features (zero-cost scores, low-fidelity accuracy): :func:`append_features`.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from nni_effnas.registry import Registry
from nni_effnas.space import CategoricalSpace, Sample

#: ``encoder(space, indices) -> (n, d)`` with ``indices`` the ``(n, labels)`` choice-index matrix.
Encoder = Callable[[CategoricalSpace, np.ndarray], np.ndarray]
#: ``graphs(space, indices) -> (adj (n, N, N), ops (n, N, F))``, nodes in a topological order.
GraphBuilder = Callable[[CategoricalSpace, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


class EncodingTable:
    """Encoders by kind: generic ones, and per-space ones keyed by search-space registry key."""

    def __init__(self) -> None:
        self._generic: Registry[Encoder] = Registry("encoding")
        self._by_space: dict[str, Registry[Encoder]] = {}

    def register(self, kind: str, *, space: Optional[str] = None) -> Callable[[Encoder], Encoder]:
        """Decorator: a generic encoder (``space=None``) or one for the space ``space``. Duplicates raise."""

        def decorator(fn: Encoder) -> Encoder:
            self.add(kind, fn, space=space)
            return fn

        return decorator

    def add(self, kind: str, fn: Encoder, *, space: Optional[str] = None) -> None:
        if space is None:
            clash = [s for s, table in self._by_space.items() if kind in table]
            if clash:
                raise ValueError(f"encoding {kind!r} is already registered for space(s) {clash}")
            self._generic.add(kind, fn)
            return
        if kind in self._generic:
            raise ValueError(f"encoding {kind!r} is generic; a space cannot register its own")
        self._by_space.setdefault(space, Registry(f"{space} encoding")).add(kind, fn)

    def spaces(self) -> list[str]:
        """Space keys that have their own encoders."""
        return sorted(self._by_space)

    def kinds(self, space: Optional[str] = None) -> list[str]:
        """The encodings available for the space key ``space`` (generic only for ``None``)."""
        own = self._by_space.get(space).names() if space in self._by_space else []
        return sorted(self._generic.names() + own)

    def get(self, kind: str, space: Optional[str] = None) -> Encoder:
        if isinstance(kind, str):
            key = kind.lower().replace("-", "_")
            if key in self._generic:
                return self._generic.get(key)
            if space in self._by_space and key in self._by_space[space]:
                return self._by_space[space].get(key)
        where = f"space {space!r}" if space else "a generic CategoricalSpace"
        raise ValueError(f"unknown encoding {kind!r} for {where}; available: {', '.join(self.kinds(space))}")

    def __contains__(self, kind: object) -> bool:
        return kind in self._generic or any(kind in t for t in self._by_space.values())


ENCODINGS = EncodingTable()


@dataclass(frozen=True, eq=False)
class CellGraph:
    """A cell as an op-on-node DAG: ``adj[i, j] = 1`` for an edge ``i -> j`` (strictly upper triangular: nodes
    are in a topological order, input first, output last); ``ops[i]`` is node ``i``'s feature one-hot."""

    adj: np.ndarray
    ops: np.ndarray


@dataclass(frozen=True)
class GraphLayout:
    """How a space's cells look as graphs: node count and the names of the node-feature columns."""

    num_nodes: int
    node_features: tuple[str, ...]
    build: GraphBuilder

    @property
    def width(self) -> int:
        """Width of the flat ``adjacency`` row."""
        n = self.num_nodes
        return n * (n - 1) // 2 + n * len(self.node_features)


CELL_GRAPHS: Registry[GraphLayout] = Registry("cell graph")


def register_cell_graph(
    space: str, *, num_nodes: int, node_features: Sequence[str]
) -> Callable[[GraphBuilder], GraphBuilder]:
    """Decorator: register a space's graph builder; also registers its flat ``adjacency`` encoding."""

    def decorator(build: GraphBuilder) -> GraphBuilder:
        layout = GraphLayout(int(num_nodes), tuple(node_features), build)
        CELL_GRAPHS.add(space, layout)
        ENCODINGS.add("adjacency", functools.partial(_flat_adjacency, layout), space=space)
        return build

    return decorator


def _flat_adjacency(layout: GraphLayout, space: CategoricalSpace, indices: np.ndarray) -> np.ndarray:
    adj, ops = layout.build(space, indices)
    rows, cols = np.triu_indices(layout.num_nodes, k=1)
    flat_ops = ops.reshape(len(ops), layout.num_nodes * len(layout.node_features))
    return np.concatenate([adj[:, rows, cols], flat_ops], axis=1).astype(np.float64)


def graph_layout(space: str) -> GraphLayout:
    """The registered graph layout of the space key ``space`` (``ValueError`` naming the spaces that have one)."""
    try:
        return CELL_GRAPHS.get(space)
    except ValueError:
        known = ", ".join(CELL_GRAPHS.names())
        raise ValueError(f"search space {space!r} has no cell graph; spaces with one: {known}") from None


def unflatten_adjacency(X: np.ndarray, space: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``adjacency`` encoding -> ``(adj (n, N, N), ops (n, N, F))``."""
    layout = graph_layout(space)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != layout.width:
        raise ValueError(f"expected {space!r} adjacency rows of width {layout.width}, got shape {X.shape}")
    n, N = len(X), layout.num_nodes
    rows, cols = np.triu_indices(N, k=1)
    adj = np.zeros((n, N, N))
    adj[:, rows, cols] = X[:, : len(rows)]
    return adj, X[:, len(rows):].reshape(n, N, len(layout.node_features))


def cell_graph(sample: Mapping[str, Any], space: str = "nb201") -> CellGraph:
    """The op-on-node DAG of one sample of the registered space ``space``."""
    layout = graph_layout(space)
    categorical = _registered_categorical(CELL_GRAPHS.canonical(space))
    indices = np.array([categorical.encode(categorical.validate(sample))], dtype=np.int64)
    adj, ops = layout.build(categorical, indices)
    return CellGraph(adj=adj[0].astype(np.int64), ops=ops[0].astype(np.int64))


def encode(space: str | CategoricalSpace, samples: Sequence[Mapping[str, Any]], kind: str = "onehot") -> np.ndarray:
    """Encode ``samples`` of ``space`` (a registered space name or a ``CategoricalSpace``) as ``(n, d)``."""
    categorical, key = _resolve(space)
    encoder = ENCODINGS.get(kind, key)
    if isinstance(samples, Mapping):
        raise TypeError("encode() takes a sequence of samples, got a single sample (a dict); wrap it in a list")
    indices = np.array([categorical.encode(categorical.validate(s)) for s in samples], dtype=np.int64)
    indices = indices.reshape(len(indices), len(categorical.labels))
    return np.asarray(encoder(categorical, indices), dtype=np.float64)


def available_encodings(space: str | CategoricalSpace) -> list[str]:
    return ENCODINGS.kinds(_resolve(space)[1])


def _resolve(space: str | CategoricalSpace) -> tuple[CategoricalSpace, Optional[str]]:
    if isinstance(space, CategoricalSpace):
        for key in ENCODINGS.spaces():
            if _registered_categorical(key) == space:
                return space, key
        return space, None
    if isinstance(space, str):
        from nni_effnas.search_spaces import SPACES

        key = SPACES.canonical(space)
        return _registered_categorical(key), key
    raise TypeError(f"space must be a registered space name or a CategoricalSpace, got {type(space).__name__}")


@functools.lru_cache(maxsize=None)
def _registered_categorical(key: str) -> CategoricalSpace:
    from nni_effnas.search_spaces import get_space

    return get_space(key).categorical()


# -- generic: one-hot ------------------------------------------------------------------------------------
def _offsets(space: CategoricalSpace) -> np.ndarray:
    return np.concatenate([[0], np.cumsum([len(values) for _, values in space.choices])])


@ENCODINGS.register("onehot")
def onehot(space: CategoricalSpace, indices: np.ndarray) -> np.ndarray:
    """Concatenated one-hot of each label's choice, in label order."""
    offsets = _offsets(space)
    X = np.zeros((len(indices), offsets[-1]))
    X[np.arange(len(indices))[:, None], offsets[:-1] + indices] = 1.0
    return X


def onehot_decode(space: CategoricalSpace, X: np.ndarray) -> list[Sample]:
    """Invert ``onehot``: each label takes the choice of its largest column."""
    offsets = _offsets(space)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != offsets[-1]:
        raise ValueError(f"expected one-hot rows of width {offsets[-1]}, got shape {X.shape}")
    idx = [X[:, a:b].argmax(axis=1) for a, b in zip(offsets[:-1], offsets[1:])]
    return [space.decode(tuple(int(i[r]) for i in idx)) for r in range(len(X))]


# -- optional extra features ---------------------------------------------------------------------------
def append_features(
    X: np.ndarray,
    extra: np.ndarray | Mapping[str, Sequence[float]],
    *,
    fit_rows: Optional[np.ndarray] = None,
) -> np.ndarray:
    """``X`` with standardised extra columns appended (zero-cost scores, low-fidelity accuracy, ...).

    ``extra`` is ``(n,)``, ``(n, k)`` or a mapping name -> ``n`` values (columns in the mapping's order). Each
    column is centred and scaled by its mean and standard deviation over ``fit_rows`` (indices or a boolean
    mask; default all rows), so call it once on training rows and candidates together, with
    ``fit_rows=`` the training rows if the statistics must not see the candidates. A constant column becomes
    0; a non-finite value (a failed proxy) becomes 0, the column mean.
    """
    X = np.asarray(X, dtype=np.float64)
    if isinstance(extra, Mapping):
        columns = [np.asarray(v, dtype=np.float64) for v in extra.values()]
        extra = np.column_stack(columns) if columns else np.zeros((len(X), 0))
    E = np.asarray(extra, dtype=np.float64)
    E = E[:, None] if E.ndim == 1 else E
    if X.ndim != 2 or E.ndim != 2 or len(E) != len(X):
        raise ValueError(f"extra features of shape {E.shape} do not match an encoding of shape {X.shape}")
    E = np.where(np.isfinite(E), E, np.nan)
    ref = E if fit_rows is None else E[np.asarray(fit_rows)]
    with warnings.catch_warnings():  # all-NaN columns: mean/std NaN, replaced below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(ref, axis=0) if len(ref) else np.zeros(E.shape[1])
        std = np.nanstd(ref, axis=0) if len(ref) else np.ones(E.shape[1])
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    Z = np.nan_to_num((E - mean) / std, nan=0.0)
    return np.concatenate([X, Z], axis=1)


# Importing registers the per-space encoders.
from nni_effnas import nb201_encodings as _nb201_encodings  # noqa: E402,F401
