"""CollapseMonitor and the early-stop rules, on test doubles of the MonitoredSearch protocol."""
from __future__ import annotations

import logging
import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nni_effnas.oneshot.monitor import (
    AnyOf,
    CollapseMonitor,
    EarlyStopRule,
    EigenvalueRatioStop,
    MonitoredSearch,
    SkipCountStop,
    StableArchStop,
    alpha_entropy,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TOY_OPS = {
    "a": ["none", "skip_connect", "linear"],
    "b": ["skip_connect", "linear", "tanh", "avg_pool_3x3"],
    "c": ["skip_connect", "linear"],
}


class AlphaProtocol:
    """The MonitoredSearch protocol over ``self.alpha`` (label -> logits over ``TOY_OPS[label]``)."""

    def arch_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.alpha)

    def op_names(self, label: str) -> list[str]:
        return list(TOY_OPS[label])

    def arch_weights(self) -> dict[str, dict[str, float]]:
        return {k: dict(zip(TOY_OPS[k], torch.softmax(a.detach(), 0).tolist())) for k, a in self.alpha.items()}

    def derived_sample(self) -> dict[str, str]:
        return {k: TOY_OPS[k][int(a.argmax())] for k, a in self.alpha.items()}


class ToySearch(AlphaProtocol, pl.LightningModule):
    """A 3-decision relaxed MLP: each label mixes its ops (softmax(alpha)) on a 4-d hidden vector.

    ``skip_push`` adds ``-skip_push * alpha[skip]`` to the training loss, so SGD drifts to skip connections.
    """

    def __init__(self, *, alphas: dict[str, list[float]] | None = None, skip_push: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        alphas = alphas or {label: [0.0] * len(ops) for label, ops in TOY_OPS.items()}
        self.alpha = nn.ParameterDict({k: nn.Parameter(torch.tensor(v)) for k, v in alphas.items()})
        self.linears = nn.ModuleDict({label: nn.Linear(4, 4) for label in TOY_OPS})
        self.head = nn.Linear(4, 1)
        g = torch.Generator().manual_seed(seed)
        for p in [*self.linears.parameters(), *self.head.parameters()]:
            nn.init.normal_(p, std=0.5, generator=g)
        self.data = (torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g))
        self.monitor_batch = (self.data[0][:8], self.data[1][:8])
        self.skip_push = skip_push
        self.arch_loss_calls = 0

    def _op(self, label: str, op: str, h: torch.Tensor) -> torch.Tensor:
        if op == "none":
            return h * 0.0
        if op == "skip_connect":
            return h
        if op == "linear":
            return self.linears[label](h)
        if op == "tanh":
            return torch.tanh(h)
        return h.mean(dim=1, keepdim=True).expand_as(h)

    def mixed(self, x: torch.Tensor, alphas: dict[str, torch.Tensor]) -> torch.Tensor:
        h = x
        for label, ops in TOY_OPS.items():
            w = torch.softmax(alphas[label], dim=0)
            h = sum(w[i] * self._op(label, op, h) for i, op in enumerate(ops))
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixed(x, dict(self.alpha))

    # the rest of the MonitoredSearch protocol
    def arch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        self.arch_loss_calls += 1
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    # training
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        if self.skip_push:
            loss = loss - self.skip_push * sum(a[TOY_OPS[k].index("skip_connect")] for k, a in self.alpha.items())
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(*self.data), batch_size=8)


class QuadraticSearch(AlphaProtocol):
    """arch_loss = 0.5 a^T H a with a = the 3 alphas concatenated (sizes 3, 4, 2) and H = Q diag(eigs) Q^T."""

    def __init__(self, eigs: list[float], *, seed: int = 1) -> None:
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(9, 9, generator=g, dtype=torch.float64))
        self.hessian = q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ q.T
        point = torch.randn(9, generator=g, dtype=torch.float64)
        slices = (slice(0, 3), slice(3, 7), slice(7, 9))
        self.alpha = {k: point[s].clone().requires_grad_() for k, s in zip(TOY_OPS, slices)}
        self.monitor_batch = (torch.zeros(1), torch.zeros(1))

    def arch_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        a = torch.cat([self.alpha[k] for k in TOY_OPS])
        return 0.5 * a @ self.hessian @ a


class RecordingLogger(Logger):
    """A logger double: keeps every ``log_metrics`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, float]] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params, *args, **kwargs) -> None:  # noqa: ANN001
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append(dict(metrics))


def fit(
    module: pl.LightningModule, monitor: CollapseMonitor, *, max_epochs: int, logger: Logger | bool = False
) -> pl.Trainer:
    trainer = pl.Trainer(
        max_epochs=max_epochs, accelerator="cpu", logger=logger, callbacks=[monitor], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module)
    return trainer


# --- the Hessian eigenvalue -----------------------------------------------------------------------------
@pytest.mark.parametrize("eigs", [
    [3.0, 1.5, 1.0, 0.8, 0.5, 0.3, 0.2, 0.1, 0.0],  # PSD: the dominant eigenvalue is the largest
    [-4.0, 2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 0.3, 0.1],  # indefinite: largest magnitude, sign kept
])
def test_hessian_eigenvalue_of_a_known_quadratic(eigs):
    module = QuadraticSearch(eigs)
    assert isinstance(module, MonitoredSearch)
    record = CollapseMonitor(power_iterations=20, seed=0).measure(module)
    dominant = max(eigs, key=abs)
    assert record["hessian_eig"] == pytest.approx(dominant, abs=1e-3)


def test_hessian_eigenvalue_matches_the_explicit_hessian_of_a_network():
    module = ToySearch(alphas={"a": [0.3, -0.2, 0.1], "b": [0.0, 0.5, -0.5, 0.2], "c": [0.4, -0.1]}, seed=3)
    x, y = module.monitor_batch
    sizes = [len(TOY_OPS[k]) for k in TOY_OPS]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(module.mixed(x, dict(zip(TOY_OPS, flat.split(sizes)))), y)

    flat = torch.cat([module.alpha[k].detach() for k in TOY_OPS])
    eigs = torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss_of, flat))
    dominant = float(eigs[eigs.abs().argmax()])
    got = CollapseMonitor(power_iterations=30, seed=0).measure(module)["hessian_eig"]
    assert got == pytest.approx(dominant, rel=1e-3)
    # deterministic: same seed, same number (bit for bit); no .grad written; the global RNG is not advanced
    rng = torch.get_rng_state()
    assert CollapseMonitor(power_iterations=30, seed=0).measure(module)["hessian_eig"] == got
    assert all(a.grad is None for a in module.alpha.values())
    assert torch.equal(torch.get_rng_state(), rng)


# --- counts and entropy ---------------------------------------------------------------------------------
PROBS = {"a": [0.2, 0.5, 0.3], "b": [0.1, 0.2, 0.3, 0.4], "c": [0.6, 0.4]}


def test_skip_count_param_free_count_and_entropy_by_hand():
    module = ToySearch(alphas={k: [math.log(p) for p in ps] for k, ps in PROBS.items()})
    record = CollapseMonitor(hessian=False).measure(module)
    # derived: a -> skip_connect, b -> avg_pool_3x3, c -> skip_connect
    assert record["arch"] == {"a": "skip_connect", "b": "avg_pool_3x3", "c": "skip_connect"}
    assert record["skip_count"] == 2
    assert record["param_free_count"] == 3
    h_a = -(0.2 * math.log(0.2) + 0.5 * math.log(0.5) + 0.3 * math.log(0.3))
    h_b = -(0.1 * math.log(0.1) + 0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.4 * math.log(0.4))
    h_c = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert record["alpha_entropy"] == pytest.approx((h_a + h_b + h_c) / 3, rel=1e-6)
    norm = (h_a / math.log(3) + h_b / math.log(4) + h_c / math.log(2)) / 3
    assert record["alpha_entropy_norm"] == pytest.approx(norm, rel=1e-6)
    assert record["ranking"]["b"] == ["avg_pool_3x3", "tanh", "linear", "skip_connect"]
    # configurable op sets; hessian=False computes no eigenvalue and never calls arch_loss
    custom = CollapseMonitor(hessian=False, skip_ops=("avg_pool_3x3",), param_free_ops=None).measure(module)
    assert custom["skip_count"] == 1 and "param_free_count" not in custom
    assert "hessian_eig" not in record and module.arch_loss_calls == 0


def test_alpha_entropy_normalises_strengths_and_rejects_bad_ones():
    uniform, norm = alpha_entropy({"x": {"p": 2.0, "q": 2.0}, "y": {"p": 1.0}})  # sigmoid-like strengths
    assert uniform == pytest.approx(math.log(2) / 2) and norm == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'x'"):
        alpha_entropy({"x": {"p": -1.0, "q": 2.0}})
    with pytest.raises(ValueError, match="no labels"):
        alpha_entropy({})


# --- inside a Trainer -------------------------------------------------------------------------------------
def test_monitor_logs_every_epoch_to_the_loggers():
    logger = RecordingLogger()
    monitor = CollapseMonitor(power_iterations=5)
    trainer = fit(ToySearch(), monitor, max_epochs=2, logger=logger)
    assert [r["epoch"] for r in monitor.history] == [1, 2]
    last = monitor.history[-1]
    for key in ("skip_count", "param_free_count", "alpha_entropy", "alpha_entropy_norm", "hessian_eig"):
        assert float(trainer.callback_metrics[f"monitor/{key}"]) == pytest.approx(last[key], rel=1e-6)
    logged = [c for c in logger.calls if "monitor/hessian_eig" in c]
    assert len(logged) == 2 and math.isfinite(logged[0]["monitor/hessian_eig"])
    assert monitor.stop_reason is None and trainer.current_epoch == 2


def test_every_n_epochs_hessian_off_and_state_dict_round_trip(tmp_path):
    module = ToySearch()
    monitor = CollapseMonitor(every_n_epochs=2, hessian=False)
    trainer = fit(module, monitor, max_epochs=4)
    assert [r["epoch"] for r in monitor.history] == [2, 4]
    assert module.arch_loss_calls == 0 and "monitor/hessian_eig" not in trainer.callback_metrics
    trainer.save_checkpoint(tmp_path / "search.ckpt")  # Lightning stores the callback's state_dict
    saved = torch.load(tmp_path / "search.ckpt", weights_only=False)["callbacks"][monitor.state_key]
    assert saved["history"] == monitor.history
    restored = CollapseMonitor()
    restored.load_state_dict(monitor.state_dict())
    assert restored.history == monitor.history and restored.stop_reason is None
    restored.history[0]["arch"]["a"] = "changed"  # a copy, not a view
    assert monitor.history[0]["arch"]["a"] != "changed"


def test_monitor_stops_a_real_run_early(caplog):
    # linear wins everywhere at first; skip_push makes SGD raise the skip logits by 0.1 per step
    module = ToySearch(alphas={"a": [0.0, 0.0, 0.5], "b": [0.0, 0.9, 0.0, 0.0], "c": [0.0, 0.3]}, skip_push=1.0)
    monitor = CollapseMonitor(power_iterations=3, early_stop=SkipCountStop(max_skips=2))
    with caplog.at_level(logging.WARNING, logger="nni_effnas.oneshot.monitor"):
        trainer = fit(module, monitor, max_epochs=20)
    counts = [r["skip_count"] for r in monitor.history]
    assert counts[-1] >= 2 and all(c < 2 for c in counts[:-1])
    assert len(monitor.history) < 20 and trainer.current_epoch == len(monitor.history)
    assert monitor.stop_reason == monitor.history[-1]["stop_reason"]
    assert "skip connections" in monitor.stop_reason
    lines = [r.getMessage() for r in caplog.records if "stopping the search" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0] and monitor.stop_reason in lines[0]


def test_monitor_rejects_bad_arguments_and_modules():
    for kwargs in ({"every_n_epochs": 0}, {"power_iterations": 0}, {"seed": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            CollapseMonitor(**kwargs)
    with pytest.raises(TypeError, match="should_stop"):
        CollapseMonitor(early_stop=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MonitoredSearch"):
        CollapseMonitor().measure(nn.Linear(2, 2))  # type: ignore[arg-type]


def test_missing_monitor_batch_skips_the_eigenvalue_with_one_warning(caplog):
    module = ToySearch()
    module.monitor_batch = None
    monitor = CollapseMonitor()
    with caplog.at_level(logging.WARNING, logger="nni_effnas.oneshot.monitor"):
        records = [monitor.measure(module) for _ in range(2)]
    assert all("hessian_eig" not in r for r in records)
    assert sum("monitor_batch" in r.getMessage() for r in caplog.records) == 1


# --- the rules, on synthetic histories ----------------------------------------------------------------
def _eig_history(values: list[float | None]) -> list[dict]:
    return [{"epoch": i + 1, **({} if v is None else {"hessian_eig": v})} for i, v in enumerate(values)]


def test_eigenvalue_ratio_stop():
    rule = EigenvalueRatioStop(window=2, ratio=1.3)
    assert isinstance(rule, EarlyStopRule)
    assert rule.should_stop(_eig_history([1, 1, 2])) is None  # fewer than 2 * window measurements
    assert rule.should_stop(_eig_history([1, 1, 1, 1])) is None
    assert rule.should_stop(_eig_history([1, 1, 1.2, 1.4])) is None  # 1.3 is not > 1.3
    reason = rule.should_stop(_eig_history([1, 1, 2, 2]))
    assert reason and "2x" in reason and "epoch 2" in reason  # RobustDARTS rolls back to the earlier window
    assert rule.should_stop(_eig_history([1, None, 1, 2, None, 2])) is not None  # unmeasured epochs skipped
    assert rule.should_stop(_eig_history([-1, -1, 2, 2])) is None  # earlier mean <= 0: no ratio
    assert rule.should_stop(_eig_history([5, 5, 1, 1, 2, 2])) is not None  # only the last 2 windows count
    default = EigenvalueRatioStop()
    assert (default.window, default.ratio) == (5, 1.3)
    assert default.should_stop(_eig_history([1.0 + 0.01 * i for i in range(10)])) is None
    assert default.should_stop(_eig_history([float(i + 1) for i in range(10)])) is not None  # 8 / 3
    for kwargs in ({"window": 0}, {"ratio": 0.0}, {"ratio": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            EigenvalueRatioStop(**kwargs)


def test_skip_count_stop():
    rule = SkipCountStop(max_skips=2)
    one = {"epoch": 1, "arch": {"e1": "skip_connect", "e2": "nor_conv_3x3", "e3": "none"}}
    two = {"epoch": 2, "arch": {"e1": "skip_connect", "e2": "skip_connect", "e3": "none"}}
    assert rule.should_stop([]) is None and rule.should_stop([one]) is None
    assert "2 skip connections" in rule.should_stop([one, two])
    darts = {"epoch": 1, "arch": {"normal/op_2_0": "skip_connect", "reduce/op_2_0": "skip_connect",
                                  "reduce/op_2_1": "skip_connect", "normal/op_2_1": "sep_conv_3x3"}}
    assert SkipCountStop(max_skips=2, label_prefix="normal/").should_stop([darts]) is None
    assert SkipCountStop(max_skips=2).should_stop([darts]) is not None
    with pytest.raises(ValueError, match="max_skips"):
        SkipCountStop(max_skips=0)


def test_stable_arch_stop():
    def rec(epoch: int, ranking_a: list[str]) -> dict:
        return {"epoch": epoch, "ranking": {"a": ranking_a, "b": ["nor_conv_3x3", "skip_connect", "nor_conv_1x1"]}}

    conv3, conv1 = ["nor_conv_3x3", "skip_connect", "nor_conv_1x1"], ["nor_conv_1x1", "nor_conv_3x3", "skip_connect"]
    rule = StableArchStop(epochs=3)
    assert rule.should_stop([rec(1, conv3), rec(2, conv3), rec(3, conv3)]) is None  # 2 unchanged epochs only
    reason = rule.should_stop([rec(1, conv3), rec(2, conv3), rec(3, conv3), rec(4, conv3)])
    assert reason and "epochs 1-4" in reason
    assert rule.should_stop([rec(1, conv3), rec(2, conv1), rec(3, conv3), rec(4, conv3)]) is None
    # skip_connect moving among learnable ops does not change the learnable ranking; with ignore_ops=() it does
    moved = ["skip_connect", "nor_conv_3x3", "nor_conv_1x1"]
    history = [rec(1, conv3), rec(2, moved), rec(3, conv3), rec(4, moved)]
    assert rule.should_stop(history) is not None
    assert StableArchStop(epochs=3, ignore_ops=()).should_stop(history) is None
    assert StableArchStop().epochs == 10
    with pytest.raises(ValueError, match="epochs"):
        StableArchStop(epochs=0)


def test_any_of_returns_the_first_reason():
    history = [{"epoch": 1, "arch": {"x": "skip_connect", "y": "skip_connect"}, "ranking": {"x": ["a"]}}]
    rule = AnyOf(StableArchStop(epochs=1), SkipCountStop(max_skips=2))
    assert "skip connections" in rule.should_stop(history)
    assert AnyOf(StableArchStop(epochs=1)).should_stop(history) is None
    with pytest.raises(ValueError, match="at least one"):
        AnyOf()
    with pytest.raises(TypeError, match="should_stop"):
        AnyOf(object())  # type: ignore[arg-type]
