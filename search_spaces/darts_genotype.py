"""The DARTS cell genotype: operations, sample labels, the published DARTS_V2 cell, and the two text forms.

Paper: H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable Architecture Search", ICLR 2019.

A DARTS cell has two input nodes (0: the output of the cell before the previous one, 1: of the previous
cell) and four intermediate nodes 2..5; node ``i`` sums two operations applied to two *different* earlier
nodes ``j < k < i``; the cell's output is the concatenation of nodes 2..5. A network has one normal and one
reduction genotype. Three views of a genotype are used, with conversions here:

* a *sample* of :func:`categorical_choices` (what strategies and NNI tuners see), flat and unconditional::

      {cell}_{i}_inputs   the pair "j_k" (j < k < i) node i reads; i = 3, 4, 5 (node 2 always reads "0_1",
                          so it has no label: a one-choice label only costs strategies a wasted mutation)
      {cell}_{i}_op0      the op applied to node j (the smaller input), one of CELL_OPS
      {cell}_{i}_op1      the op applied to node k (the larger input)

  for ``cell`` in ``normal, reduce``: 22 labels, ``(7 ** 8 * 3 * 6 * 10) ** 2`` (about 1.1e18) samples;
* DARTS's ``Genotype`` namedtuple (:class:`Genotype`, same fields and ``repr``);
* a text form: the compact own form :func:`format_genotype`, and DARTS's ``Genotype(...)`` repr; both parse
  with :func:`parse_genotype`.

The order of a node's two inputs carries no meaning (the node sums them); samples and the own text form list
the smaller input first, and any other order is normalised on input. A node reading the same earlier node
twice, or a ``none`` op, is not a member of the space (DARTS's derivation keeps two distinct non-``none``
edges per node) and raises ``ValueError``.
"""
from __future__ import annotations

import ast
import numbers
import re
from typing import Any, Mapping, NamedTuple, Sequence

from nni_effnas.space import Sample

__all__ = [
    "CELL_OPS", "CELL_TYPES", "DARTS_V2", "EDGE_LABELS", "Genotype", "INPUT_PAIRS", "NODES", "OPS",
    "categorical_choices", "cell_nodes", "check_cell", "format_genotype", "genotype_to_sample", "nodes_to_sample",
    "parse_genotype", "sample_to_genotype",
]

#: DARTS's ``PRIMITIVES`` in its order; the supernet's candidates on every edge.
OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
#: The ops a genotype may hold (``OPS`` without ``none``); also NAS-Bench-301's and NASLib's order.
CELL_OPS: tuple[str, ...] = OPS[1:]
CELL_TYPES: tuple[str, ...] = ("normal", "reduce")
NODES: tuple[int, ...] = (2, 3, 4, 5)
#: ``node -> "j_k"`` input pairs, lexicographic (NAS-Bench-301's order).
INPUT_PAIRS: dict[int, tuple[str, ...]] = {
    i: tuple(f"{j}_{k}" for j in range(i) for k in range(j + 1, i)) for i in NODES
}
#: The supernet's edge labels ``{cell}_{j}_{i}`` (edge j -> i), by cell, target node, source node.
EDGE_LABELS: tuple[str, ...] = tuple(f"{t}_{j}_{i}" for t in CELL_TYPES for i in NODES for j in range(i))

_CONCAT = (2, 3, 4, 5)

#: A node: ``((op_j, j), (op_k, k))`` with ``j < k``.
Node = tuple[tuple[str, int], tuple[str, int]]


class Genotype(NamedTuple):
    """DARTS's genotype: per cell type 8 ``(op, input node)`` pairs, two per intermediate node, in node order."""

    normal: Sequence[tuple[str, int]]
    normal_concat: Sequence[int]
    reduce: Sequence[tuple[str, int]]
    reduce_concat: Sequence[int]


#: The DARTS (second order) cell published with the paper: Figures 4 and 5 of Liu et al. (ICLR 2019), as
#: released in the authors' code (``quark0/darts``, ``cnn/genotypes.py``, ``DARTS_V2``; 2.76 +- 0.09 % CIFAR-10
#: test error, 3.3 M parameters). Data, copied as published: pairs in the published order, ``concat`` a list.
DARTS_V2 = Genotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=(2, 3, 4, 5),
)


def categorical_choices() -> dict[str, tuple[str, ...]]:
    """The flat categorical view, ``label -> choices``, labels grouped by cell and node (see the module doc)."""
    choices: dict[str, tuple[str, ...]] = {}
    for cell in CELL_TYPES:
        for i in NODES:
            if i > 2:
                choices[f"{cell}_{i}_inputs"] = INPUT_PAIRS[i]
            choices[f"{cell}_{i}_op0"] = CELL_OPS
            choices[f"{cell}_{i}_op1"] = CELL_OPS
    return choices


def cell_nodes(sample: Mapping[str, Any], cell: str) -> list[Node]:
    """The 4 nodes of one cell of a *validated* sample, ``[((op_j, j), (op_k, k)), ...]`` for nodes 2..5."""
    nodes = []
    for i in NODES:
        j, k = (0, 1) if i == 2 else map(int, sample[f"{cell}_{i}_inputs"].split("_"))
        nodes.append(((sample[f"{cell}_{i}_op0"], j), (sample[f"{cell}_{i}_op1"], k)))
    return nodes


def nodes_to_sample(cell: str, nodes: Sequence[Node]) -> Sample:
    """The sample labels of one cell from its 4 canonical nodes (the inverse of :func:`cell_nodes`)."""
    sample: Sample = {}
    for i, ((op_j, j), (op_k, k)) in zip(NODES, nodes):
        if i > 2:
            sample[f"{cell}_{i}_inputs"] = f"{j}_{k}"
        sample[f"{cell}_{i}_op0"], sample[f"{cell}_{i}_op1"] = op_j, op_k
    return sample


def _check_node(cell: str, i: int, pairs: Sequence[Any]) -> Node:
    """Node ``i``'s two ``(op, input)`` pairs -> the canonical node (smaller input first); raises naming it."""
    checked = []
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"DARTS genotype: {cell} node {i} has {pair!r}; expected an (op, input node) pair")
        op, src = pair
        if op == "none":
            raise ValueError(f"DARTS genotype: {cell} node {i} uses 'none'; a genotype holds only "
                             f"{', '.join(CELL_OPS)}")
        if op not in CELL_OPS:
            raise ValueError(f"unknown DARTS operation {op!r} in {cell} node {i}; expected one of: "
                             f"{', '.join(CELL_OPS)}")
        if isinstance(src, bool) or not isinstance(src, numbers.Integral) or not 0 <= src < i:
            raise ValueError(f"DARTS genotype: {cell} node {i} reads node {src!r}; expected an earlier node 0..{i - 1}")
        checked.append((op, int(src)))
    (op_a, a), (op_b, b) = checked
    if a == b:
        raise ValueError(f"DARTS genotype: {cell} node {i} reads node {a} twice; its two inputs must differ")
    return ((op_a, a), (op_b, b)) if a < b else ((op_b, b), (op_a, a))


def check_cell(cell: str, pairs: Any, concat: Any) -> list[Node]:
    """8 ``(op, input)`` pairs and a concat of one cell -> its 4 canonical nodes; raises naming the bad part."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence) or len(pairs) != 8:
        raise ValueError(f"DARTS genotype: {cell} must list 8 (op, input node) pairs, got {pairs!r}")
    try:
        concat_nodes = tuple(concat)
    except TypeError:
        concat_nodes = None
    if concat_nodes != _CONCAT:
        raise ValueError(f"DARTS genotype: {cell}_concat is {concat!r}; this space concatenates nodes range(2, 6)")
    return [_check_node(cell, i, pairs[2 * n:2 * n + 2]) for n, i in enumerate(NODES)]


def genotype_to_sample(genotype: Any) -> Sample:
    """A :class:`Genotype` (or DARTS's own namedtuple, or any object with its four fields) -> a sample."""
    try:
        fields = [getattr(genotype, f) for f in Genotype._fields]
    except AttributeError:
        raise TypeError(f"expected a DARTS Genotype (normal, normal_concat, reduce, reduce_concat), got {genotype!r}")
    normal = check_cell("normal", fields[0], fields[1])
    reduce = check_cell("reduce", fields[2], fields[3])
    return {**nodes_to_sample("normal", normal), **nodes_to_sample("reduce", reduce)}


def sample_to_genotype(sample: Mapping[str, Any]) -> Genotype:
    """A validated sample -> :class:`Genotype` with lists and ``range(2, 6)``: its ``repr`` is DARTS's."""
    cells = {cell: [pair for node in cell_nodes(sample, cell) for pair in node] for cell in CELL_TYPES}
    return Genotype(normal=cells["normal"], normal_concat=range(2, 6), reduce=cells["reduce"],
                    reduce_concat=range(2, 6))


# -- text forms ------------------------------------------------------------------------------------------------
_OWN_RE = re.compile(r"^normal=(?P<normal>[^;]*);reduce=(?P<reduce>[^;]*)$")
_NODE = r"\|[a-z0-9_]+~\d+\|[a-z0-9_]+~\d+\|"
_CELL_RE = re.compile(rf"^{_NODE}(?:\+{_NODE}){{3}}$")
_EXAMPLE = "'normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|...|+|...|+|...|;reduce=|max_pool_3x3~0|...|' or a Genotype(...)"


def format_genotype(sample: Mapping[str, Any]) -> str:
    """The own text form of a validated sample: per cell, the nodes' ``op~input`` pairs, NAS-Bench-201 style."""
    cells = []
    for cell in CELL_TYPES:
        nodes = ("|" + "|".join(f"{op}~{src}" for op, src in node) + "|" for node in cell_nodes(sample, cell))
        cells.append(f"{cell}=" + "+".join(nodes))
    return ";".join(cells)


def parse_genotype(text: str) -> Sample:
    """Parse the own text form or DARTS's ``Genotype(...)`` repr (either concat spelling) into a sample."""
    if not isinstance(text, str):
        raise ValueError(f"malformed DARTS genotype {text!r}; expected a string: {_EXAMPLE}")
    stripped = text.strip()
    if stripped.startswith("Genotype("):
        return genotype_to_sample(_parse_repr(stripped))
    match = _OWN_RE.match(stripped)
    if not match:
        raise ValueError(f"malformed DARTS genotype {text!r}; expected {_EXAMPLE}")
    sample: Sample = {}
    for cell in CELL_TYPES:
        body = match.group(cell)
        if not _CELL_RE.match(body):
            raise ValueError(f"malformed {cell} cell {body!r} in DARTS genotype; expected 4 nodes '|op~j|op~k|' "
                             "joined by '+'")
        tokens = re.findall(r"([a-z0-9_]+)~(\d+)", body)
        pairs = [(op, int(src)) for op, src in tokens]
        sample.update(nodes_to_sample(cell, check_cell(cell, pairs, _CONCAT)))
    return sample


def _parse_repr(text: str) -> Genotype:
    """``Genotype(normal=[...], normal_concat=range(2, 6) | [2, 3, 4, 5], reduce=..., reduce_concat=...)``, no eval."""
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError(f"malformed DARTS Genotype repr {text!r}: not a Python expression") from None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id != "Genotype":
        raise ValueError(f"malformed DARTS Genotype repr {text!r}; expected Genotype(normal=..., ...)")
    names = list(Genotype._fields)
    if len(call.args) > len(names):
        raise ValueError(f"malformed DARTS Genotype repr {text!r}: more than {len(names)} fields")
    given = dict(zip(names, call.args))
    for keyword in call.keywords:
        if keyword.arg not in names or keyword.arg in given:
            raise ValueError(f"malformed DARTS Genotype repr: unexpected or repeated field {keyword.arg!r}")
        given[keyword.arg] = keyword.value
    missing = [name for name in names if name not in given]
    if missing:
        raise ValueError(f"malformed DARTS Genotype repr: missing field {missing[0]!r}")
    return Genotype(**{name: _literal(name, given[name]) for name in names})


def _literal(name: str, node: ast.expr) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        try:
            return range(*(_literal(name, arg) for arg in node.args))
        except TypeError:
            raise ValueError(f"malformed DARTS Genotype repr: field {name!r} is {ast.unparse(node)!r}") from None
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"malformed DARTS Genotype repr: field {name!r} is not a literal: "
                         f"{ast.unparse(node)!r}") from None
