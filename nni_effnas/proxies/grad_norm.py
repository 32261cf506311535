"""Grad-norm, registered as ``"grad_norm"``: the summed per-layer gradient norms at initialisation.

Paper: M. S. Abdelfattah, A. Mehrotra, L. Dudziak and N. D. Lane, "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (a baseline proxy there).

Definition implemented (as in the paper's code and NASLib): with the loss ``L`` of one batch,

    grad_norm = sum over Conv/Linear weights W of  || dL/dW ||_2   (Frobenius norm per layer, not squared),

i.e. a sum of per-layer norms, *not* the norm of the whole gradient vector (the paper's code, which the
published numbers come from, sums per-layer norms; we do the same).

BatchNorm in train mode (batch statistics; running statistics restored afterwards); cross-entropy unless
``loss_fn`` is given; gradients via ``torch.autograd.grad`` (``.grad`` untouched). NaN/inf gives ``float("nan")``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import (
    LossFn,
    check_model,
    classification_loss,
    finite_or_nan,
    grads_or_zeros,
    prepare_batch,
    proxy_run,
    weighted_layers,
)


@PROXIES.register("grad_norm")
def grad_norm(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """Sum over Conv/Linear layers of the L2 norm of ``dL/dW`` on one batch (train mode)."""
    check_model(model, proxy="grad_norm")
    batch, labels = prepare_batch(model, inputs, targets, proxy="grad_norm", needs_targets=True)
    weights = [layer.weight for layer in weighted_layers(model, proxy="grad_norm")]
    with proxy_run(model, seed=seed, train=True):
        loss = classification_loss(model, batch, labels, loss_fn=loss_fn, proxy="grad_norm")
        total = sum(float(g.norm()) for g in grads_or_zeros(loss, weights))
    return finite_or_nan(total)
