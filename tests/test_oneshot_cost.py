"""The expected-cost loss: tables, gradients, penalties, and the exact NAS-Bench-201 tables."""
from __future__ import annotations

import math
import random

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nni_effnas.nb201 import EDGE_LABELS, OPS, arch_to_sample
from nni_effnas.oneshot.cost import CostPenalty, OpCostTable, expected_cost, nb201_cost_table
from nni_effnas.search_spaces.nb201 import NB201Space
from nni_effnas.search_spaces.nb201_network import count_parameters

pytestmark = pytest.mark.usefixtures("one_thread")

TABLE = OpCostTable(
    {"x": {"cheap": 1.0, "mid": 4.0, "dear": 9.0}, "y": {"dear": 6.0, "cheap": 0.5, "mid": 2.0}}, unit="ms"
)
ISSUE_36 = "|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(shape))
    return counter.get_total_flops()


def _samples(n_random: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    fixed = [dict.fromkeys(EDGE_LABELS, "none"), dict.fromkeys(EDGE_LABELS, "nor_conv_3x3"), arch_to_sample(ISSUE_36)]
    return fixed + [{label: rng.choice(OPS) for label in EDGE_LABELS} for _ in range(n_random)]


# --- NAS-Bench-201 tables against built networks ------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "input_shape"), [
    ({"channels": 16, "num_cells": 5}, (1, 3, 32, 32)),  # the paper's network, CIFAR
    ({"channels": 8, "num_cells": 2, "input_size": 16}, (1, 3, 16, 16)),  # ImageNet16-sized input
])
def test_nb201_tables_plus_a_constant_equal_the_built_network_exactly(kwargs, input_shape):
    params, flops = nb201_cost_table("params", **kwargs), nb201_cost_table("flops", **kwargs)
    assert (params.unit, flops.unit) == ("params", "FLOPs") and params.labels == EDGE_LABELS
    build = {k: v for k, v in kwargs.items() if k != "input_size"}
    const_params = const_flops = None
    for sample in _samples(3, seed=7):
        net = NB201Space().build(sample, **build).eval()
        p_rest, f_rest = count_parameters(net) - params.total(sample), _flops(net, input_shape) - flops.total(sample)
        const_params = p_rest if const_params is None else const_params
        const_flops = f_rest if const_flops is None else const_flops
        # parameters: exact. FLOPs: exact too, as FlopCounterMode counts only convolutions and matrix products
        # (BN, ReLU, pooling, `none` and the cell's sums are 0 both per op and in the whole network)
        assert p_rest == const_params
        assert f_rest == pytest.approx(const_flops, rel=1e-12, abs=0)
    if kwargs["channels"] == 16:
        # the constant is the all-`none` network; the issue-36 cell has the 0.802426 M the module docs quote
        assert const_params == 73306
        assert const_params + params.total(arch_to_sample(ISSUE_36)) == 802426


def test_nb201_table_values():
    params = nb201_cost_table("params")
    conv3 = 5 * sum(c * c * 9 + 2 * c for c in (16, 32, 64))  # weights + BN affine, 5 cells per stage
    conv1 = 5 * sum(c * c + 2 * c for c in (16, 32, 64))
    assert params.to_dict()["edge_0_1"] == {
        "none": 0.0, "skip_connect": 0.0, "nor_conv_1x1": conv1, "nor_conv_3x3": conv3, "avg_pool_3x3": 0.0}
    flops = nb201_cost_table("flops")
    assert flops.cost("edge_2_3", "nor_conv_3x3") == 5 * 3 * 2 * 16 * 16 * 9 * 32 * 32  # same at every stage
    assert params.ops("edge_1_2") == OPS  # the supernet's op order
    with pytest.raises(ValueError, match="'latency'"):
        nb201_cost_table("latency")
    with pytest.raises(ValueError, match="channels"):
        nb201_cost_table("params", channels=0)


# --- expected cost and its gradient ------------------------------------------------------------------------
def test_expected_cost_value_and_gradient_points_to_cheaper_ops():
    alpha = {label: torch.tensor([0.2, -0.1, 0.4], dtype=torch.float64, requires_grad=True) for label in TABLE.labels}
    weights = {label: torch.softmax(a, 0) for label, a in alpha.items()}
    cost = expected_cost(TABLE, weights)
    by_hand = sum(float(w.detach() @ torch.tensor(TABLE.costs(k), dtype=torch.float64)) for k, w in weights.items())
    assert float(cost.detach()) == pytest.approx(by_hand, rel=1e-12)
    cost.backward()
    for label, a in alpha.items():
        p, c = weights[label].detach(), torch.tensor(TABLE.costs(label), dtype=torch.float64)
        assert torch.allclose(a.grad, p * (c - p @ c))  # d E[c] / d alpha for a softmax
        ops = TABLE.ops(label)
        assert ops[int(a.grad.argmin())] == "cheap" and ops[int(a.grad.argmax())] == "dear"


def test_op_names_reorder_the_weights_and_extra_labels_are_ignored():
    order = {"x": ["dear", "cheap", "mid"], "y": ["mid", "dear", "cheap"]}
    weights = {"x": torch.tensor([1.0, 0.0, 0.0]), "y": torch.tensor([0.0, 0.0, 1.0]), "input_choice": torch.ones(2)}
    assert float(expected_cost(TABLE, weights, op_names=order)) == 9.0 + 0.5
    assert float(expected_cost(TABLE, weights, op_names=order.__getitem__)) == 9.0 + 0.5
    assert float(CostPenalty(TABLE, weight=1.0, op_names=order)(weights)) == pytest.approx(9.5 / 15.0)


def test_penalty_modes():
    w = {"x": torch.tensor([0.0, 1.0, 0.0]), "y": torch.tensor([0.0, 0.0, 1.0])}  # mid, mid: cost 6
    assert TABLE.max_total() == 15.0 and TABLE.min_total() == 1.5
    assert float(CostPenalty(TABLE, weight=2.0)(w)) == pytest.approx(2.0 * 6.0 / 15.0)
    assert float(CostPenalty(TABLE, weight=2.0, mode="log")(w)) == pytest.approx(2.0 * math.log(6.0 / 15.0))
    assert float(CostPenalty(TABLE, weight=2.0, mode="hinge", target=8.0)(w)) == 0.0
    assert float(CostPenalty(TABLE, weight=2.0, mode="hinge", target=4.0)(w)) == pytest.approx(2.0 * 0.5)


@pytest.mark.parametrize("mode", ["linear", "log", "hinge"])
def test_optimising_only_the_penalty_moves_the_argmax_to_the_cheapest_op(mode):
    alpha = {label: torch.zeros(3, requires_grad=True) for label in TABLE.labels}
    with torch.no_grad():
        for label, a in alpha.items():  # start on the dearest op
            a[TABLE.ops(label).index("dear")] = 1.0
    penalty = CostPenalty(TABLE, weight=1.0, mode=mode, target=1.0 if mode == "hinge" else None)
    opt = torch.optim.Adam(alpha.values(), lr=0.1)
    for _ in range(60):
        opt.zero_grad()
        penalty({label: torch.softmax(a, 0) for label, a in alpha.items()}).backward()
        opt.step()
    assert {label: TABLE.ops(label)[int(a.argmax())] for label, a in alpha.items()} == {"x": "cheap", "y": "cheap"}


# --- the penalty inside the one-shot search ------------------------------------------------------------------
_PER_OP = {"none": 0.0, "skip_connect": 0.0, "nor_conv_1x1": 1.0, "nor_conv_3x3": 9.0, "avg_pool_3x3": 0.5}


class _Recorded:
    """A penalty that keeps the weights it was called with and the value it returned."""

    def __init__(self, penalty: CostPenalty) -> None:
        self.penalty, self.weights, self.value = penalty, None, None

    def __call__(self, weights):
        self.weights, self.value = dict(weights), self.penalty(weights)
        return self.value


def _search_with_penalty(name: str):
    from nni_effnas.oneshot.search import OneShotSearch
    from nni_effnas.strategies.oneshot import create_method

    torch.manual_seed(0)
    penalty = _Recorded(CostPenalty(OpCostTable.from_per_op(_PER_OP, labels=EDGE_LABELS, unit="ms"), weight=1.0))
    module = OneShotSearch(space=NB201Space(), method=create_method(name, seed=0),
                           model_kwargs={"channels": 4, "num_cells": 1}, cost_penalty=penalty)
    g = torch.Generator().manual_seed(5)
    batch = (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
    return module.train(), penalty, batch


@pytest.mark.parametrize("name", ["gdas", "drnas"])
def test_penalty_of_a_sampling_method_sees_the_forward_sample_and_has_a_gradient(name, monkeypatch):
    module, penalty, (x, y) = _search_with_penalty(name)
    mixed: dict[str, torch.Tensor] = {}
    mix = module.method.mix
    monkeypatch.setattr(module.method, "mix", lambda edge, h, w: mix(edge, h, mixed.setdefault(edge.label, w)))
    module._arch_loss_with_penalties(x, y)
    assert mixed.keys() == penalty.weights.keys()
    for label, w in mixed.items():  # the very sample the edges used (GDAS: not the argmax; DrNAS: not the mean)
        assert torch.equal(penalty.weights[label], w)
    assert penalty.value.requires_grad
    grads = torch.autograd.grad(penalty.value, module.supernet.arch_parameters())
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)  # every label's logits, finite


@pytest.mark.parametrize("name", ["darts", "pc_darts", "fair_darts"])
def test_penalty_of_a_deterministic_relaxation_is_unchanged(name):
    """Before the penalty read the forward pass's weights it was ``penalty(edge_weights(alpha, training=False))``;
    for these methods the value and the architecture gradient are the same."""
    module, penalty, (x, y) = _search_with_penalty(name)
    params = module.all_arch_parameters()
    new = torch.autograd.grad(module._arch_loss_with_penalties(x, y), params, allow_unused=True)
    new_penalty = penalty.value.detach()
    old_loss = module.loss_fn(module.supernet(x, method=module.method, training=True), y)
    extra = module.method.arch_regularizer(module.arch_parameters())
    old_penalty = penalty.penalty(module.method.edge_weights(module.arch_parameters(), training=False))
    old_loss = old_loss + old_penalty + (0.0 if extra is None else extra)
    old = torch.autograd.grad(old_loss, params, allow_unused=True)
    assert torch.equal(new_penalty, old_penalty.detach())
    for a, b in zip(new, old):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-8)
    assert any(a is not None and a.abs().sum() > 0 for a in new)


# --- validation ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("costs", "match"), [
    ({"x": {"a": -1.0}}, r"'a' of label 'x'.*-1\.0"),
    ({"x": {"a": float("nan")}}, r"'a' of label 'x'.*nan"),
    ({"x": {"a": float("inf")}}, r"'a' of label 'x'.*inf"),
    ({"x": {"a": "3"}}, r"'a' of label 'x'.*'3'"),
    ({"x": {}}, r"label 'x'"),
    ({}, r"non-empty"),
])
def test_table_rejects_bad_costs(costs, match):
    with pytest.raises(ValueError, match=match):
        OpCostTable(costs, unit="ms")


def test_table_lookups_and_builders_name_what_is_wrong():
    with pytest.raises(ValueError, match="unit"):
        OpCostTable({"x": {"a": 1.0}}, unit="")
    with pytest.raises(ValueError, match="op 'conv' of label 'x'"):
        TABLE.cost("x", "conv")
    with pytest.raises(ValueError, match="label 'z'"):
        TABLE.ops("z")
    with pytest.raises(ValueError, match=r"lacks labels \['y'\]"):
        TABLE.total({"x": "cheap"})
    shared = OpCostTable.from_per_op({"a": 1.0, "b": 3.0}, labels={"normal": 6, "reduce": 2}, unit="ms")
    assert shared.to_dict() == {"normal": {"a": 6.0, "b": 18.0}, "reduce": {"a": 2.0, "b": 6.0}}
    plain = OpCostTable.from_per_op({"a": 1.0}, labels=["p", "q"], unit="ms")
    assert plain.to_dict() == {"p": {"a": 1.0}, "q": {"a": 1.0}}
    with pytest.raises(ValueError, match="multiplier of label 'reduce'"):
        OpCostTable.from_per_op({"a": 1.0}, labels={"normal": 1, "reduce": -2}, unit="ms")
    with pytest.raises(ValueError, match="op 'b'"):
        OpCostTable.from_per_op({"a": 1.0, "b": float("nan")}, labels=["p"], unit="ms")


def test_expected_cost_and_penalty_reject_bad_input():
    good = {"x": torch.ones(3), "y": torch.ones(3)}
    with pytest.raises(ValueError, match="label 'y'"):
        expected_cost(TABLE, {"x": torch.ones(3)})
    with pytest.raises(ValueError, match=r"weights\['x'\] has shape \(4,\)"):
        expected_cost(TABLE, {**good, "x": torch.ones(4)})
    with pytest.raises(TypeError, match="tensor"):
        expected_cost(TABLE, {**good, "x": [1.0, 1.0, 1.0]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="op 'conv' of label 'x'"):
        expected_cost(TABLE, good, op_names={"x": ["conv", "mid", "dear"], "y": ["mid", "dear", "cheap"]})
    with pytest.raises(ValueError, match="'cubic'"):
        CostPenalty(TABLE, weight=1.0, mode="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="target"):
        CostPenalty(TABLE, weight=1.0, mode="hinge")
    with pytest.raises(ValueError, match=r"target.*0"):
        CostPenalty(TABLE, weight=1.0, mode="hinge", target=0.0)
    with pytest.raises(ValueError, match="only used by mode='hinge'"):
        CostPenalty(TABLE, weight=1.0, target=3.0)
    with pytest.raises(ValueError, match=r"penalty weight.*-1"):
        CostPenalty(TABLE, weight=-1.0)
    with pytest.raises(ValueError, match="every cost"):
        CostPenalty(OpCostTable({"x": {"a": 0.0}}, unit="ms"), weight=1.0)


# --- CSV ------------------------------------------------------------------------------------------------------
def test_from_csv_round_trip_and_errors(tmp_path):
    path = tmp_path / "lat.csv"
    path.write_text("edge,operation,ms,note\nx,cheap,1.0,\nx,mid,4,\nx,dear,9e0,\ny,dear,6,\ny,cheap,0.5,\ny,mid,2,\n")
    table = OpCostTable.from_csv(path, unit="ms", label_column="edge", op_column="operation", cost_column="ms")
    assert table == TABLE
    cases = {
        "label,op\nx,a\n": r"column 'cost' not in .*\['label', 'op'\]",
        "label,op,cost\nx,a,fast\n": r"line 2: cost 'fast' of 'x'/'a' is not a number",
        "label,op,cost\nx,a,1\nx,a,2\n": r"line 3: duplicate row for label 'x', op 'a'",
        "label,op,cost\nx,a,-2\n": r"'a' of label 'x' \(bad.csv line 2\).*-2",
        "label,op,cost\n,a,1\n": r"line 2: empty label or op",
        "label,op,cost\n": r"no rows",
    }
    for text, match in cases.items():
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(ValueError, match=match):
            OpCostTable.from_csv(tmp_path / "bad.csv", unit="ms")
    with pytest.raises(ValueError, match="does not exist"):
        OpCostTable.from_csv(tmp_path / "missing.csv", unit="ms")
