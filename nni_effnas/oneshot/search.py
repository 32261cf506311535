"""One training loop for every differentiable search method: :class:`OneShotSearch`, a LightningModule.

Why our own module rather than NNI 3.0's one-shot strategies: NNI's ``DARTS`` is first order only, wraps the
user's LightningModule in another one and forwards its hooks by hand, and its hardware penalty has no gradient
(the field notes). Here the loop is written once with manual optimisation and each paper is a small
:class:`~nni_effnas.strategies.oneshot.base.OneShotMethod`; collapse monitoring, early stopping, temperature
schedules and checkpoints are Lightning callbacks or method state, so the module stays one concept.

Per training step (a pair of a training and a validation batch, DARTS's 50/50 split of the training data):

1. architecture step on the validation batch: Adam on the logits (and the method's extra architecture
   parameters) with ``L_val + method.arch_regularizer + cost_penalty``; first order, or unrolled for
   methods with ``second_order`` (the DARTS paper's finite-difference approximation). The cost penalty is
   taken over the mixing weights this very forward pass used (:attr:`Supernet.last_weights`), so it has the
   gradient the method's relaxation gives: through GDAS's straight-through Gumbel sample, DrNAS's pathwise
   Dirichlet sample, DARTS's softmax (the same value and gradient as ``softmax(alpha)`` before);
2. weight step on the training batch: SGD with momentum, weight decay and gradient clipping, cosine learning
   rate per epoch.

Each backward pass computes only the gradients its step uses (``backward(inputs=...)``): the first-order
architecture step skips every weight gradient (a full backward would compute them only for ``zero_grad`` to
drop them, which is what NNI 3.0's DARTS does) and the weight step skips the logits' gradients. With the
``none`` ops left out of the mixed sums (:func:`~nni_effnas.strategies.oneshot.base.is_zero_op`) this is what
makes a step cheaper than NNI's on the same supernet (``BENCHMARKS.md``).

A non-finite loss stops the search with :class:`NonFiniteLossError`; the last epoch's checkpoint (if
checkpointing is on) is the last good state.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Mapping

import pytorch_lightning as pl
import torch
from torch import nn

from nni_effnas.checks import check_int, check_number
from nni_effnas.oneshot.supernet import Supernet
from nni_effnas.search_spaces.base import SearchSpace
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["NonFiniteLossError", "OneShotSearch", "SearchFailedError"]

Batch = tuple[torch.Tensor, torch.Tensor]
Penalty = Callable[[dict[str, torch.Tensor]], torch.Tensor]


class SearchFailedError(RuntimeError):
    """The search ran and failed: an outcome of its settings and seed (a failed trial), not a bad setting."""


class NonFiniteLossError(SearchFailedError):
    """The search produced a NaN or infinite loss."""


class OneShotSearch(pl.LightningModule):
    """Differentiable search of ``space`` with ``method``; ``batch`` is ``{"train": (x, y), "val": (x, y)}``.

    Args:
        space: the search space (its ``supernet_space(**model_kwargs)`` is relaxed).
        method: the one-shot method.
        model_kwargs: passed to ``space.supernet_space``, with ``method.supernet_kwargs()`` merged over them.
        w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip: the weight optimiser (DARTS's values).
        a_lr, a_betas, a_weight_decay: the architecture optimiser (DARTS's values).
        cost_penalty: optional differentiable penalty on the mixing weights (e.g.
            :class:`nni_effnas.oneshot.cost.CostPenalty`), added to the architecture loss. It is called with
            the weights of the architecture step's own forward pass (``supernet.last_weights``), not with a
            fresh ``method.edge_weights(alpha, training=False)``: for a sampling method those are a detached
            argmax (GDAS) or the distribution's mean (DrNAS), which has no gradient or not the one of the loss.
        warmup_epochs: epochs that train only the weights before the architecture steps start.
    """

    def __init__(
        self,
        *,
        space: SearchSpace,
        method: OneShotMethod,
        model_kwargs: Mapping[str, Any] | None = None,
        w_lr: float = 0.025,
        w_lr_min: float = 1e-3,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        grad_clip: float = 5.0,
        a_lr: float = 3e-4,
        a_betas: tuple[float, float] = (0.5, 0.999),
        a_weight_decay: float = 1e-3,
        cost_penalty: Penalty | None = None,
        warmup_epochs: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("w_lr", w_lr), ("a_lr", a_lr), ("grad_clip", grad_clip)):
            check_number(name, value, strict=True)
        check_int("warmup_epochs", warmup_epochs, 0)
        self.automatic_optimization = False
        self.space, self.method = space, method
        self.supernet = Supernet(space.supernet_space(**{**dict(model_kwargs or {}), **method.supernet_kwargs()}))
        method.setup(self.supernet, space=space)
        self.extra_arch = nn.ParameterList(method.extra_arch_parameters())
        self.w_lr, self.w_lr_min, self.w_momentum = float(w_lr), float(w_lr_min), float(w_momentum)
        self.w_weight_decay, self.grad_clip = float(w_weight_decay), float(grad_clip)
        self.a_lr, self.a_betas, self.a_weight_decay = float(a_lr), tuple(a_betas), float(a_weight_decay)
        self.cost_penalty = cost_penalty
        self.warmup_epochs = warmup_epochs
        self.loss_fn = nn.CrossEntropyLoss()
        self.monitor_batch: Batch | None = None
        self.history: list[dict[str, Any]] = []
        self._sums: dict[str, float] = {}
        self.step_seconds: list[float] = []  # wall time of every training step (architecture + weight step)

    # --- the monitored-search protocol (nni_effnas.oneshot.monitor) -------------------------------------
    def arch_parameters(self) -> dict[str, torch.Tensor]:
        return dict(self.supernet.alpha)

    def op_names(self, label: str) -> list[str]:
        return list(self.supernet.op_names[label])

    def arch_weights(self) -> dict[str, dict[str, float]]:
        strengths = self.method.strengths(self.arch_parameters())
        return {label: dict(zip(self.supernet.op_names[label], map(float, s))) for label, s in strengths.items()}

    def derived_sample(self) -> dict[str, Any]:
        return dict(self.method.derive(self.space, self.arch_weights()))

    def arch_loss(self, batch: Batch) -> torch.Tensor:
        x, y = batch
        return self.loss_fn(self.supernet(x, method=self.method, training=True), y)

    # --- optimisation ---------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.supernet(x, method=self.method)

    def all_arch_parameters(self) -> list[nn.Parameter]:
        return self.supernet.arch_parameters() + list(self.extra_arch)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        w_opt = torch.optim.SGD(self.supernet.weight_parameters(), lr=self.w_lr, momentum=self.w_momentum,
                                weight_decay=self.w_weight_decay)
        a_opt = torch.optim.Adam(self.all_arch_parameters(), lr=self.a_lr, betas=self.a_betas,
                                 weight_decay=self.a_weight_decay)
        return [w_opt, a_opt]

    def _current_w_lr(self) -> float:
        max_epochs = max(1, self.trainer.max_epochs or 1)
        t = min(self.current_epoch, max_epochs - 1) / max_epochs
        return self.w_lr_min + 0.5 * (self.w_lr - self.w_lr_min) * (1 + math.cos(math.pi * t))

    def on_train_epoch_start(self) -> None:
        self.method.on_epoch_start(self.current_epoch, self.trainer.max_epochs or 1)
        w_opt, _ = self.optimizers()
        for group in w_opt.param_groups:
            group["lr"] = self._current_w_lr()
        self._sums = {"loss": 0.0, "arch_loss": 0.0, "correct": 0.0, "n": 0.0, "steps": 0.0}

    def training_step(self, batch: Mapping[str, Batch], batch_idx: int) -> None:
        start = time.perf_counter()
        self._training_step(batch)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.step_seconds.append(time.perf_counter() - start)

    def _training_step(self, batch: Mapping[str, Batch]) -> None:
        w_opt, a_opt = self.optimizers()
        (xt, yt), (xv, yv) = batch["train"], batch["val"]
        if self.monitor_batch is None:
            self.monitor_batch = (xv.detach(), yv.detach())
        if self.current_epoch >= self.warmup_epochs:
            a_opt.zero_grad()
            arch_loss = self._arch_step((xt, yt), (xv, yv), w_lr=w_opt.param_groups[0]["lr"])
            a_opt.step()
            self._sums["arch_loss"] += float(arch_loss)
        loss, logits = self.weight_step(w_opt, xt, yt)
        self._sums["loss"] += float(loss.detach()) * len(yt)
        self._sums["correct"] += float((logits.argmax(1) == yt).sum())
        self._sums["n"] += len(yt)
        self._sums["steps"] += 1

    def weight_step(self, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                    y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of ``optimizer`` on the supernet's weights with the training loss on ``(x, y)``: gradients of
        the weights only, clipped to ``grad_clip``. Returns the loss and the logits. Also DARTS-PT's tuning."""
        optimizer.zero_grad()
        logits = self.supernet(x, method=self.method, training=True)
        loss = self._finite(self.loss_fn(logits, y), "training")
        weights = self.supernet.weight_parameters()
        self.manual_backward(loss, inputs=weights)
        nn.utils.clip_grad_norm_(weights, self.grad_clip)
        optimizer.step()
        return loss, logits

    def _arch_loss_with_penalties(self, xv: torch.Tensor, yv: torch.Tensor) -> torch.Tensor:
        loss = self.loss_fn(self.supernet(xv, method=self.method, training=True), yv)
        used = self.supernet.last_weights  # the weights this forward pass mixed with, graph and all
        extra = self.method.arch_regularizer(self.arch_parameters())
        if extra is not None:
            loss = loss + extra
        if self.cost_penalty is not None:
            loss = loss + self.cost_penalty(used)
        return loss

    def _arch_step(self, train: Batch, val: Batch, *, w_lr: float) -> torch.Tensor:
        if not self.method.second_order:
            loss = self._finite(self._arch_loss_with_penalties(*val), "validation")
            self.manual_backward(loss, inputs=self.all_arch_parameters())
            return loss.detach()
        return self._unrolled_arch_step(train, val, w_lr=w_lr)

    def _unrolled_arch_step(self, train: Batch, val: Batch, *, w_lr: float) -> torch.Tensor:
        """DARTS's second-order gradient: at ``w' = w - xi grad L_train(w)``, minus the finite-difference
        Hessian-vector term ``xi (grad_a L_train(w+) - grad_a L_train(w-)) / (2 eps)``."""
        weights, arch = self.supernet.weight_parameters(), self.all_arch_parameters()
        backup = [w.detach().clone() for w in weights]
        train_loss = self.loss_fn(self.supernet(train[0], method=self.method, training=True), train[1])
        grads = torch.autograd.grad(train_loss, weights, allow_unused=True)
        with torch.no_grad():
            for w, g in zip(weights, grads):
                if g is not None:
                    w.sub_(w_lr * (g + self.w_weight_decay * w))
        val_loss = self._finite(self._arch_loss_with_penalties(*val), "validation")
        grads_a_w = torch.autograd.grad(val_loss, arch + weights, allow_unused=True)
        d_alpha, d_w = grads_a_w[:len(arch)], grads_a_w[len(arch):]
        norm = torch.sqrt(sum((g ** 2).sum() for g in d_w if g is not None))
        eps = 0.01 / max(float(norm), 1e-12)
        hessian_terms = []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for w, b, g in zip(weights, backup, d_w):
                    w.copy_(b if g is None else b + sign * eps * g)
            loss = self.loss_fn(self.supernet(train[0], method=self.method, training=True), train[1])
            hessian_terms.append(torch.autograd.grad(loss, arch, allow_unused=True))
        with torch.no_grad():
            for w, b in zip(weights, backup):
                w.copy_(b)
            for a, da, gp, gm in zip(arch, d_alpha, *hessian_terms):
                grad = torch.zeros_like(a) if da is None else da.clone()
                if gp is not None and gm is not None:
                    grad -= w_lr * (gp - gm) / (2 * eps)
                a.grad = grad
        return val_loss.detach()

    def _finite(self, loss: torch.Tensor, what: str) -> torch.Tensor:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{what} loss became {float(loss)} at epoch {self.current_epoch}, step "
                                     f"{self.global_step}; the search stopped (lower the learning rates or check "
                                     "the data); the last checkpoint holds the last good state")
        return loss

    def on_train_epoch_end(self) -> None:
        sums = self._sums
        n, steps = max(sums["n"], 1.0), max(sums["steps"], 1.0)
        record = {"epoch": self.current_epoch, "train_loss": sums["loss"] / n,
                  "train_acc": 100.0 * sums["correct"] / n, "arch_loss": sums["arch_loss"] / steps,
                  "w_lr": self._current_w_lr(), "derived": self.space.to_string(self.derived_sample())}
        if self.trainer.callback_metrics.get("val_acc") is not None:
            record["val_acc"] = float(self.trainer.callback_metrics["val_acc"])
        self.history.append(record)
        self.log_dict({"train_loss": record["train_loss"], "train_acc": record["train_acc"],
                       "arch_loss": record["arch_loss"]})

    # --- supernet validation accuracy ----------------------------------------------------------------------
    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        x, y = batch
        logits = self.supernet(x, method=self.method, training=False)
        self.log("val_loss", self.loss_fn(logits, y), prog_bar=False)
        self.log("val_acc", 100.0 * (logits.argmax(1) == y).float().mean(), prog_bar=True)

    # --- resume ------------------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["effnas_oneshot"] = {"method": self.method.state_dict(), "history": self.history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("effnas_oneshot")
        if state is None:
            raise ValueError("this checkpoint was not written by OneShotSearch (no 'effnas_oneshot' entry)")
        self.method.load_state_dict(state["method"])
        self.history = list(state["history"])
