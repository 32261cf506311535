"""Tests for ``nni_effnas.proxies``: the contract every registered proxy keeps, sanity orderings on NAS-Bench-201
cells, bad input, rank aggregation, and agreement with NASLib's NAS-Bench-Suite-Zero scores."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES, aggregate_ranks, rank_scores, score
from nni_effnas.search_spaces import get_space

pytestmark = pytest.mark.usefixtures("one_thread")

NASLIB_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201-naslib-zerocost" / "nb201_12proxies_subset.csv"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
CONV_HEAVY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
LABELLED = ("snip", "grasp", "fisher", "grad_norm")  # need targets
NOT_RUN_ON_DATA = ("params",)  # never runs the model


def nb201(arch: str, *, seed: int = 0, channels: int = 8, num_cells: int = 1, num_classes: int = 10) -> nn.Module:
    """A small NAS-Bench-201 network with weights drawn from ``seed`` (global RNG left as it was)."""
    space = get_space("nb201")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return space.build(space.from_string(arch), channels=channels, num_cells=num_cells, num_classes=num_classes)


def batch(*, n: int = 16, shape: tuple[int, ...] = (3, 16, 16), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=generator), torch.randint(0, 10, (n,), generator=generator)


class ToyNet(nn.Module):
    """A generic classifier: in-place ReLUs right after convolutions (no BN between), BN, dropout, a head."""

    def __init__(self, *, inplace: bool) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=inplace), nn.Conv2d(8, 8, 3, padding=1),
            nn.BatchNorm2d(8), nn.ReLU(inplace=inplace),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(8, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))


def toy(*, inplace: bool, seed: int = 0) -> ToyNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return ToyNet(inplace=inplace)


def snapshot(model: nn.Module) -> dict:
    return {
        "tensors": [(t, t.detach().clone()) for t in (*model.parameters(), *model.buffers())],
        "grads": [(p, p.grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        "modes": [(m, m.training) for m in model.modules()],
        "flags": [(p, p.requires_grad) for p in model.parameters()],
        "ids": [id(t) for t in model.state_dict(keep_vars=True).values()],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    assert [id(t) for t in model.state_dict(keep_vars=True).values()] == before["ids"]
    for tensor, saved in before["tensors"]:
        assert tensor.dtype == saved.dtype and torch.equal(tensor, saved)
    for param, grad, saved in before["grads"]:
        assert param.grad is grad and (grad is None or torch.equal(grad, saved))
    assert all(m.training == mode for m, mode in before["modes"])
    assert all(p.requires_grad == flag for p, flag in before["flags"])


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6, abs=1e-12)


def test_registry_holds_the_ten_proxies():
    assert PROXIES.names() == sorted(
        ["synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "nwot", "zen", "params", "flops"]
    )


def test_unknown_proxy_is_the_registry_error():
    model = toy(inplace=False)
    x, y = batch()
    with pytest.raises(ValueError, match=r"unknown proxy 'naswot'; expected one of: .*synflow") as info:
        score(model, "naswot", inputs=x, targets=y)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", PROXIES.names())
def test_model_rng_and_batch_come_back_exactly(name, train):
    model = nb201(CONV_HEAVY).train(train)
    model.classifier.weight.grad = torch.full_like(model.classifier.weight, 0.5)
    model.cells[0].edges["edge_0_1"][2].eval()  # a submodule in the other mode must keep it
    x, y = batch()
    x_before, rng_before, before = x.clone(), torch.get_rng_state(), snapshot(model)
    value = score(model, name, inputs=x, targets=y, seed=7)
    assert isinstance(value, float) and math.isfinite(value)
    assert_unchanged(model, before)
    assert torch.equal(x, x_before) and torch.equal(torch.get_rng_state(), rng_before)


@pytest.mark.parametrize("name", PROXIES.names())
def test_same_seed_same_score(name):
    model, (x, y) = toy(inplace=True), batch()
    first = score(model, name, inputs=x, targets=y, seed=3)
    assert score(model, name, inputs=x, targets=y, seed=3) == first  # exactly, dropout included


@pytest.mark.parametrize("name", PROXIES.names())
def test_in_place_relus_give_the_same_score(name):
    x, y = batch()
    inplace, plain = toy(inplace=True), toy(inplace=False)
    plain.load_state_dict(inplace.state_dict())
    assert same(score(inplace, name, inputs=x, targets=y), score(plain, name, inputs=x, targets=y))


def test_synflow_is_data_free_and_ignores_the_seed():
    model = nb201(CONV_HEAVY)
    (x0, _), (x1, _) = batch(seed=0), batch(seed=1, n=4)
    values = {score(model, "synflow", inputs=x, targets=None, seed=s) for x in (x0, x1) for s in (0, 1, 2)}
    assert len(values) == 1


def test_synflow_bypasses_batchnorm():
    """Abdelfattah et al. score a copy without BN: BN parameters and running statistics do not matter."""
    x, _ = batch()
    model = nb201(CONV_HEAVY)
    reference = score(model, "synflow", inputs=x, targets=None)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(3.0), module.bias.fill_(-2.0), module.running_var.fill_(9.0)
    assert score(model, "synflow", inputs=x, targets=None) == pytest.approx(reference, rel=1e-12)


DEAD_BRANCH = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|none~2|"  # conv fed by `none`


def test_zen_skips_batchnorm_layers_on_dead_branches():
    x, _ = batch()
    model = nb201(DEAD_BRANCH)
    assert math.isfinite(score(model, "zen", inputs=x, targets=None))
    with pytest.raises(ValueError, match="unknown bn_variance 'ema'"):
        PROXIES.get("zen")(model, inputs=x, bn_variance="ema")


def test_random_proxies_depend_on_the_seed():
    x, y = batch()
    model = nb201(CONV_HEAVY)
    assert score(model, "zen", inputs=x, targets=None, seed=0) != score(model, "zen", inputs=x, targets=None, seed=1)
    dropout = toy(inplace=False)
    assert score(dropout, "snip", inputs=x, targets=y, seed=0) != score(dropout, "snip", inputs=x, targets=y, seed=1)


def test_zen_ignores_the_data_and_the_weights():
    (x0, _), (x1, _) = batch(seed=0), batch(seed=1)
    a, b = nb201(CONV_HEAVY, seed=0), nb201(CONV_HEAVY, seed=1)
    assert score(a, "zen", inputs=x0, targets=None) == score(b, "zen", inputs=x1, targets=None)


@pytest.mark.parametrize("name", ["synflow", "params", "flops"])
def test_all_none_cell_scores_below_a_conv_heavy_cell(name):
    x, _ = batch()
    low = score(nb201(ALL_NONE), name, inputs=x, targets=None)
    assert low < score(nb201(CONV_HEAVY), name, inputs=x, targets=None)
    if name == "synflow":
        assert low == 0.0  # no path from input to output


def test_params_counts_trainable_parameters():
    model = nb201(CONV_HEAVY)
    assert score(model, "params", inputs=None, targets=None) == sum(p.numel() for p in model.parameters())
    model.classifier.requires_grad_(False)
    frozen = model.classifier.weight.numel() + model.classifier.bias.numel()
    assert score(model, "params", inputs=None, targets=None) == sum(p.numel() for p in model.parameters()) - frozen


def test_flops_of_a_linear_layer_is_two_per_multiply_accumulate():
    assert score(nn.Linear(10, 5), "flops", inputs=torch.randn(7, 10), targets=None) == 2 * 10 * 5


def test_flops_counts_one_sample_of_a_conv():
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    assert score(conv, "flops", inputs=torch.randn(5, 3, 6, 6), targets=None) == 2 * (3 * 9) * 4 * 36


class FrozenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.mark.parametrize("name", PROXIES.names())
def test_a_model_without_trainable_parameters(name):
    x, y = batch()
    if name in ("params", "flops"):
        expected = 0.0 if name == "params" else float(2 * 27 * 4 * 14 * 14 + 2 * 4 * 10)
        assert score(FrozenNet(), name, inputs=x, targets=y) == expected
        return
    with pytest.raises(ValueError, match=f"{name}: FrozenNet has no trainable parameters"):
        score(FrozenNet(), name, inputs=x, targets=y)


@pytest.mark.parametrize("name", sorted(set(PROXIES.names()) - set(NOT_RUN_ON_DATA)))
def test_a_batch_of_the_wrong_shape_names_the_shape(name):
    model = nb201(CONV_HEAVY)
    x, y = batch(shape=(1, 16, 16))  # the model expects 3 channels
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"cannot run on inputs of shape \((16|1), 1, 16, 16\)") as info:
        score(model, name, inputs=x, targets=y)
    assert "\n" not in str(info.value) and "NB201ModelSpace" in str(info.value)
    assert_unchanged(model, before)


@pytest.mark.parametrize("name", LABELLED)
def test_labelled_proxies_check_their_targets(name):
    model, (x, y) = toy(inplace=False), batch()
    with pytest.raises(ValueError, match="needs targets"):
        score(model, name, inputs=x, targets=None)
    with pytest.raises(ValueError, match=r"targets \(15,\) do not match inputs \(16, 3, 16, 16\)"):
        score(model, name, inputs=x, targets=y[:15])


@pytest.mark.parametrize("name", ["jacob_cov", "nwot"])
def test_batch_statistics_proxies_need_two_samples(name):
    x, y = batch(n=1)
    with pytest.raises(ValueError, match="at least 2"):
        score(toy(inplace=False), name, inputs=x, targets=y)


def test_non_finite_results_are_nan():
    x, y = batch()
    degenerate = nb201(ALL_NONE)  # the output does not depend on the input
    for name in ("jacob_cov", "nwot", "zen"):
        assert math.isnan(score(degenerate, name, inputs=x, targets=y)), name
    poisoned = toy(inplace=False)
    with torch.no_grad():
        poisoned.head[2].weight[0, 0] = float("inf")
    for name in ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov"):
        assert math.isnan(score(poisoned, name, inputs=x, targets=y)), name


def test_nwot_needs_relu_modules():
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    with pytest.raises(ValueError, match="Sequential has no torch.nn.ReLU"):
        score(model, "nwot", inputs=batch()[0], targets=None)


def test_rank_scores_puts_nan_last_and_averages_ties():
    assert rank_scores([0.5, float("nan"), 2.0, 0.5, float("nan")]).tolist() == [3.5, 1.5, 5.0, 3.5, 1.5]


def test_aggregate_ranks_mean_and_sum():
    scores = {"synflow": [3.0, 1.0, 2.0], "nwot": [float("nan"), 5.0, 9.0]}
    assert aggregate_ranks(scores).tolist() == [2.0, 1.5, 2.5]
    assert aggregate_ranks(scores, method="sum").tolist() == [4.0, 3.0, 5.0]


def test_aggregate_ranks_rejects_bad_input():
    with pytest.raises(ValueError, match="same models"):
        aggregate_ranks({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match="at least one"):
        aggregate_ranks({})
    with pytest.raises(ValueError, match="'vote'"):
        aggregate_ranks({"a": [1.0]}, method="vote")


@pytest.mark.skipif(not NASLIB_CSV.exists(), reason="shared NAS-Bench-Suite-Zero data not present")
def test_synflow_and_params_agree_with_naslib_on_full_size_cells():
    """20 CIFAR-10 cells at the paper's size (C=16, N=5): NASLib stores log(synflow) and params in millions."""
    from scipy.stats import spearmanr

    pandas = pytest.importorskip("pandas")
    rows = pandas.read_csv(NASLIB_CSV).query("dataset == 'cifar10'").sample(20, random_state=0)
    x = torch.randn(1, 3, 32, 32)
    ours = {"synflow": [], "params": []}
    for arch in rows["arch_str"]:
        model = nb201(arch, channels=16, num_cells=5)
        for name in ours:
            ours[name].append(score(model, name, inputs=x, targets=None))
    assert spearmanr(np.log(ours["synflow"]), rows["synflow"]).statistic > 0.95
    assert np.abs(np.log(ours["synflow"]) - rows["synflow"].to_numpy()).max() < 0.5  # same quantity, other init
    assert np.array(ours["params"]) / 1e6 == pytest.approx(rows["params"].to_numpy(), abs=1e-9)


@pytest.mark.skipif(not NASLIB_CSV.exists(), reason="shared NAS-Bench-Suite-Zero data not present")
def test_zen_running_variant_reproduces_naslib():
    """NASLib's zen (``running_var`` after two passes) on 10 full-size CIFAR-10 cells: same values up to noise."""
    from scipy.stats import spearmanr

    pandas = pytest.importorskip("pandas")
    zen_csv = NASLIB_CSV.with_name("nb201_zen_valacc_all15625.csv")
    rows = pandas.read_csv(zen_csv).query("dataset == 'cifar10'").sample(10, random_state=0)
    zen = PROXIES.get("zen")
    x = torch.zeros(8, 3, 32, 32)  # only the shape is used
    ours = [zen(nb201(arch, channels=16, num_cells=5), inputs=x, bn_variance="running") for arch in rows["arch_str"]]
    assert spearmanr(ours, rows["zen"]).statistic > 0.9
    assert np.abs(np.array(ours) - rows["zen"].to_numpy()).max() < 6.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", PROXIES.names())
def test_on_gpu_matches_cpu_and_restores(name):
    x, y = batch()
    cpu = score(nb201(CONV_HEAVY), name, inputs=x, targets=y)
    model = nb201(CONV_HEAVY).cuda()
    before = snapshot(model)
    gpu = score(model, name, inputs=x, targets=y)  # a CPU batch is moved to the model's device
    assert_unchanged(model, before)
    assert gpu == pytest.approx(cpu, rel=1e-3, abs=1e-6)
