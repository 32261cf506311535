"""``nni_effnas.nb201.canonical_ops``: cells in one class compute the same function (so merging them, e.g. in a
zero-cost pool, loses nothing), and the classes are what its docstring says."""
import numpy as np
import pytest
import torch

from nni_effnas.nb201 import EDGES, canonical_arch, canonical_ops, load_table, parse_arch
from search_spaces.nb201_network import make_op

SWAP = {(0, 1): (0, 2), (0, 2): (0, 1), (1, 2): (1, 2), (0, 3): (0, 3), (1, 3): (2, 3), (2, 3): (1, 3)}


def _cell(modules, x):
    nodes = [x]
    for j in (1, 2, 3):
        nodes.append(sum(modules[i, j](nodes[i]) for i in range(j)))
    return nodes[3]


def _modules_for(canon, ops, modules):
    """The canonical cell's edges, reusing the original cell's op modules (nodes 1 and 2 swapped if need be)."""
    for mapping in ({e: e for e in EDGES}, SWAP):
        out = {}
        for k, edge in enumerate(EDGES):
            source = mapping[edge]
            if canon[k] == ops[EDGES.index(source)]:
                out[edge] = modules[source]
            elif canon[k] == "none":
                out[edge] = make_op("none", 4)
            else:
                break
        else:
            return out
    raise AssertionError(f"no node mapping takes {ops} to {canon}")


def test_the_classes_partition_the_space_and_the_representative_is_stable():
    table = load_table()
    keys = [canonical_ops(parse_arch(table.arch_str(i))) for i in range(len(table))]
    assert len(set(keys)) == 11_155
    assert all(canonical_ops(k) == k for k in set(keys))


def test_cells_of_one_class_compute_the_same_function():
    table = load_table()
    rng = np.random.default_rng(0)
    checked = 0
    for i in rng.permutation(len(table)):
        ops = parse_arch(table.arch_str(int(i)))
        canon = canonical_ops(ops)
        if canon == ops:
            continue
        torch.manual_seed(int(i))
        modules = {edge: make_op(op, 4).eval() for edge, op in zip(EDGES, ops)}
        x = torch.randn(2, 4, 6, 6)
        with torch.no_grad():
            torch.testing.assert_close(_cell(_modules_for(canon, ops, modules), x), _cell(modules, x))
        checked += 1
        if checked == 200:
            break
    assert checked == 200


def test_examples_and_bad_input():
    chain = "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|none~2|"  # node 2 is dead
    through_node_2 = "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|"  # the same chain
    assert canonical_arch(chain) == canonical_arch(through_node_2) == through_node_2  # the smaller ordering
    full = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert canonical_arch(full) == full  # every node reaches the output, 1->2 is used: its own class
    with pytest.raises(ValueError, match="unknown NAS-Bench-201 operation 'conv'"):
        canonical_ops(("conv",) * 6)
    with pytest.raises(ValueError, match="has 6 edges, got 2"):
        canonical_ops(("none", "none"))
