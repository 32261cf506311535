"""GraSP, registered as ``"grasp"``: gradient-signal preservation, summed over the network.

Papers: C. Wang, G. Zhang and R. Grosse, "Picking Winning Tickets Before Training by Preserving Gradient
Flow", ICLR 2020; as a NAS proxy, M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021.

Definition implemented (Abdelfattah et al.): with the loss ``L`` of one batch, its gradient ``g`` and Hessian
``H`` with respect to the Conv/Linear weights,

    grasp = sum over Conv/Linear weights W of  sum( -W * (H g)_W ),

``H g`` computed as a Hessian-vector product: the gradient of ``z = g_const . g(W)`` (``g_const`` detached).

Choices, where the paper and the common implementations differ:

* Wang et al. score each weight by ``-theta * Hg`` to decide which to prune, with a softmax temperature on the
  logits and gradients gathered over several batches; the NAS proxy sums the scores with temperature 1 over
  one batch. We follow the proxy.
* Abdelfattah et al.'s code runs two forward passes (one for ``g``, one with ``create_graph=True``); the same
  batch in train mode gives the same ``g``, so we use one forward pass and one ``create_graph`` gradient.
* BatchNorm in train mode (batch statistics; running statistics restored); cross-entropy unless ``loss_fn``;
  ``.grad`` untouched. In-place ReLUs need nothing special.

The score can be negative or positive. NaN/inf gives ``float("nan")``.
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


@PROXIES.register("grasp")
def grasp(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """Sum of ``-W * (H g)`` over Conv/Linear weights on one batch (train mode)."""
    check_model(model, proxy="grasp")
    batch, labels = prepare_batch(model, inputs, targets, proxy="grasp", needs_targets=True)
    weights = [layer.weight for layer in weighted_layers(model, proxy="grasp")]
    with proxy_run(model, seed=seed, train=True):
        loss = classification_loss(model, batch, labels, loss_fn=loss_fn, proxy="grasp")
        grads = grads_or_zeros(loss, weights, create_graph=True)
        z = sum((g.detach() * g).sum() for g in grads)
        hessian_grads = grads_or_zeros(z, weights)
        total = sum(float((-w.detach() * hg).sum()) for w, hg in zip(weights, hessian_grads))
    return finite_or_nan(total)
