"""The cell classes of scripts/zc_pool_simulation.py (BENCHMARKS.md, issue 4): cells in one class compute the
same function, so merging them in a zero-cost pool loses nothing."""
import sys
from pathlib import Path

import numpy as np
import torch

from nni_effnas.nb201 import EDGES, load_table, parse_arch
from search_spaces.nb201_network import make_op

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from zc_pool_simulation import canonical  # noqa: E402

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
    keys = [canonical(parse_arch(table.arch_str(i))) for i in range(len(table))]
    assert len(set(keys)) == 11_155
    assert all(canonical(k) == k for k in set(keys))


def test_cells_of_one_class_compute_the_same_function():
    table = load_table()
    rng = np.random.default_rng(0)
    checked = 0
    for i in rng.permutation(len(table)):
        ops = parse_arch(table.arch_str(int(i)))
        canon = canonical(ops)
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
