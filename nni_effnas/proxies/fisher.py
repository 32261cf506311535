"""Fisher, registered as ``"fisher"``: the summed Fisher-information saliency of the layers' output channels.

Papers: L. Theis, I. Korshunova, A. Tejani and F. Huszár, "Faster gaze prediction with dense networks and
Fisher pruning", arXiv 2018 (the channel saliency); J. Turner, E. J. Crowley, M. O'Boyle, A. Storkey and
G. Gray, "BlockSwap: Fisher-guided Block Substitution for Network Compression on a Budget", ICLR 2020 (its use
to rank architectures); as a NAS proxy, M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021.

Definition implemented (Abdelfattah et al.'s code, NASLib): for every call of a Conv/Linear layer, with its
output activation ``a`` of shape ``(N, K, ...)`` and the loss gradient ``g = dL/da``,

    Delta_k = 1 / (2N) * sum_n ( sum_{spatial} a_{nk} * g_{nk} )^2,     fisher = sum over layers, k of Delta_k.

Choices, where the papers and the common implementations differ:

* Theis et al. define the saliency through a multiplicative mask on the feature maps they prune (Turner et
  al. on the channels inside each block they may swap); the NAS proxy takes ``a`` at the *output of every
  Conv/Linear layer* (before BatchNorm), which is what the published correlations use. We follow the proxy.
* The saliency is accumulated over the batch of one forward pass (Theis et al. average over many training
  steps). A layer called several times contributes once per call, as in Abdelfattah et al.'s code.
* In-place ReLUs: the activation is captured right at the layer's output and the network continues on a
  copy, so an in-place ReLU after a Conv/Linear cannot overwrite the captured ``a`` (the reference code's
  identity wrapper would see the in-place result).
* BatchNorm in train mode (batch statistics; running statistics restored); cross-entropy unless ``loss_fn``;
  ``.grad`` untouched. NaN/inf gives ``float("nan")``.
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
    hooked,
    prepare_batch,
    proxy_run,
    weighted_layers,
)


@PROXIES.register("fisher")
def fisher(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """Sum over Conv/Linear output channels of ``mean_n (sum_spatial a * dL/da)^2 / 2`` (train mode)."""
    check_model(model, proxy="fisher")
    batch, labels = prepare_batch(model, inputs, targets, proxy="fisher", needs_targets=True)
    layers = weighted_layers(model, proxy="fisher")
    activations: list[torch.Tensor] = []

    def capture(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        activations.append(output)
        return output.clone()  # the network goes on with a copy: in-place ops downstream leave `output` intact

    with proxy_run(model, seed=seed, train=True), hooked(layer.register_forward_hook(capture) for layer in layers):
        loss = classification_loss(model, batch, labels, loss_fn=loss_fn, proxy="fisher")
        grads = grads_or_zeros(loss, activations)
        total = sum(float(_channel_saliency(a.detach(), g).sum()) for a, g in zip(activations, grads))
    return finite_or_nan(total)


def _channel_saliency(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``Delta_k`` for each output channel ``k`` (dimension 1) of one layer call."""
    product = activation * grad
    per_channel = product.sum(dim=tuple(range(2, product.dim()))) if product.dim() > 2 else product
    return per_channel.pow(2).mean(dim=0).mul(0.5)
