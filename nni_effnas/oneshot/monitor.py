"""Watch a differentiable one-shot search for collapse, and stop it early when a rule says so.

:class:`CollapseMonitor` is a Lightning callback for any module that implements :class:`MonitoredSearch` (the
one-shot engine's ``OneShotSearch`` does). After every ``every_n_epochs``-th training epoch it records, logs
under ``monitor/`` and keeps in :attr:`CollapseMonitor.history`:

* ``skip_count``: derived-architecture decisions whose op is in ``skip_ops``; ``param_free_count``: those whose
  op is parameter-free (DARTS+ and RobustDARTS both tie collapse to parameter-free ops taking over);
* ``alpha_entropy``: mean over labels of the entropy (nats) of the op strengths, and ``alpha_entropy_norm``:
  the same with each label's entropy divided by ``log(n_ops)`` (1 = uniform, 0 = one-hot);
* ``hessian_eig``: the dominant eigenvalue of the Hessian of the validation loss with respect to all
  architecture parameters. Paper: A. Zela, T. Elsken, T. Saikia, Y. Marrakchi, T. Brox and F. Hutter,
  "Understanding and Robustifying Differentiable Architecture Search" (RobustDARTS), ICLR 2020, who show that
  it grows as the search collapses. Deviations: the loss is the module's ``arch_loss`` on one validation
  mini-batch (``monitor_batch``), not the full validation set; the eigenvalue comes from ``power_iterations``
  steps of power iteration with exact Hessian-vector products (double back-propagation), not from a full
  eigendecomposition, so it is the eigenvalue of largest *magnitude* (with its sign; near a minimum of the
  validation loss the Hessian is close to positive semi-definite and the two agree). The start vector is
  drawn from a ``torch.Generator`` seeded with ``seed``, the same every epoch; ``arch_loss`` runs under a
  forked global RNG seeded with ``seed`` (a sampling method gets the same draw each time, and the training's
  random stream is not advanced), in the module's current train/eval mode.

Early-stop rules are small objects with ``should_stop(history) -> reason | None``; they only read the history,
so a resumed run (:meth:`CollapseMonitor.load_state_dict`) decides exactly as an uninterrupted one.

* :class:`EigenvalueRatioStop`: RobustDARTS' DARTS-ES criterion.
* :class:`SkipCountStop` and :class:`StableArchStop`: the two criteria of H. Liang, S. Zhang, J. Sun, X. He,
  W. Huang, K. Zhuang and Z. Li, "DARTS+: Improved Differentiable Architecture Search with Early Stopping",
  arXiv:1909.06035, 2019.
* :class:`AnyOf`: stops when the first of several rules fires.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Any, Collection, Mapping, Protocol, Sequence, runtime_checkable

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import move_data_to_device

from nni_effnas.checks import check_int, check_number

__all__ = [
    "PARAM_FREE_OPS", "AnyOf", "CollapseMonitor", "EarlyStopRule", "EigenvalueRatioStop", "MonitoredSearch",
    "SkipCountStop", "StableArchStop", "alpha_entropy", "dominant_hessian_eigenvalue",
]

_logger = logging.getLogger(__name__)

#: Parameter-free candidate ops of the NAS-Bench-201 and DARTS spaces.
PARAM_FREE_OPS: tuple[str, ...] = ("none", "skip_connect", "max_pool_3x3", "avg_pool_3x3")
Record = Mapping[str, Any]


@runtime_checkable
class MonitoredSearch(Protocol):
    """What :class:`CollapseMonitor` reads from a differentiable search module (``OneShotSearch``)."""

    monitor_batch: Any  # a validation batch ``(x, y)`` kept for the monitor, or None

    def arch_parameters(self) -> dict[str, torch.Tensor]: ...  # label -> alpha logits [n_ops]
    def op_names(self, label: str) -> list[str]: ...  # candidate ops of a label, in alpha order
    def arch_weights(self) -> dict[str, dict[str, float]]: ...  # label -> op -> strength
    def derived_sample(self) -> dict[str, str]: ...  # the discrete architecture derived now
    def arch_loss(self, batch: Any) -> torch.Tensor: ...  # differentiable (twice) in the arch parameters


@runtime_checkable
class EarlyStopRule(Protocol):
    """A stopping criterion: the reason to stop given the monitor's history, or None to go on."""

    def should_stop(self, history: Sequence[Record]) -> str | None: ...


def dominant_hessian_eigenvalue(
    loss: torch.Tensor, params: Sequence[torch.Tensor], *, iterations: int, generator: torch.Generator
) -> float:
    """Eigenvalue of largest magnitude of d^2 loss / d params^2 (all params flattened and concatenated).

    Power iteration with Hessian-vector products; returns the Rayleigh quotient of the last iterate.
    ``loss`` must have been computed with grad enabled; ``generator`` (CPU) draws the start vector.
    """
    grads = torch.autograd.grad(loss, list(params), create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    flat = torch.cat([g.reshape(-1) for g in grads])
    if not flat.requires_grad:  # the loss is at most linear in the parameters
        return 0.0
    v = torch.randn(flat.numel(), generator=generator, dtype=torch.float64).to(flat)
    v = v / v.norm()
    eigenvalue = 0.0
    for _ in range(iterations):
        parts = torch.autograd.grad(flat, list(params), grad_outputs=v, retain_graph=True, allow_unused=True)
        hv = torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(parts, params)])
        eigenvalue = float(v @ hv)
        norm = hv.norm()
        if float(norm) == 0.0:
            return 0.0
        v = (hv / norm).detach()
    return eigenvalue


def alpha_entropy(weights: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    """(mean entropy in nats, mean entropy / log(n_ops)) over labels; each label's strengths are normalised
    to sum to 1 first (softmax weights already do; sigmoid or Dirichlet strengths need not)."""
    if not weights:
        raise ValueError("arch_weights() returned no labels")
    entropies, normalised = [], []
    for label, strengths in weights.items():
        values = [float(s) for s in strengths.values()]
        total = sum(values)
        if not values or total <= 0 or any(s < 0 or not math.isfinite(s) for s in values):
            raise ValueError(f"strengths of label {label!r} are not a non-negative, non-zero vector: {strengths}")
        h = -sum(p * math.log(p) for p in (s / total for s in values) if p > 0)
        entropies.append(h)
        normalised.append(h / math.log(len(values)) if len(values) > 1 else 0.0)
    return sum(entropies) / len(entropies), sum(normalised) / len(normalised)


class CollapseMonitor(pl.Callback):
    """Record collapse indicators of a :class:`MonitoredSearch` each ``every_n_epochs`` epochs; see the module.

    ``history`` holds one dict per measured epoch: ``epoch`` (counted from 1), the numbers above, ``arch`` (the
    derived sample) and ``ranking`` (per label, ops by decreasing strength). When ``early_stop`` fires, the
    monitor sets ``trainer.should_stop``, keeps the reason in ``stop_reason`` (and the record) and logs one line.
    ``param_free_ops=None`` turns ``param_free_count`` off.
    """

    def __init__(
        self,
        *,
        every_n_epochs: int = 1,
        hessian: bool = True,
        power_iterations: int = 20,
        seed: int = 0,
        early_stop: EarlyStopRule | None = None,
        skip_ops: Collection[str] = ("skip_connect",),
        param_free_ops: Collection[str] | None = PARAM_FREE_OPS,
    ) -> None:
        check_int("every_n_epochs", every_n_epochs)
        check_int("power_iterations", power_iterations)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if early_stop is not None and not isinstance(early_stop, EarlyStopRule):
            raise TypeError(f"early_stop must have a should_stop(history) method, got {early_stop!r}")
        if isinstance(skip_ops, str):
            raise TypeError(f"skip_ops must be a collection of op names, not the string {skip_ops!r}")
        self.every_n_epochs = every_n_epochs
        self.hessian = bool(hessian)
        self.power_iterations = power_iterations
        self.seed = seed
        self.early_stop = early_stop
        self.skip_ops = frozenset(skip_ops)
        self.param_free_ops = None if param_free_ops is None else frozenset(param_free_ops)
        self.history: list[dict[str, Any]] = []
        self.stop_reason: str | None = None
        self._warned_no_batch = False

    def measure(self, module: MonitoredSearch) -> dict[str, Any]:
        """The indicators of ``module`` right now (no logging, no history); usable outside Lightning."""
        if not isinstance(module, MonitoredSearch):
            raise TypeError(f"CollapseMonitor needs a module implementing MonitoredSearch, got {type(module).__name__}")
        arch = dict(module.derived_sample())
        weights = module.arch_weights()
        entropy, entropy_norm = alpha_entropy(weights)
        record: dict[str, Any] = {"skip_count": sum(str(op) in self.skip_ops for op in arch.values())}
        if self.param_free_ops is not None:
            record["param_free_count"] = sum(str(op) in self.param_free_ops for op in arch.values())
        record["alpha_entropy"] = entropy
        record["alpha_entropy_norm"] = entropy_norm
        if self.hessian:
            eigenvalue = self._hessian_eig(module)
            if eigenvalue is not None:
                record["hessian_eig"] = eigenvalue
        record["arch"] = arch
        record["ranking"] = {
            label: sorted(strengths, key=lambda op, s=strengths: -float(s[op])) for label, strengths in weights.items()
        }
        return record

    def _hessian_eig(self, module: MonitoredSearch) -> float | None:
        batch = module.monitor_batch
        if batch is None:
            if not self._warned_no_batch:
                _logger.warning("CollapseMonitor: the module has no monitor_batch; hessian_eig is not computed")
                self._warned_no_batch = True
            return None
        device = getattr(module, "device", None)
        cuda: list[int] = []
        if isinstance(device, torch.device):
            batch = move_data_to_device(batch, device)
            if device.type == "cuda":
                cuda = [device.index if device.index is not None else torch.cuda.current_device()]
        params = list(module.arch_parameters().values())
        generator = torch.Generator().manual_seed(self.seed)
        # arch_loss may sample (Gumbel, dropout): seed it, and leave the training's global RNG untouched
        with torch.random.fork_rng(devices=cuda), torch.enable_grad():
            torch.manual_seed(self.seed)
            loss = module.arch_loss(batch)
            return dominant_hessian_eigenvalue(loss, params, iterations=self.power_iterations, generator=generator)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs:
            return
        record = {"epoch": epoch, **self.measure(pl_module)}  # type: ignore[arg-type]
        self.history.append(record)
        numbers = {f"monitor/{k}": float(v) for k, v in record.items() if k not in ("epoch", "arch", "ranking")}
        pl_module.log_dict(numbers, on_step=False, on_epoch=True)
        if self.early_stop is None or self.stop_reason is not None:
            return
        reason = self.early_stop.should_stop(self.history)
        if reason:
            trainer.should_stop = True
            self.stop_reason = record["stop_reason"] = reason
            _logger.warning("CollapseMonitor: stopping the search after epoch %d: %s", epoch, reason)

    @property
    def state_key(self) -> str:
        """Unique per configuration, so a search can carry two monitors (e.g. a benchmark's and DARTS+'s
        early-stopping one) and still checkpoint both."""
        rule = type(self.early_stop).__name__ if self.early_stop is not None else None
        return self._generate_state_key(every_n_epochs=self.every_n_epochs, hessian=self.hessian,
                                        early_stop=rule, skip_ops=sorted(self.skip_ops))

    def state_dict(self) -> dict[str, Any]:
        return {"history": copy.deepcopy(self.history), "stop_reason": self.stop_reason}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [dict(r) for r in copy.deepcopy(state_dict["history"])]
        self.stop_reason = state_dict.get("stop_reason")


class EigenvalueRatioStop:
    """RobustDARTS' DARTS-ES rule: stop when the dominant eigenvalue grows too fast (Zela et al., ICLR 2020).

    Fires when mean(``hessian_eig`` over the last ``window`` measurements) / mean(over the ``window``
    measurements before those) > ``ratio``. The paper stops when the local mean ``k = 5`` epochs back divided by
    the current one falls below 0.75 (a growth factor 1/0.75 = 1.33) with local windows of 5 epochs; the
    authors' code uses a factor of 1.3, our default. Deviations: the two windows are disjoint and adjacent (the
    lag equals ``window``); windows count measurements (records with ``hessian_eig``), so with
    ``every_n_epochs=2`` they span twice the epochs; nothing fires before ``2 * window`` measurements, or when
    the earlier mean is <= 0. The paper returns the architecture of the epoch ending the earlier window; the
    reason names that epoch and its derived architecture is in the history.
    """

    def __init__(self, *, window: int = 5, ratio: float = 1.3) -> None:
        self.window = check_int("window", window)
        self.ratio = check_number("ratio", ratio, strict=True)

    def should_stop(self, history: Sequence[Record]) -> str | None:
        measured = [r for r in history if r.get("hessian_eig") is not None]
        if len(measured) < 2 * self.window:
            return None
        earlier, latest = measured[-2 * self.window:-self.window], measured[-self.window:]
        before = sum(float(r["hessian_eig"]) for r in earlier) / self.window
        now = sum(float(r["hessian_eig"]) for r in latest) / self.window
        if before <= 0 or now / before <= self.ratio:
            return None
        return (f"hessian_eig mean {now:.4g} over epochs {latest[0]['epoch']}-{latest[-1]['epoch']} is "
                f"{now / before:.3g}x the mean {before:.4g} over epochs {earlier[0]['epoch']}-{earlier[-1]['epoch']}"
                f" (ratio > {self.ratio:g}); RobustDARTS keeps the architecture of epoch {earlier[-1]['epoch']}")


class SkipCountStop:
    """DARTS+ criterion 1 (Liang et al., 2019): stop once the derived cell has ``max_skips`` skip connections.

    The paper stops at two or more skip-connects in the normal cell (``max_skips=2``). Counts ops in
    ``skip_ops`` over the labels of the latest record's ``arch`` that start with ``label_prefix`` (e.g. the
    normal cell's ``"normal_"`` in this package's DARTS space; ``""``: all labels, right for NAS-Bench-201's
    single cell).
    """

    def __init__(
        self, *, max_skips: int = 2, skip_ops: Collection[str] = ("skip_connect",), label_prefix: str = ""
    ) -> None:
        self.max_skips = check_int("max_skips", max_skips)
        if isinstance(skip_ops, str):
            raise TypeError(f"skip_ops must be a collection of op names, not the string {skip_ops!r}")
        self.skip_ops = frozenset(skip_ops)
        self.label_prefix = str(label_prefix)

    def should_stop(self, history: Sequence[Record]) -> str | None:
        if not history:
            return None
        arch = history[-1]["arch"]
        skips = sorted(k for k, op in arch.items() if k.startswith(self.label_prefix) and str(op) in self.skip_ops)
        if len(skips) < self.max_skips:
            return None
        return f"{len(skips)} skip connections (>= max_skips={self.max_skips}) on {', '.join(skips)}"


class StableArchStop:
    """DARTS+ criterion 2 (Liang et al., 2019): stop once the ranking of the learnable ops is stable.

    The paper stops when the ranking of the architecture parameters of the learnable (parameterised) ops has
    not changed for a set number of epochs (10 in its examples). Fires when the per-label ranking (ops by
    decreasing strength, without ``ignore_ops``) is identical in the last ``epochs + 1`` records, i.e. unchanged
    over ``epochs`` consecutive measurements. ``ignore_ops=()`` compares full rankings.
    """

    def __init__(self, *, epochs: int = 10, ignore_ops: Collection[str] = PARAM_FREE_OPS) -> None:
        self.epochs = check_int("epochs", epochs)
        self.ignore_ops = frozenset(ignore_ops)

    def _ranking(self, record: Record) -> dict[str, tuple[str, ...]]:
        return {label: tuple(op for op in ops if op not in self.ignore_ops) for label, ops in record["ranking"].items()}

    def should_stop(self, history: Sequence[Record]) -> str | None:
        if len(history) < self.epochs + 1:
            return None
        recent = history[-(self.epochs + 1):]
        first = self._ranking(recent[0])
        if any(self._ranking(r) != first for r in recent[1:]):
            return None
        return (f"ranking of the learnable ops unchanged for {self.epochs} epochs "
                f"(epochs {recent[0]['epoch']}-{recent[-1]['epoch']})")


class AnyOf:
    """Stops when the first of ``rules`` (checked in order) fires; its reason is returned."""

    def __init__(self, *rules: EarlyStopRule) -> None:
        if not rules:
            raise ValueError("AnyOf needs at least one rule, got none")
        for rule in rules:
            if not isinstance(rule, EarlyStopRule):
                raise TypeError(f"not an early-stop rule (no should_stop method): {rule!r}")
        self.rules = rules

    def should_stop(self, history: Sequence[Record]) -> str | None:
        for rule in self.rules:
            reason = rule.should_stop(history)
            if reason:
                return reason
        return None
