"""NASWOT, registered as ``"nwot"``: log-determinant of the kernel of binary ReLU activation codes.

Paper: J. Mellor, J. Turner, A. Storkey and E. J. Crowley, "Neural Architecture Search without Training",
ICML 2021 (the second version of arXiv:2006.04647; the first version's score is :mod:`.jacob_cov`).

Definition implemented (the paper's): every ``nn.ReLU`` call gives each sample ``n`` of a batch a binary code
``c_n`` (1 where the unit is active, ``x > 0``); over all ReLU units of the network, concatenated,

    K_H[i, j] = N_A - d_H(c_i, c_j) = c_i . c_j + (1 - c_i) . (1 - c_j),      nwot = log |det K_H|,

where ``N_A`` is the number of ReLU units and ``d_H`` the Hamming distance.

Choices:

* Only ``torch.nn.ReLU`` modules are seen (as in the common codes); a functional ``F.relu`` is invisible,
  and a model without any ``nn.ReLU`` raises ``ValueError``. Codes are read from the ReLU's *output*
  (``relu(x) > 0`` is ``x > 0``), so in-place ReLUs give the same codes.
* The network runs in train mode (BatchNorm on batch statistics), as in the paper's code and NASLib; running
  statistics are restored afterwards. ``K_H`` is accumulated in float64 (exact counts).
* Label-free: ``targets`` and ``loss_fn`` are ignored. Needs a batch of at least 2.

A singular kernel (two samples with identical codes, e.g. the all-``none`` NAS-Bench-201 cell) has
``log det = -inf``; like a non-positive determinant sign it gives ``float("nan")`` (the common codes return
the log of the absolute determinant whatever its sign, ``-inf`` when singular).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import (
    LossFn,
    check_model,
    finite_or_nan,
    hooked,
    prepare_batch,
    proxy_run,
    run_forward,
)


@PROXIES.register("nwot")
def nwot(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """``log det K_H`` of the Hamming kernel of the batch's binary ReLU codes (train mode)."""
    check_model(model, proxy="nwot")
    batch, _ = prepare_batch(model, inputs, None, proxy="nwot", min_batch=2)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"nwot: {type(model).__name__} has no torch.nn.ReLU modules to read codes from")
    n = batch.shape[0]
    kernel = torch.zeros((n, n), dtype=torch.float64, device=batch.device)

    def accumulate(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        codes = (output.detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(codes @ codes.T).add_((1.0 - codes) @ (1.0 - codes).T)

    with proxy_run(model, seed=seed, train=True), hooked(m.register_forward_hook(accumulate) for m in relus):
        with torch.no_grad():
            run_forward(model, batch, proxy="nwot")
    sign, logdet = torch.linalg.slogdet(kernel)
    return finite_or_nan(logdet) if float(sign) > 0 else float("nan")
