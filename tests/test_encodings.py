"""Tests for ``nni_effnas.encodings`` (and the NAS-Bench-201 encoders it dispatches to): shapes, determinism,
round trips, the graph and path views of known cells, per-space dispatch, extra features and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from nni_effnas.encodings import (
    ENCODINGS,
    EncodingTable,
    append_features,
    available_encodings,
    cell_graph,
    encode,
    onehot_decode,
    unflatten_adjacency,
)
from nni_effnas.nb201 import EDGE_LABELS, arch_to_sample, load_table
from nni_effnas.nb201_encodings import NODE_FEATURES, PATH_WIDTH, ROUTES

WIDTHS = {"onehot": 30, "adjacency": 28 + 8 * 7, "path": 4 + 16 + 64}


def cell(**ops: str) -> dict[str, str]:
    """An NB201 sample: every edge ``none`` except those given, e.g. ``cell(edge_0_3="nor_conv_3x3")``."""
    return {label: ops.get(label, "none") for label in EDGE_LABELS}


@pytest.fixture(scope="module")
def samples() -> list[dict[str, str]]:
    table = load_table()
    return [table.sample(int(i)) for i in np.random.default_rng(0).choice(len(table), 50, replace=False)]


def test_nb201_has_every_kind_and_a_generic_space_only_onehot(nb201_space, toy_space):
    assert available_encodings("nb201") == ["adjacency", "onehot", "path"]
    assert available_encodings(nb201_space) == ["adjacency", "onehot", "path"]  # dispatch by equal categorical view
    assert available_encodings(toy_space) == ["onehot"]


@pytest.mark.parametrize("kind", sorted(WIDTHS))
def test_shapes_dtype_and_determinism(kind, samples):
    X = encode("nb201", samples, kind)
    assert X.shape == (len(samples), WIDTHS[kind]) and X.dtype == np.float64
    assert set(np.unique(X)) <= {0.0, 1.0}
    reordered = [dict(reversed(list(s.items()))) for s in samples]  # label order of the dict does not matter
    np.testing.assert_array_equal(encode("nb201", reordered, kind), X)
    assert encode("nb201", [], kind).shape == (0, WIDTHS[kind])


def test_onehot_round_trips(nb201_space, toy_space, samples):
    X = encode(nb201_space, samples, "onehot")
    assert (X.sum(axis=1) == 6).all()
    assert onehot_decode(nb201_space, X) == samples
    toy = [{"a": 3, "b": "y", "c": False}, {"a": 0, "b": "z", "c": True}]
    Xt = encode(toy_space, toy, "onehot")
    np.testing.assert_array_equal(Xt[0], [0, 0, 0, 1, 0, 1, 0, 0, 1])
    assert onehot_decode(toy_space, Xt) == toy


def test_path_encoding_of_known_cells():
    assert PATH_WIDTH == 84 and sorted(map(len, ROUTES)) == [1, 2, 2, 3]
    assert not encode("nb201", [cell()], "path").any()  # all-none: no path at all
    direct = encode("nb201", [cell(edge_0_3="nor_conv_3x3")], "path")[0]
    assert direct.sum() == 1
    # one conv on each edge of route 0-1-2-3 and nothing else: exactly the one length-3 path
    chain = cell(edge_0_1="nor_conv_1x1", edge_1_2="nor_conv_1x1", edge_2_3="nor_conv_1x1")
    chain = encode("nb201", [chain], "path")[0]
    assert chain.sum() == 1 and chain[20:].sum() == 1
    # both length-2 routes with the same op sequence set one column (presence, not counts)
    twice = encode("nb201", [cell(edge_0_1="skip_connect", edge_1_3="avg_pool_3x3",
                                  edge_0_2="skip_connect", edge_2_3="avg_pool_3x3")], "path")[0]
    assert twice.sum() == 1 and twice[4:20].sum() == 1


def test_path_encoding_ignores_dead_ends_but_tells_different_cells_apart():
    base = cell(edge_0_3="nor_conv_3x3")
    dead_end = cell(edge_0_3="nor_conv_3x3", edge_0_1="nor_conv_1x1")  # node 1 feeds nothing
    X = encode("nb201", [base, dead_end], "path")
    np.testing.assert_array_equal(X[0], X[1])
    assert not np.array_equal(*encode("nb201", [base, dead_end], "onehot"))
    other = [cell(edge_0_3="nor_conv_1x1"), cell(edge_0_1="nor_conv_3x3", edge_1_3="nor_conv_3x3"),
             cell(edge_0_2="nor_conv_3x3", edge_2_3="skip_connect")]
    rows = encode("nb201", [base, *other], "path")
    assert len(np.unique(rows, axis=0)) == 4


def test_cell_graph_of_a_full_and_an_empty_cell():
    full = cell(**{label: "nor_conv_3x3" for label in EDGE_LABELS})
    g = cell_graph(full)
    assert g.adj.shape == (8, 8) and g.ops.shape == (8, len(NODE_FEATURES))
    # input -> 3 edges; 0->1 feeds 1->2 and 1->3; 0->2 and 1->2 feed 2->3; 3 edges -> output
    assert not np.tril(g.adj).any() and g.adj.sum() == 3 + 2 + 1 + 1 + 3
    assert list(g.adj[0]) == [0, 1, 1, 0, 1, 0, 0, 0]  # input feeds edges 0->1, 0->2, 0->3
    assert list(g.adj[:, 7]) == [0, 0, 0, 0, 1, 1, 1, 0]  # edges into node 3 feed the output
    assert (g.ops.sum(axis=1) == 1).all() and g.ops[0, 0] == 1 and g.ops[7, 1] == 1
    assert (g.ops[1:7, NODE_FEATURES.index("nor_conv_3x3")] == 1).all()
    empty = cell_graph(cell())
    assert not empty.adj.any() and (empty.ops[1:7, NODE_FEATURES.index("none")] == 1).all()


def test_adjacency_rows_unflatten_to_the_cell_graphs(samples):
    adj, ops = unflatten_adjacency(encode("nb201", samples, "adjacency"), "nb201")
    for sample, a, o in zip(samples[:10], adj, ops):
        graph = cell_graph(sample)
        np.testing.assert_array_equal(a, graph.adj)
        np.testing.assert_array_equal(o, graph.ops)
    with pytest.raises(ValueError, match="width 84"):
        unflatten_adjacency(np.zeros((2, 30)), "nb201")


def test_bad_input_is_one_line_errors(toy_space, samples):
    with pytest.raises(ValueError, match="available: onehot$"):
        encode(toy_space, [{"a": 0, "b": "x", "c": True}], "path")
    with pytest.raises(ValueError, match="available: adjacency, onehot, path"):
        encode("nb201", samples, "bogus")
    with pytest.raises(ValueError, match="unknown search space"):
        encode("no_such_space", samples)
    with pytest.raises(ValueError, match="not one of"):
        encode("nb201", [cell(edge_0_1="conv_7x7")])
    with pytest.raises(TypeError, match="single sample"):
        encode("nb201", samples[0])
    with pytest.raises(TypeError, match="CategoricalSpace"):
        encode(42, samples)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no cell graph"):
        cell_graph({"a": 0}, space="toy")


def test_a_space_registers_its_own_encodings_and_duplicates_raise():
    table = EncodingTable()
    table.register("onehot")(lambda space, idx: idx)
    table.register("path", space="darts")(lambda space, idx: idx + 1)
    assert table.kinds("darts") == ["onehot", "path"] and table.kinds("nb201") == ["onehot"]
    assert table.get("path", "darts")(None, np.zeros((1, 2)))[0, 0] == 1
    for kind, space in (("onehot", None), ("onehot", "darts"), ("path", "darts"), ("path", None)):
        with pytest.raises(ValueError, match="already registered|is generic"):
            table.register(kind, space=space)(lambda space, idx: idx)
    with pytest.raises(ValueError, match="already registered"):
        ENCODINGS.register("path", space="nb201")(lambda space, idx: idx)


def test_append_features_standardises_and_handles_nan_and_constants():
    X = np.zeros((4, 2))
    out = append_features(X, {"synflow": [1.0, 2.0, 3.0, np.nan], "flat": [5.0] * 4})
    assert out.shape == (4, 4)
    np.testing.assert_allclose(out[:3, 2], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    assert out[3, 2] == 0.0 and not out[:, 3].any()
    train_only = append_features(X, np.array([0.0, 2.0, 10.0, 20.0]), fit_rows=[0, 1])
    np.testing.assert_allclose(train_only[:, 2], [-1.0, 1.0, 9.0, 19.0])
    with pytest.raises(ValueError, match="do not match"):
        append_features(X, np.zeros(3))


def test_arch_string_samples_encode_like_table_samples():
    table = load_table()
    arch = table.arch_str(123)
    np.testing.assert_array_equal(encode("nb201", [arch_to_sample(arch)], "adjacency"),
                                  encode("nb201", [table.sample(123)], "adjacency"))
