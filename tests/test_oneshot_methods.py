"""Every registered one-shot method on tiny NAS-Bench-201 and DARTS supernets (2 training steps each: gradients,
determinism, resume), and one behavioural test per paper."""
from __future__ import annotations

import logging
import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import CombinedLoader
from torch.utils.data import DataLoader, TensorDataset

from nni_effnas.oneshot.search import OneShotSearch
from nni_effnas.oneshot.supernet import Supernet
from nni_effnas.search_spaces import get_space
from nni_effnas.strategies.oneshot import ONESHOT, create_method, darts_pt

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"nb201": {"channels": 4, "num_cells": 1}, "darts": {"channels": 4, "layers": 3}}
METHODS = ONESHOT.names()


@pytest.fixture(autouse=True)
def _quiet_lightning():
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _batches(seed: int, n: int = 8, size: int = 16) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g))
    return DataLoader(data, batch_size=4)


def _module(space: str, name: str, *, seed: int = 0, **method_args) -> OneShotSearch:
    pl.seed_everything(seed, verbose=False)
    return OneShotSearch(space=get_space(space), method=create_method(name, seed=seed, **method_args),
                         model_kwargs=TINY[space])


def _trainer(max_epochs: int = 1, callbacks=()) -> pl.Trainer:
    return pl.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      callbacks=list(callbacks))


def _fit(module: OneShotSearch, max_epochs: int = 1, callbacks=()) -> pl.Trainer:
    """Two training steps per epoch (two batches of 4 for the weights, two for the architecture)."""
    trainer = _trainer(max_epochs, callbacks)
    trainer.fit(module, train_dataloaders=CombinedLoader({"train": _batches(1), "val": _batches(2)}, mode="min_size"))
    return trainer


def _arch_grads(module: OneShotSearch) -> list[torch.Tensor]:
    x, y = next(iter(_batches(3, n=2, size=8)))
    for p in module.all_arch_parameters():
        p.grad = None
    module.train()
    loss = module._arch_loss_with_penalties(x, y)
    loss.backward()
    return [torch.zeros_like(p) if p.grad is None else p.grad for p in module.all_arch_parameters()]


def _check_method(space: str, name: str) -> None:
    first = _module(space, name)
    alpha0 = {k: v.detach().clone() for k, v in first.supernet.alpha.items()}
    _fit(first)
    assert any(not torch.equal(alpha0[k], v) for k, v in first.supernet.alpha.items())  # the arch steps ran
    second = _module(space, name)
    _fit(second)
    assert first.derived_sample() == second.derived_sample()
    x = next(iter(_batches(4)))[0]
    first.eval(), second.eval()
    with torch.no_grad():
        torch.testing.assert_close(first(x), second(x), rtol=0, atol=0)

    # resume: a fresh module + method loaded from the states continues exactly as the original does
    resumed = _module(space, name, seed=1)
    resumed.load_state_dict(first.state_dict())
    resumed.method.load_state_dict(first.method.state_dict())
    first.train(), resumed.train()
    with torch.no_grad():
        out_first = first.supernet(x, method=first.method, training=True)
        out_resumed = resumed.supernet(x, method=resumed.method, training=True)
    torch.testing.assert_close(out_first, out_resumed, rtol=0, atol=0)
    a, b = first.method.state_dict(), resumed.method.state_dict()
    assert a.keys() == b.keys() and torch.equal(a["generator"], b["generator"])
    _check_gradients(first)


def _check_gradients(module: OneShotSearch) -> None:
    n_alpha = len(module.supernet.arch_parameters())
    grads = _arch_grads(module)
    assert all(g.abs().sum() > 0 for g in grads[:n_alpha])  # every label's logits get a gradient
    if len(grads) > n_alpha:
        assert sum(float(g.abs().sum()) for g in grads[n_alpha:]) > 0  # and the method's own parameters


@pytest.mark.parametrize("name", METHODS)
def test_method_trains_deterministically_and_resumes_on_nb201(name):
    _check_method("nb201", name)


@pytest.fixture(scope="module")
def darts_supernets():
    """One tiny DARTS supernet per ``op_channels_divisor`` (building one costs about a second), shared by the
    methods: each test's ``method.setup`` re-initialises the logits."""
    space = get_space("darts")
    cache: dict[int, Supernet] = {}

    def get(divisor: int) -> Supernet:
        if divisor not in cache:
            torch.manual_seed(0)
            cache[divisor] = Supernet(space.supernet_space(**TINY["darts"], op_channels_divisor=divisor))
        return cache[divisor]

    return get


@pytest.mark.parametrize("name", METHODS)
def test_method_runs_on_the_darts_space(name, darts_supernets):
    """One architecture backward pass on a 3-cell DARTS supernet (normal cell, reduction cell with stride-2
    edges, normal cell): the shapes fit, every logit (and extra parameter) gets a gradient, and the space
    derives a valid cell from the method's strengths."""
    space = get_space("darts")
    method = create_method(name, seed=0)
    net = darts_supernets(method.supernet_kwargs().get("op_channels_divisor", 1))
    method.setup(net, space=space)
    method.on_epoch_start(0, 1)
    params = net.arch_parameters() + method.extra_arch_parameters()
    for p in params:
        p.grad = None
    x, y = next(iter(_batches(3, n=2, size=8)))
    net.train()
    loss = torch.nn.functional.cross_entropy(net(x, method=method, training=True), y)
    extra = method.arch_regularizer(dict(net.alpha))
    (loss if extra is None else loss + extra).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.arch_parameters())
    if method.extra_arch_parameters():
        assert sum(float(p.grad.abs().sum()) for p in method.extra_arch_parameters() if p.grad is not None) > 0
    strengths = {k: dict(zip(net.op_names[k], map(float, v))) for k, v in method.strengths(dict(net.alpha)).items()}
    assert space.categorical().validate(method.derive(space, strengths))


def _supernet(name: str, space: str = "nb201", **method_args):
    space_obj = get_space(space)
    method = create_method(name, seed=0, **method_args)
    net = Supernet(space_obj.supernet_space(**TINY[space], **method.supernet_kwargs()))
    method.setup(net, space=space_obj)
    return net, method


# --- FairDARTS ------------------------------------------------------------------------------------------------
def test_fair_darts_weights_are_independent_sigmoids_and_l01_pushes_them_apart():
    from nni_effnas.strategies.oneshot.fair_darts import zero_one_loss

    net, method = _supernet("fair_darts", w01=10.0)
    weights = method.edge_weights(dict(net.alpha), training=True)
    assert all(abs(float(w.sum()) - 1.0) > 0.5 for w in weights.values())  # ~5 x 0.5, not a softmax
    alpha = {"a": torch.tensor([0.0, 2.0]), "b": torch.tensor([-1.0])}
    by_hand = -((0.5 - 0.5) ** 2 + (1 / (1 + math.exp(-2)) - 0.5) ** 2 + (1 / (1 + math.e) - 0.5) ** 2) / 3
    assert float(zero_one_loss(alpha)) == pytest.approx(by_hand)
    params = {k: v.detach().clone().requires_grad_() for k, v in net.alpha.items()}
    before = torch.cat([(torch.sigmoid(p) - 0.5).abs().detach() for p in params.values()])
    opt = torch.optim.SGD(params.values(), lr=1.0)
    for _ in range(5):
        opt.zero_grad()
        method.arch_regularizer(params).backward()
        opt.step()
    after = torch.cat([(torch.sigmoid(p) - 0.5).abs().detach() for p in params.values()])
    assert (after > before).all()
    assert method.strengths(dict(net.alpha))["edge_0_1"].tolist() == pytest.approx(
        torch.sigmoid(net.alpha["edge_0_1"]).tolist())


# logits (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3) with `none` the strongest sigmoid on
# every edge and, besides edge_0_1's nor_conv_3x3, every other op below FairDARTS's 0.85
_NONE_EVERYWHERE = {
    "edge_0_1": [4.0, -3.0, -3.0, 3.0, -3.0],
    "edge_0_2": [4.0, 0.6, -3.0, -3.0, -3.0],
    "edge_1_2": [4.0, -3.0, -0.2, -3.0, -3.0],
    "edge_0_3": [4.0, -3.0, -3.0, 0.2, -3.0],
    "edge_1_3": [4.0, -3.0, 0.8, -3.0, -3.0],
    "edge_2_3": [4.0, -3.0, -3.0, -3.0, 0.4],
}
_INTO_3 = ("edge_0_3", "edge_1_3", "edge_2_3")


def _fair_darts_strengths(method, logits):
    names = get_space("nb201").categorical().as_dict()["edge_0_1"]
    alpha = {label: torch.tensor(row) for label, row in logits.items()}
    return {label: dict(zip(names, map(float, s))) for label, s in method.strengths(alpha).items()}


def test_fair_darts_derivation_ignores_none_thresholds_and_keeps_the_cell_connected():
    space = get_space("nb201")
    module = _module("nb201", "fair_darts", threshold=0.85)  # the paper's threshold (the default is 0)
    with torch.no_grad():
        for label, row in _NONE_EVERYWHERE.items():
            module.supernet.alpha[label].copy_(torch.tensor(row))
    strengths = _fair_darts_strengths(module.method, _NONE_EVERYWHERE)
    assert {space.derive(strengths)[label] for label in _INTO_3} == {"none"}  # the argmax: output cut off
    # only edge_0_1 reaches 0.85, which leaves node 3 unreachable: the strongest dropped edge, edge_1_3
    # (sigmoid(0.8) = 0.69), comes back and connects it; `none`'s 0.98 is never chosen
    connected = {"edge_0_1": "nor_conv_3x3", "edge_0_2": "none", "edge_1_2": "none", "edge_0_3": "none",
                 "edge_1_3": "nor_conv_1x1", "edge_2_3": "none"}
    assert module.derived_sample() == connected
    assert module.method.derive(space, strengths) == connected
    # above the threshold and connected: the paper's sparse cell, no fallback
    above = {**_NONE_EVERYWHERE, "edge_0_3": [4.0, -3.0, -3.0, 3.0, -3.0]}
    assert module.method.derive(space, _fair_darts_strengths(module.method, above)) == {
        **dict.fromkeys(_NONE_EVERYWHERE, "none"), "edge_0_1": "nor_conv_3x3", "edge_0_3": "nor_conv_3x3"}
    # threshold 0 (the default): every edge keeps its strongest non-`none` op
    every = create_method("fair_darts")
    assert every.threshold == 0.0
    assert every.derive(space, strengths) == {
        "edge_0_1": "nor_conv_3x3", "edge_0_2": "skip_connect", "edge_1_2": "nor_conv_1x1",
        "edge_0_3": "nor_conv_3x3", "edge_1_3": "nor_conv_1x1", "edge_2_3": "avg_pool_3x3"}
    # no connected choice exists when the strengths offer only `none` into node 3: that cell, not an error
    only_none = {label: ({"none": 0.9} if label in _INTO_3 else row) for label, row in strengths.items()}
    assert {module.method.derive(space, only_none)[label] for label in _INTO_3} == {"none"}
    for bad in (1.5, -0.1, True):
        with pytest.raises(ValueError, match="threshold must be a number in"):
            create_method("fair_darts", threshold=bad)


# --- PC-DARTS ------------------------------------------------------------------------------------------------------
def test_pc_darts_ops_see_a_quarter_of_the_channels_and_hold_far_fewer_parameters():
    net, method = _supernet("pc_darts")
    seen: set[tuple[int, int]] = set()
    for edge in net.edges:
        for op in edge.candidates:
            op.register_forward_pre_hook(lambda m, args, edge=edge: seen.add((id(edge), args[0].shape[1])))
    widths = {}
    for edge in net.edges:
        edge.register_forward_pre_hook(lambda m, args: widths.update({id(m): args[0].shape[1]}))
    out = net(torch.randn(2, 3, 16, 16), method=method, training=True)
    assert out.shape == (2, 10)
    assert seen == {(edge_id, widths[edge_id] // 4) for edge_id in widths}

    darts_net, _ = _supernet("darts")
    op_params = lambda n: sum(p.numel() for e in n.edges for p in e.candidates.parameters())  # noqa: E731
    assert 0 < op_params(net) <= op_params(darts_net) / 4

    weights = method.edge_weights(dict(net.alpha), training=True)
    betas = method.normalised_betas()
    for label, w in weights.items():
        assert float(w.sum()) == pytest.approx(float(betas[label]))
    groups = get_space("nb201").edge_groups()
    for node in set(groups.values()):
        assert sum(float(betas[label]) for label in groups if groups[label] == node) == pytest.approx(1.0)


def test_pc_darts_bypass_is_scaled_shuffled_and_pooled_on_stride_two_edges():
    from nni_effnas.strategies.oneshot.pc_darts import shuffled_concat

    net, method = _supernet("pc_darts", space="darts")
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert shuffled_concat(list(x.split(2, dim=1))).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    reduce_edge = next(e for e in net.edges if e.label == "reduce_0_2")
    weights = torch.zeros(len(reduce_edge.names))
    weights[reduce_edge.names.index("none")] = 0.5  # the mixed part is zero, the bypass is scaled by 0.5
    x = torch.randn(2, 8, 8, 8)
    out = method.mix(reduce_edge, x, weights)
    assert out.shape == (2, 8, 4, 4)
    expected_bypass = 0.5 * torch.nn.functional.max_pool2d(x[:, 2:], 2, 2)
    unshuffled = out.view(2, 2, 4, 4, 4).transpose(1, 2).reshape(2, 8, 4, 4)  # inverse of the shuffle
    torch.testing.assert_close(unshuffled[:, 2:], expected_bypass)
    assert unshuffled[:, :2].abs().sum() == 0


# --- DARTS- -------------------------------------------------------------------------------------------------------
def test_darts_minus_beta_decays_to_zero_and_the_auxiliary_skip_is_in_the_output():
    net, method = _supernet("darts_minus", beta0=1.0)
    betas = []
    for epoch in range(5):
        method.on_epoch_start(epoch, 5)
        betas.append(method.beta)
    assert betas == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    edge = net.edges[0]
    x = torch.randn(2, 4, 8, 8)
    zero = torch.zeros(len(edge.names))
    method.on_epoch_start(1, 5)
    torch.testing.assert_close(method.mix(edge, x, zero), 0.75 * x)  # identity skip, weighted by beta
    method.on_epoch_start(4, 5)
    assert method.mix(edge, x, zero).abs().sum() == 0
    darts_net, darts_minus = _supernet("darts_minus", space="darts")
    reduce_edge = next(e for e in darts_net.edges if e.label == "reduce_1_2")
    out = darts_minus.mix(reduce_edge, torch.randn(2, 8, 8, 8), torch.zeros(len(reduce_edge.names)))
    assert out.shape == (2, 8, 4, 4) and out.abs().sum() > 0  # FactorizedReduce on a stride-2 edge


# --- DARTS+ ------------------------------------------------------------------------------------------------------
def test_darts_plus_stops_the_run_when_the_skip_rule_fires():
    module = _module("nb201", "darts_plus", criterion="skip", max_skips=2)
    with torch.no_grad():
        for label, a in module.supernet.alpha.items():
            a[module.op_names(label).index("skip_connect")] = 5.0
    callbacks = module.method.callbacks()
    trainer = _fit(module, max_epochs=5, callbacks=callbacks)
    assert trainer.current_epoch == 1  # stopped after the first epoch of five
    assert "skip connections" in callbacks[0].stop_reason
    assert not callbacks[0].hessian
    _, darts_plus = _supernet("darts_plus", space="darts")
    assert darts_plus.label_prefix == "normal_"


# --- DrNAS -----------------------------------------------------------------------------------------------------------
def test_drnas_samples_differ_per_step_are_seeded_and_the_mean_is_used_at_eval():
    net, method = _supernet("drnas")
    alpha = dict(net.alpha)
    state = torch.get_rng_state()
    first = method.edge_weights(alpha, training=True)
    second = method.edge_weights(alpha, training=True)
    assert torch.equal(state, torch.get_rng_state())  # the global stream is untouched
    assert all(not torch.allclose(first[k], second[k]) for k in alpha)
    assert all(float(w.sum()) == pytest.approx(1.0) for w in first.values())
    _, again = _supernet("drnas")
    assert all(torch.equal(first[k], w) for k, w in again.edge_weights(alpha, training=True).items())
    evaluation = method.edge_weights(alpha, training=False)
    for label, a in alpha.items():
        c = torch.nn.functional.elu(a) + 1
        torch.testing.assert_close(evaluation[label], c / c.sum())
    zero = {k: torch.zeros_like(v) for k, v in alpha.items()}  # concentration 1 = the prior: KL 0
    assert float(method.arch_regularizer(zero)) == pytest.approx(0.0, abs=1e-6)
    assert float(method.arch_regularizer({k: v + 1.0 for k, v in zero.items()})) > 0


# --- beta-DARTS ------------------------------------------------------------------------------------------------------
def test_beta_darts_regulariser_by_hand():
    method = create_method("beta_darts", lam_min=0.0, lam_max=2.0)
    alpha = {"a": torch.tensor([0.0, math.log(3.0)]), "b": torch.tensor([1.0, 1.0, 1.0])}
    method.on_epoch_start(0, 5)
    assert method.lam == 0.0 and method.arch_regularizer(alpha) is None
    method.on_epoch_start(2, 5)
    assert method.lam == pytest.approx(1.0)
    by_hand = 1.0 * (math.log(1 + 3) + (1 + math.log(3))) / 2
    assert float(method.arch_regularizer(alpha)) == pytest.approx(by_hand)
    method.on_epoch_start(4, 5)
    assert float(method.arch_regularizer(alpha)) == pytest.approx(2 * by_hand)


# --- P-DARTS ---------------------------------------------------------------------------------------------------------
def test_p_darts_masks_dropped_ops_and_drops_out_skips():
    keep = {"edge_0_1": ["skip_connect", "nor_conv_3x3"], "edge_1_3": ["none"]}
    net, method = _supernet("p_darts", keep=keep, skip_dropout=0.5)
    calls: dict[str, set[str]] = {}
    for edge in net.edges:
        for name, op in zip(edge.names, edge.candidates):
            op.register_forward_hook(lambda m, i, o, label=edge.label, name=name: calls.setdefault(label, set()).add(name))
    net.train()
    net(torch.randn(2, 3, 16, 16), method=method, training=True).sum().backward()
    assert calls["edge_0_1"] == {"skip_connect", "nor_conv_3x3"} and calls["edge_1_3"] == {"none"}
    assert calls["edge_0_2"] == set(net.op_names["edge_0_2"]) - {"none"}  # the none term is left out
    weights = method.edge_weights(dict(net.alpha), training=True)
    assert weights["edge_0_1"][[0, 2, 4]].tolist() == [0.0, 0.0, 0.0]
    assert float(weights["edge_0_1"].sum()) == pytest.approx(1.0)
    assert net.alpha["edge_0_1"].grad[[0, 2, 4]].abs().sum() == 0
    assert net.alpha["edge_0_1"].grad[[1, 3]].abs().sum() > 0
    strengths = {k: dict(zip(net.op_names[k], map(float, v))) for k, v in method.strengths(dict(net.alpha)).items()}
    assert get_space("nb201").derive(strengths)["edge_1_3"] == "none"
    edge = next(e for e in net.edges if e.label == "edge_0_1")
    dropped = method._dropout(torch.ones(1000))
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # p = 0.5 at epoch 0, rescaled by 1 / (1 - p)
    method.on_epoch_start(5, 10)
    assert method.dropout_rate == pytest.approx(0.5 * math.exp(-1.0))
    assert edge.label == "edge_0_1"
    with pytest.raises(ValueError, match="non-empty subset"):
        _supernet("p_darts", keep={"edge_0_1": ["sep_conv_3x3"]})


def test_p_darts_limit_skips_keeps_the_strongest_skips():
    from nni_effnas.strategies.oneshot.p_darts import limit_skips, top_ops

    space = get_space("nb201")
    ops = list(space.categorical().as_dict()["edge_0_1"])
    weights = {label: dict.fromkeys(ops, 0.1) for label in space.categorical().labels}
    for label, skip in (("edge_0_1", 0.9), ("edge_0_2", 0.5), ("edge_1_2", 0.7)):
        weights[label]["skip_connect"] = skip
    weights["edge_0_2"]["nor_conv_1x1"] = 0.3
    sample = limit_skips(space, weights, max_skips=1)
    assert sample["edge_0_1"] == "skip_connect"
    assert sample["edge_0_2"] == "nor_conv_1x1" and sample["edge_1_2"] == "none"  # ties: the first op
    assert top_ops({"e": {"a": 0.1, "b": 0.5, "c": 0.0, "d": 0.3}}, 2) == {"e": ["b", "d"]}


def test_run_pdarts_keeps_the_top_ops_from_stage_to_stage():
    from nni_effnas.strategies.oneshot.p_darts import run_pdarts

    result = run_pdarts(space="nb201", dataset="digits", epochs=1, batch_size=16, limit=64, val_limit=32,
                        model_kwargs={"channels": 4}, depths=(1, 2, 3), keep_ops=(4, 3), max_skips=1, seed=0)
    stages = result.extra["stages"]
    assert [s["depth"] for s in stages] == [1, 2, 3] and stages[0]["keep"] is None
    for previous, stage, n in ((stages[0], stages[1], 4), (stages[1], stages[2], 3)):
        for label, kept in stage["keep"].items():
            row = previous["weights"][label]
            assert len(kept) == n
            assert min(row[op] for op in kept) >= max(row[op] for op in row if op not in kept)
    for label, kept in stages[2]["keep"].items():
        assert result.sample[label] in kept
        assert all(v == 0.0 for op, v in result.weights[label].items() if op not in kept)
    assert sum(op == "skip_connect" for op in result.sample.values()) <= 1
    assert result.arch == get_space("nb201").to_string(result.sample)


def test_every_method_searches_under_its_registry_key():
    """OneShotMethod.search runs run_oneshot(method=cls.name): every class's name must be its key."""
    assert all(ONESHOT.get(name).name == name for name in ONESHOT.names())


def test_run_pdarts_resumes_by_stage(tmp_path, monkeypatch):
    """Finished stages are loaded, not searched again; an unfinished one continues from its checkpoint; a stage
    that runs again (here: more epochs) makes the later ones start afresh."""
    import nni_effnas.oneshot.runner as runner
    from nni_effnas.strategies.oneshot.p_darts import run_pdarts

    real, calls = runner.run_oneshot, []

    def spy(**kwargs):
        calls.append((kwargs["method_args"]["stage"], kwargs["resume"]))
        return real(**kwargs)

    monkeypatch.setattr(runner, "run_oneshot", spy)
    kwargs = dict(space="nb201", dataset="digits", batch_size=16, limit=64, val_limit=32, seed=0,
                  model_kwargs={"channels": 4}, depths=(1, 2), keep_ops=(3,), checkpoint_dir=tmp_path)
    first = run_pdarts(epochs=1, **kwargs)
    assert calls == [(1, False), (2, False)]
    assert all((tmp_path / f"stage-{n}" / name).is_file() for n in (1, 2) for name in ("last.ckpt", "result.json"))
    calls.clear()
    again = run_pdarts(epochs=1, resume=True, **kwargs)
    assert calls == [] and again.sample == first.sample and again.weights == first.weights
    assert again.extra["stages"][1]["keep"] == first.extra["stages"][1]["keep"]
    (tmp_path / "stage-2" / "result.json").unlink()  # stopped after stage 2's last checkpoint
    again = run_pdarts(epochs=1, resume=True, **kwargs)
    assert calls == [(2, True)] and again.sample == first.sample and again.weights == first.weights
    calls.clear()
    longer = run_pdarts(epochs=2, resume=True, **kwargs)
    assert calls == [(1, True), (2, False)]
    assert [len(s["history"]) for s in longer.extra["stages"]] == [2, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"depths": (1, 0), "keep_ops": (3,)}, "depths must be ints >= 1"),
    ({"depths": (1, 2), "keep_ops": (3.5,)}, "keep_ops must be ints >= 1"),
    ({"depths": (1, 2), "keep_ops": ()}, "2 stages need 1 keep_ops"),
    ({"max_skips": -1}, "max_skips must be an int >= 0"),
    ({"method_args": {"keep": {}}}, "are set by P-DARTS's stages"),
    ({"resume": True}, "resume=True needs a checkpoint_dir"),
])
def test_run_pdarts_bad_stage_settings(kwargs, message):
    from nni_effnas.oneshot import search_oneshot

    method_args = {**kwargs.pop("method_args", {}), **kwargs}  # stage settings among method arguments too
    with pytest.raises(ValueError, match=message):
        search_oneshot(method="p_darts", dataset="digits", epochs=1, resume=method_args.pop("resume", False),
                       method_args=method_args)


def test_cli_list_names_every_one_shot_method(capsys):
    from nni_effnas.cli import main

    assert main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("one-shot methods: "))
    assert line.split(": ", 1)[1].split(", ") == ONESHOT.names()


def test_darts_plus_runs_beside_a_second_collapse_monitor(tmp_path):
    """bench oneshot adds its own monitor; DARTS+ brings an early-stopping one: both must checkpoint."""
    from nni_effnas.oneshot import run_oneshot
    from nni_effnas.oneshot.monitor import CollapseMonitor

    monitor = CollapseMonitor(hessian=False)
    result = run_oneshot(method="darts_plus", dataset="digits", epochs=1, batch_size=32,
                         model_kwargs={"channels": 4, "num_cells": 1}, callbacks=[monitor], checkpoint_dir=tmp_path)
    assert len(monitor.history) == 1 and result.epochs == 1 and (tmp_path / "last.ckpt").is_file()


# --- DARTS-PT -----------------------------------------------------------------------------------------------------
def test_darts_pt_removing_an_op_zeroes_its_weight_and_a_selected_edge_is_one_hot():
    net, method = _supernet("darts_pt")
    label = net.labels[0]
    soft = method.edge_weights(dict(net.alpha), training=False)
    method.removed = (label, 2)
    removed = method.edge_weights(dict(net.alpha), training=False)
    assert float(removed[label][2]) == 0.0  # the others keep their softmax weights: no renormalisation
    torch.testing.assert_close(torch.cat([removed[label][:2], removed[label][3:]]),
                               torch.cat([soft[label][:2], soft[label][3:]]))
    method.removed = None
    method.selected = {label: 3}
    weights = method.edge_weights(dict(net.alpha), training=True)
    assert weights[label].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0] and not weights[label].requires_grad
    strengths = method.strengths(dict(net.alpha))
    assert int(strengths[label].argmax()) == 3 and int((strengths[label] > 0).sum()) == 1


def test_darts_pt_keeps_the_op_whose_removal_costs_most_and_tunes_between_decisions(monkeypatch):
    module = _module("nb201", "darts_pt", tune_steps=2)
    _fit(module)
    labels = module.supernet.labels
    # accuracy (and loss) without op i of label L: op (L's position % 5) is the one the supernet needs;
    # on the first label two removals tie on accuracy and the loss decides
    needed = {label: i % 5 for i, label in enumerate(labels)}

    def fake_evaluate(pl_module, batches):
        label, index = pl_module.method.removed
        if label == labels[0]:
            return {0: (50.0, 1.0), 1: (40.0, 2.0), 2: (40.0, 3.0)}.get(index, (60.0, 0.5))
        return (10.0, 5.0) if index == needed[label] else (60.0, 0.5)

    weights_before = [p.detach().clone() for p in module.supernet.weight_parameters()]
    monkeypatch.setattr(darts_pt, "_evaluate", fake_evaluate)
    loaders = {"train": _batches(1), "val": _batches(2)}
    darts_pt.select_by_perturbation(module, loaders)
    expected = {label: needed[label] for label in labels[1:]}
    expected[labels[0]] = 2  # accuracy ties 1 and 2; removing 2 raises the loss more
    assert module.method.selected == expected
    assert [entry["label"] for entry in module.method.selection] != labels  # a shuffled order
    assert sorted(entry["label"] for entry in module.method.selection) == sorted(labels)
    names = module.supernet.op_names
    assert module.derived_sample() == {label: names[label][i] for label, i in expected.items()}
    changed = any(not torch.equal(a, b) for a, b in zip(weights_before, module.supernet.weight_parameters()))
    assert changed  # the supernet was tuned between decisions
    selected = dict(module.method.selected)
    darts_pt.select_by_perturbation(module, loaders)  # a resumed search that selected already: left alone
    assert module.method.selected == selected and len(module.method.selection) == len(labels)


def test_darts_pt_selects_after_training_through_its_callback():
    module = _module("nb201", "darts_pt", tune_steps=0)
    _fit(module, callbacks=module.method.callbacks())
    method = module.method
    assert sorted(method.selected) == sorted(module.supernet.labels)
    for entry in method.selection:
        accuracies = entry["accuracy_without"]
        assert set(accuracies) == set(module.supernet.op_names[entry["label"]])
        assert accuracies[entry["selected"]] == min(accuracies.values())
    state = method.state_dict()
    fresh = create_method("darts_pt", seed=5)
    fresh.load_state_dict(state)
    assert fresh.selected == method.selected and fresh.selection == method.selection
    assert method.result_extra() == {"selection": method.selection}
    with pytest.raises(ValueError, match="tune_steps must be an int >= 0"):
        create_method("darts_pt", tune_steps=-1)


def test_darts_pt_in_the_darts_space_selects_each_nodes_inputs_by_perturbation_too(monkeypatch):
    module = _module("darts", "darts_pt", tune_steps=0)
    names = module.supernet.op_names
    # every edge needs sep_conv_3x3; node i needs its edges from node 0 and node i - 1
    needed_edges = {label for label in names if label.split("_")[1] in ("0", str(int(label.split("_")[2]) - 1))}
    measured_edges = []

    def fake_evaluate(pl_module, batches):
        method = pl_module.method
        if method.removed_edge is not None:
            assert method.removed is None and len(method.selected) == len(names)  # ops first, then inputs
            measured_edges.append(method.removed_edge)
            return (20.0, 3.0) if method.removed_edge in needed_edges else (70.0, 0.4)
        label, index = method.removed
        return (10.0, 5.0) if names[label][index] == "sep_conv_3x3" else (60.0, 0.5)

    monkeypatch.setattr(darts_pt, "_evaluate", fake_evaluate)
    darts_pt.select_by_perturbation(module, {"train": _batches(1, size=8), "val": _batches(2, size=8)})
    sample = module.derived_sample()
    assert get_space("darts").categorical().validate(sample) == sample
    for cell in ("normal", "reduce"):
        assert [sample[f"{cell}_{i}_inputs"] for i in (3, 4, 5)] == ["0_2", "0_3", "0_4"]
    assert {op for key, op in sample.items() if "_op" in key} == {"sep_conv_3x3"}
    method = module.method
    nodes = sorted(f"{cell}_{i}" for cell in ("normal", "reduce") for i in (3, 4, 5))
    assert sorted(d["node"] for d in method.inputs) == nodes
    assert [d["node"] for d in method.inputs] != sorted(d["node"] for d in method.inputs)  # a shuffled order
    assert sorted(measured_edges) == sorted(l for l in names if int(l.split("_")[2]) > 2)  # node 2 has no choice
    assert method.dropped == {l for l in names if int(l.split("_")[2]) > 2} - needed_edges
    strengths = module.arch_weights()
    assert all(max(strengths[label].values()) == 0.0 for label in method.dropped)
    assert method.result_extra()["inputs"] == method.inputs
    fresh = create_method("darts_pt", seed=3)
    fresh.load_state_dict(method.state_dict())
    assert fresh.dropped == method.dropped and fresh.inputs == method.inputs
    weights = method.edge_weights(dict(module.supernet.alpha), training=False)
    assert all(float(weights[label].abs().sum()) == 0.0 for label in method.dropped)


def test_darts_pt_never_selects_none_in_the_darts_space_but_does_on_nas_bench_201(monkeypatch):
    """A genotype has no ``none`` op, so in the DARTS space an edge's op is chosen among the others (whether the
    edge is used is the node's input selection); on NAS-Bench-201 ``none`` is an op like any other. Removing
    ``none`` is scripted to hurt most, then ``sep_conv_3x3`` / ``nor_conv_1x1``."""
    for space, second in (("darts", "sep_conv_3x3"), ("nb201", "nor_conv_1x1")):
        module = _module(space, "darts_pt", tune_steps=0)
        names = module.supernet.op_names
        removed = []

        def fake_evaluate(pl_module, batches):
            method = pl_module.method
            if method.removed_edge is not None:
                return (50.0, 1.0)
            label, index = method.removed
            removed.append(names[label][index])
            return {"none": 5.0, second: 10.0}.get(names[label][index], 60.0), 1.0

        monkeypatch.setattr(darts_pt, "_evaluate", fake_evaluate)
        darts_pt.select_by_perturbation(module, {"train": _batches(1, size=8), "val": _batches(2, size=8)})
        chosen = {entry["selected"] for entry in module.method.selection}
        if space == "darts":
            assert chosen == {second} and "none" not in removed
            assert all("none" not in entry["accuracy_without"] for entry in module.method.selection)
            sample = module.derived_sample()
            assert {op for key, op in sample.items() if "_op" in key} == {second}
        else:
            assert chosen == {"none"} and removed.count("none") == len(names)
