"""Zen-score, registered as ``"zen"``: the expected response of the pre-pooling features to a Gaussian
perturbation of a Gaussian input, corrected for BatchNorm's rescaling.

Paper: M. Lin, P. Wang, Z. Sun, H. Chen, X. Sun, Q. Qian, H. Li and R. Jin, "Zen-NAS: A Zero-Shot NAS for
High-Performance Image Recognition", ICCV 2021.

Definition implemented (the paper's, with the L1 sum of the authors' code for Delta): re-initialise the network with Gaussian weights (Conv/Linear weights
``N(0, 1)``, their biases 0, BatchNorm/GroupNorm weight 1 and bias 0); draw ``x, e ~ N(0, 1)`` of the batch's
shape; with ``f`` the feature map entering the global pooling and ``gamma = 0.01``,

    Delta = mean_n sum_{c,h,w} | f(x)_n - f(x + gamma * e)_n |,
    zen   = log(Delta) + sum over BatchNorm layers i of log( sqrt( mean_j sigma_{i,j}^2 ) ),

``sigma_{i,j}^2`` the mini-batch variance of channel ``j`` at BN layer ``i`` (train mode), averaged over
``repeat`` draws (default 1).

Choices, where the paper and the common implementations differ:

* ``bn_variance="batch"`` (default, the paper): ``sigma`` is the *mini-batch* standard deviation, the biased
  variance (what BN normalises with) of each BN layer's input on the unperturbed pass. A BN layer whose input
  is identically zero (a dead branch: a convolution fed only through ``none`` edges, in 2290 of the 15625
  NAS-Bench-201 cells) scales nothing and is skipped; the paper's formula would give ``log 0``.
* ``bn_variance="running"``: Zen-NAS's and NASLib's code, which read each BN layer's ``running_var`` after
  the two forward passes; with the default momentum 0.1 that is ``0.81 + 0.09 v1 + 0.1 v2`` (``v1``, ``v2``
  the unbiased batch variances of the clean and perturbed passes), a damped batch variance. It reproduces
  NASLib's stored NAS-Bench-201 zen values (Spearman 0.999 on 40 CIFAR-10 cells, values within a few units
  of ~5-170); the paper's variant agrees with them at 0.96 and, on those 40 cells, correlates better with
  test accuracy (0.45 against 0.26; few cells, indicative only).
* ``f`` for a generic model: the input of the first adaptive average pooling module called after the last
  convolution (the global pooling, as in NAS-Bench-201's network); if there is none, the input of the last
  ``nn.Linear`` called (the classifier's input). Pooling done functionally is invisible.
* The data in ``inputs`` is ignored (only its shape is used): zen is data-free and weight-free, random only
  through ``seed``, and the model's own weights are restored afterwards. ``targets``/``loss_fn`` are ignored.
* In-place ReLUs need nothing special (no gradients; the features are read before pooling).

``log(0)`` (features that do not respond, e.g. the all-``none`` NAS-Bench-201 cell) or NaN gives ``float("nan")``.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import numpy as np
import torch
import torch.nn as nn

from nni_effnas.checks import check_int
from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import (
    BATCH_NORMS,
    WEIGHTED_LAYERS,
    LossFn,
    check_model,
    finite_or_nan,
    hooked,
    prepare_batch,
    proxy_run,
    run_forward,
)

_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@PROXIES.register("zen")
def zen(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
    repeat: int = 1,
    mixup_gamma: float = 1e-2,
    bn_variance: Literal["batch", "running"] = "batch",
) -> float:
    """Zen-score of ``model`` re-initialised with Gaussian weights (train mode), averaged over ``repeat`` draws."""
    check_model(model, proxy="zen")
    batch, _ = prepare_batch(model, inputs, None, proxy="zen")
    check_int("zen: repeat", repeat)
    if bn_variance not in ("batch", "running"):
        raise ValueError(f"zen: unknown bn_variance {bn_variance!r}; expected one of: batch, running")
    scores = []
    with proxy_run(model, seed=seed, train=True) as generator, torch.no_grad():
        for _ in range(repeat):
            _gaussian_init(model, generator)
            x = torch.randn(batch.shape, generator=generator, device=batch.device, dtype=batch.dtype)
            noise = torch.randn(batch.shape, generator=generator, device=batch.device, dtype=batch.dtype)
            clean, log_sigma = _features(model, x, with_bn=True)
            mixed, _ = _features(model, x + mixup_gamma * noise, with_bn=False)
            if bn_variance == "running":
                log_sigma = _log_sigma_running(model)
            delta = float((clean - mixed).abs().flatten(1).sum(dim=1).mean())
            scores.append(math.log(delta) + log_sigma if delta > 0 else float("nan"))
    return finite_or_nan(np.mean(scores))


def _gaussian_init(model: nn.Module, generator: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, WEIGHTED_LAYERS):
            module.weight.normal_(generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, (*BATCH_NORMS, nn.GroupNorm)) and module.weight is not None:
            module.weight.fill_(1.0)
            module.bias.zero_()


def _features(model: nn.Module, x: torch.Tensor, *, with_bn: bool) -> tuple[torch.Tensor, float]:
    """The pre-pooling feature map of ``x`` and (``with_bn``) the summed ``log sqrt(mean var)`` of BN inputs."""
    events: list[tuple[str, Optional[torch.Tensor]]] = []
    log_sigmas: list[float] = []

    def record(module: nn.Module, args: tuple) -> None:
        kind = "pool" if isinstance(module, _POOLS) else "conv" if isinstance(module, _CONVS) else "linear"
        events.append((kind, None if kind == "conv" else args[0]))

    def bn_variance(module: nn.Module, args: tuple) -> None:
        dims = tuple(d for d in range(args[0].dim()) if d != 1)
        variance = float(args[0].double().var(dim=dims, unbiased=False).mean())
        if variance > 0 or math.isnan(variance):  # a BN on an all-zero input (dead branch) scales nothing
            log_sigmas.append(0.5 * math.log(variance))

    watched = [m for m in model.modules() if isinstance(m, (*_POOLS, *_CONVS, nn.Linear))]
    handles = [m.register_forward_pre_hook(record) for m in watched]
    if with_bn:
        handles += [m.register_forward_pre_hook(bn_variance) for m in model.modules() if isinstance(m, BATCH_NORMS)]
    with hooked(handles):
        run_forward(model, x, proxy="zen")
    return _pick_feature_map(events, model), sum(log_sigmas)


def _log_sigma_running(model: nn.Module) -> float:
    """Zen-NAS's code: ``sum log sqrt(mean running_var)`` over BN layers after the two forward passes."""
    variances = [float(m.running_var.double().mean()) for m in model.modules()
                 if isinstance(m, BATCH_NORMS) and m.running_var is not None]
    return sum(0.5 * math.log(v) if v > 0 else float("-inf") for v in variances)


def _pick_feature_map(events: list[tuple[str, Optional[torch.Tensor]]], model: nn.Module) -> torch.Tensor:
    last_conv = max((i for i, (kind, _) in enumerate(events) if kind == "conv"), default=-1)
    pools = [t for i, (kind, t) in enumerate(events) if kind == "pool" and i > last_conv]
    linears = [t for kind, t in events if kind == "linear"]
    if pools:
        return pools[0]
    if linears:
        return linears[-1]
    raise ValueError(f"zen: {type(model).__name__} calls neither an nn.AdaptiveAvgPool nor an nn.Linear module")
