"""SynFlow, registered as ``"synflow"``: data-free synaptic flow of the linearised network.

Papers: H. Tanaka, D. Kunin, D. L. K. Yamins and S. Ganguli, "Pruning neural networks without any data by
iteratively conserving synaptic flow", NeurIPS 2020 (the pruning score); M. S. Abdelfattah, A. Mehrotra,
L. Dudziak and N. D. Lane, "Zero-Cost Proxies for Lightweight NAS", ICLR 2021 (its use as a NAS proxy).

Definition implemented (Abdelfattah et al.): replace every floating parameter and buffer ``theta`` by
``|theta|``, feed a single all-ones input of the batch's shape, let ``R = sum(f(1))`` and return

    synflow = sum over Conv/Linear weights W of  sum( |W * dR/dW| ).

Choices, where the paper and the common implementations differ:

* BatchNorm is *bypassed* (each BN layer returns its input), as in Abdelfattah et al.'s code and NASLib, which
  score a copy of the network without BN. Tanaka et al. instead keep BN in eval mode (running statistics);
  bypassing is what the published NAS correlations use.
* The network runs in eval mode, so dropout is off and the score does not depend on the seed (data-free and
  deterministic: ``inputs`` only gives the shape, ``targets`` and ``seed`` are ignored).
* Double precision by default (``double=True``), as in both codes: on NAS-Bench-201 at full size the sum
  reaches ~1e39, past float32's range.
* The raw sum is returned. NASLib's stored NAS-Bench-Suite-Zero values are its logarithm, which ranks the same.
* The substitution is done with ``torch.func.functional_call``: the model's own tensors are never written.
* In-place ReLUs are harmless: the input is all ones and ReLU of positive values is the identity.

An all-``none`` NAS-Bench-201 cell scores exactly 0 (no path from input to output); an overflow or NaN gives
``float("nan")``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import (
    BATCH_NORMS,
    LossFn,
    check_model,
    finite_or_nan,
    grads_or_zeros,
    hooked,
    prepare_batch,
    proxy_run,
    run_forward,
    weighted_layers,
)


@PROXIES.register("synflow")
def synflow(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
    double: bool = True,
) -> float:
    """Sum of ``|W * dR/dW|`` over Conv/Linear weights of the ``|theta|``-network on an all-ones input."""
    check_model(model, proxy="synflow")
    batch, _ = prepare_batch(model, inputs, None, proxy="synflow")
    layers = weighted_layers(model, proxy="synflow")
    dtype = torch.float64 if double else batch.dtype
    with proxy_run(model, seed=seed, train=False):
        tensors = _absolute_state(model, dtype)
        weights = [tensors[name] for name in _weight_names(model, layers)]
        ones = torch.ones((1, *batch.shape[1:]), dtype=dtype, device=batch.device)
        bypass = (m.register_forward_hook(_identity) for m in model.modules() if isinstance(m, BATCH_NORMS))
        with hooked(bypass):
            output = run_forward(model, ones, proxy="synflow", state=tensors)
        grads = grads_or_zeros(output.sum(), weights)
        total = sum(float((w.detach() * g).abs().sum()) for w, g in zip(weights, grads))
    return finite_or_nan(total)


def _identity(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return args[0]


def _absolute_state(model: nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """``|theta|`` in ``dtype`` for every floating parameter (as a new leaf) and buffer; others unchanged."""
    state: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        value = param.detach().abs().to(dtype) if param.is_floating_point() else param.detach()
        state[name] = value.requires_grad_(param.requires_grad and param.is_floating_point())
    for name, buffer in model.named_buffers():
        state[name] = buffer.detach().abs().to(dtype) if buffer.is_floating_point() else buffer
    return state


def _weight_names(model: nn.Module, layers: list[nn.Module]) -> list[str]:
    names = {id(param): name for name, param in model.named_parameters()}
    return [names[id(layer.weight)] for layer in layers]

