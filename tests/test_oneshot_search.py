"""The differentiable-search engine: the relaxed supernet, the training loop (first and second order), GDAS's
sampler, determinism, checkpoints and resume, and its errors."""
from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from nni.nas.nn.pytorch import LayerChoice, ModelSpace
from pytorch_lightning.utilities import CombinedLoader
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nni_effnas.oneshot import run_oneshot
from nni_effnas.oneshot.search import NonFiniteLossError, OneShotSearch
from nni_effnas.oneshot.supernet import MixedOp, Supernet
from nni_effnas.search_spaces import get_space
from nni_effnas.search_spaces.base import SearchSpace
from nni_effnas.space import CategoricalSpace
from nni_effnas.strategies.oneshot import ONESHOT, create_method
from nni_effnas.strategies.oneshot.base import zero_output

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"channels": 4, "num_cells": 1}


class _ToyNet(ModelSpace):
    """x -> choice_a -> tanh -> choice_b -> linear: smooth, BatchNorm-free, for exact gradient checks."""

    def __init__(self) -> None:
        super().__init__()
        self.a = LayerChoice({"lin": nn.Linear(3, 3), "neg": _Scale(-1.0), "halve": _Scale(0.5)}, label="a")
        self.b = LayerChoice({"lin": nn.Linear(3, 3), "sq": _Square()}, label="b")
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.b(torch.tanh(self.a(x))))


class _Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class _Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


class _ToySpace(SearchSpace):
    name = "toy"

    def categorical(self) -> CategoricalSpace:
        return CategoricalSpace.from_dict({"a": ["lin", "neg", "halve"], "b": ["lin", "sq"]})

    def model_space(self, **model_kwargs):
        return _ToyNet()

    def to_string(self, sample) -> str:
        return f"{sample['a']}-{sample['b']}"

    def from_string(self, text: str):
        a, b = text.split("-")
        return {"a": a, "b": b}


def test_supernet_relaxes_every_layer_choice_and_shares_logits_per_label():
    space = get_space("nb201")
    net = Supernet(space.supernet_space(**TINY))
    assert net.labels == list(space.categorical().labels) or sorted(net.labels) == sorted(space.categorical().labels)
    assert not any(isinstance(m, LayerChoice) for m in net.modules())
    edges = [m for m in net.modules() if isinstance(m, MixedOp)]
    assert len(edges) == 3 * 6  # three cells of six edges
    assert {tuple(e.names) for e in edges} == {("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")}
    assert {k: tuple(v.shape) for k, v in net.alpha.items()} == {label: (5,) for label in net.labels}


def test_supernet_without_choices_and_mixed_edge_outside_forward_raise():
    with pytest.raises(ValueError, match="no LayerChoice"):
        Supernet(nn.Sequential(nn.Linear(2, 2)))
    net = Supernet(_ToyNet())
    with pytest.raises(RuntimeError, match="outside Supernet.forward"):
        net.network.a(torch.zeros(1, 3))


def test_supernet_keeps_the_weights_of_its_last_forward_pass():
    net = Supernet(_ToyNet())
    method = create_method("gdas", seed=0)
    method.setup(net, space=_ToySpace())
    with pytest.raises(RuntimeError, match="before the supernet's first forward pass"):
        net.last_weights
    mixed: dict[str, torch.Tensor] = {}
    mix = method.mix
    method.mix = lambda edge, h, w: mix(edge, h, mixed.setdefault(edge.label, w))  # type: ignore[method-assign]
    net(torch.randn(4, 3), method=method, training=True)
    kept = net.last_weights
    assert kept.keys() == mixed.keys() == {"a", "b"} and all(kept[k] is w for k, w in mixed.items())
    sum(w @ torch.arange(1.0, len(w) + 1) for w in kept.values()).backward()  # straight-through to the logits
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())
    with torch.no_grad():
        net(torch.randn(4, 3), method=method, training=False)
    assert all(not w.requires_grad and sorted(w.tolist())[-1] == 1.0 for w in net.last_weights.values())


def test_darts_mixes_with_softmax_weights():
    net = Supernet(_ToyNet())
    method = create_method("darts", seed=0)
    method.setup(net, space=_ToySpace())
    x = torch.randn(4, 3)
    wa = torch.softmax(net.alpha["a"], 0)
    wb = torch.softmax(net.alpha["b"], 0)
    a_out = sum(w * op(x) for w, op in zip(wa, net.network.a.candidates))
    h = torch.tanh(a_out)
    expected = net.network.head(sum(w * op(h) for w, op in zip(wb, net.network.b.candidates)))
    torch.testing.assert_close(net(x, method=method), expected)


def test_gdas_runs_one_candidate_per_label_and_still_trains_the_logits():
    space = get_space("nb201")
    net = Supernet(space.supernet_space(**TINY))
    method = create_method("gdas", seed=1)
    method.setup(net, space=space)
    calls: dict[str, set[int]] = {}
    for edge in net.edges:
        for i, op in enumerate(edge.candidates):
            op.register_forward_hook(lambda m, _i, _o, label=edge.label, i=i: calls.setdefault(label, set()).add(i))
    net(torch.randn(2, 3, 16, 16), method=method, training=True).sum().backward()
    assert set(calls) == set(net.labels) and all(len(ops) == 1 for ops in calls.values())
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())
    method.on_epoch_start(0, 11)
    assert method.tau == pytest.approx(10.0)
    method.on_epoch_start(10, 11)
    assert method.tau == pytest.approx(0.1)


def _arch_grad(module: OneShotSearch, train, val, *, w_lr: float) -> torch.Tensor:
    for a in module.all_arch_parameters():
        a.grad = None
    module._unrolled_arch_step(train, val, w_lr=w_lr)
    return torch.cat([a.grad.flatten() for a in module.all_arch_parameters()])


def test_second_order_gradient_matches_the_exact_unrolled_gradient():
    torch.manual_seed(0)
    module = OneShotSearch(space=_ToySpace(), method=create_method("darts_2nd", seed=0), w_weight_decay=0.0)
    with torch.no_grad():
        for a in module.all_arch_parameters():
            a.copy_(torch.randn(a.shape))
    train = (torch.randn(16, 3), torch.randint(0, 2, (16,)))
    val = (torch.randn(16, 3), torch.randint(0, 2, (16,)))
    xi = 0.1
    weights = module.supernet.weight_parameters()
    before = [w.detach().clone() for w in weights]
    approx = _arch_grad(module, train, val, w_lr=xi)
    assert all(torch.equal(w, b) for w, b in zip(weights, before))  # the virtual step is undone

    # exact: d/d alpha of L_val(w - xi * grad_w L_train(w, alpha), alpha), through torch.func
    from torch.func import functional_call

    names = [n for n, _ in module.supernet.network.named_parameters()]
    labels = module.supernet.labels
    method = module.method

    def loss(params, alphas, batch):
        module.supernet._mixing.method = method
        module.supernet._mixing.weights = {l: torch.softmax(a, 0) for l, a in zip(labels, alphas)}
        out = functional_call(module.supernet.network, dict(zip(names, params)), (batch[0],))
        return nn.functional.cross_entropy(out, batch[1])

    alphas = [module.supernet.alpha[l].detach().clone().requires_grad_() for l in labels]
    params = [w.detach().clone().requires_grad_() for w in weights]
    g_train = torch.autograd.grad(loss(params, alphas, train), params, create_graph=True)
    unrolled = [p - xi * g for p, g in zip(params, g_train)]
    exact = torch.cat([g.flatten() for g in torch.autograd.grad(loss(unrolled, alphas, val), alphas)])
    first_order = torch.cat([g.flatten() for g in torch.autograd.grad(loss(params, alphas, val), alphas)])
    torch.testing.assert_close(approx, exact, rtol=2e-2, atol=2e-4)
    assert not torch.allclose(exact, first_order, rtol=1e-3, atol=1e-5)


def test_each_backward_pass_computes_only_the_gradients_its_step_uses():
    """First order: the architecture step's backward reaches the logits only, the weight step's the weights
    only (a full backward would compute the other half for nothing); alpha.grad is the validation loss's."""
    torch.manual_seed(0)
    module = OneShotSearch(space=_ToySpace(), method=create_method("darts", seed=0))
    train = (torch.randn(8, 3), torch.randint(0, 2, (8,)))
    val = (torch.randn(8, 3), torch.randint(0, 2, (8,)))
    arch, weights = module.all_arch_parameters(), module.supernet.weight_parameters()
    expected = torch.autograd.grad(module.arch_loss(val), arch)
    computed = {"arch": 0, "weights": 0}
    for group, params in (("arch", arch), ("weights", weights)):
        for p in params:
            p.register_hook(lambda g, group=group: computed.__setitem__(group, computed[group] + 1))
    seen = {}

    class Grab(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            seen["alpha"] = [a.grad.clone() for a in pl_module.all_arch_parameters()]

    loader = CombinedLoader({"train": DataLoader(TensorDataset(*train), batch_size=8),
                             "val": DataLoader(TensorDataset(*val), batch_size=8)}, mode="min_size")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pl.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                   callbacks=[Grab()]).fit(module, train_dataloaders=loader)
    assert computed == {"arch": len(arch), "weights": len(weights)}  # once each: one step, one backward each
    for got, want in zip(seen["alpha"], expected):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("space_name, kwargs", [("nb201", TINY), ("darts", {"channels": 4, "layers": 3})])
def test_none_ops_are_left_out_with_the_same_output_and_gradients(space_name, kwargs):
    space = get_space(space_name)
    torch.manual_seed(0)
    net = Supernet(space.supernet_space(**kwargs))
    method = create_method("darts", seed=0)
    method.setup(net, space=space)
    with torch.no_grad():
        for a in net.arch_parameters():
            a.copy_(torch.randn(a.shape))
    zeros = [op for edge in net.edges for op in edge.candidates if getattr(op, "always_zero", False)]
    assert len(zeros) == len(net.edges)  # every edge of both spaces offers ``none``
    x = torch.randn(2, 3, 16, 16)
    params = net.arch_parameters() + net.weight_parameters()

    def run():
        net.eval()  # BatchNorm in eval: both passes see the same statistics
        out = net(x, method=method, training=True)
        return out, torch.autograd.grad(out.square().sum(), params, allow_unused=True)

    skipped, skipped_grads = run()
    for op in zeros:
        op.always_zero = False  # computed and multiplied in, as in the reference code
    full, full_grads = run()
    torch.testing.assert_close(skipped, full)
    for a, b in zip(skipped_grads, full_grads):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b)


def test_an_edge_with_every_term_left_out_gives_zeros_of_its_output_shape():
    space = get_space("darts")
    net = Supernet(space.supernet_space(channels=4, layers=3))
    method = create_method("darts", seed=0)
    edge = next(e for e in net.edges if e.candidates[e.names.index("none")].stride == 2)  # a reduction edge
    x = torch.randn(2, next(m for m in edge.modules() if isinstance(m, nn.Conv2d)).in_channels, 8, 8)
    one_hot = torch.zeros(len(edge.names))
    one_hot[edge.names.index("none")] = 1.0  # a derived, hard choice of ``none``: no gradient needed
    out = method.mix(edge, x, one_hot)
    assert out.shape == (2, x.shape[1], 4, 4) and not out.any()
    assert zero_output(edge, x).shape == out.shape


@pytest.fixture(scope="module")
def digits_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [run_oneshot(method="darts", dataset="digits", epochs=2, batch_size=32, model_kwargs=TINY, seed=3)
                for _ in range(2)]


def test_run_oneshot_is_deterministic_and_reports_a_history(digits_run):
    first, second = digits_run
    assert first.sample == second.sample and first.weights == second.weights
    assert [h["epoch"] for h in first.history] == [0, 1]
    assert {"train_loss", "train_acc", "arch_loss", "val_acc", "derived"} <= set(first.history[0])
    assert first.arch == get_space("nb201").to_string(first.sample)
    assert first.seconds_per_step > 0 and first.epochs == 2
    assert all(abs(sum(w.values()) - 1) < 1e-5 for w in first.weights.values())


def test_checkpoint_and_resume_continue_the_search(tmp_path):
    kwargs = dict(method="gdas", dataset="digits", batch_size=32, model_kwargs=TINY, seed=0,
                  checkpoint_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = run_oneshot(epochs=1, **kwargs)
        assert (tmp_path / "last.ckpt").is_file() and len(one.history) == 1
        resumed = run_oneshot(epochs=2, resume=True, **kwargs)
    assert [h["epoch"] for h in resumed.history] == [0, 1]
    assert resumed.history[0] == one.history[0]
    with pytest.raises(ValueError, match="checkpoint_dir"):
        run_oneshot(epochs=1, resume=True, dataset="digits")


def test_non_finite_loss_stops_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(ONESHOT.get("darts"), "arch_regularizer", lambda self, alpha: torch.tensor(float("nan")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NonFiniteLossError, match=r"validation loss became nan.*last.ckpt"):
            run_oneshot(method="darts", dataset="digits", epochs=1, batch_size=32, model_kwargs=TINY,
                        checkpoint_dir=tmp_path)


def test_bad_arguments_raise_one_line_errors():
    with pytest.raises(ValueError, match="unknown one-shot method 'dartz'"):
        create_method("dartz")
    with pytest.raises(ValueError, match="bad arguments for one-shot method 'gdas'"):
        create_method("gdas", temperature=3)
    with pytest.raises(ValueError, match="tau_min"):
        create_method("gdas", tau_min=5, tau_max=1)
    with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
        run_oneshot(epochs=0, dataset="digits")
    with pytest.raises(ValueError, match="w_lr must be a finite number > 0, got 0"):
        OneShotSearch(space=_ToySpace(), method=create_method("darts"), w_lr=0)
    with pytest.raises(ValueError, match="grad_clip must be a finite number > 0, got inf"):
        OneShotSearch(space=_ToySpace(), method=create_method("darts"), grad_clip=float("inf"))
    with pytest.raises(ValueError, match="init_scale must be a finite number >= 0, got True"):
        create_method("darts", init_scale=True)
