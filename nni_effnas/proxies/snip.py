"""SNIP, registered as ``"snip"``: connection sensitivity of the untrained network, summed.

Papers: N. Lee, T. Ajanthan and P. H. S. Torr, "SNIP: Single-shot Network Pruning based on Connection
Sensitivity", ICLR 2019; as a NAS proxy, M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021.

Definition implemented (Abdelfattah et al.): with the loss ``L`` of one batch,

    snip = sum over Conv/Linear weights W of  sum( |W * dL/dW| ),

which is the gradient of ``L`` with respect to a multiplicative all-ones mask on the weights, as in the paper.

Choices, where the paper and the common implementations differ:

* Lee et al. normalise the per-weight sensitivities by their sum to rank weights *within* a network; summed
  over a whole network that normalisation is always 1, so the NAS proxy (Abdelfattah et al.'s code, NASLib)
  drops it. We do too.
* BatchNorm in train mode (batch statistics), as in both codes; the running statistics it updates are
  restored afterwards. In-place ReLUs need nothing special (only weight gradients are read).
* Cross-entropy unless ``loss_fn`` is given; one batch (no splitting). Gradients come from
  ``torch.autograd.grad``, so the parameters' ``.grad`` fields are not touched.

Deterministic for a batch and seed (the seed only matters for stochastic layers such as dropout). A NaN or
infinite sum gives ``float("nan")``.
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


@PROXIES.register("snip")
def snip(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """Sum of ``|W * dL/dW|`` over Conv/Linear weights on one batch (train mode)."""
    check_model(model, proxy="snip")
    batch, labels = prepare_batch(model, inputs, targets, proxy="snip", needs_targets=True)
    weights = [layer.weight for layer in weighted_layers(model, proxy="snip")]
    with proxy_run(model, seed=seed, train=True):
        loss = classification_loss(model, batch, labels, loss_fn=loss_fn, proxy="snip")
        grads = grads_or_zeros(loss, weights)
        total = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads))
    return finite_or_nan(total)
