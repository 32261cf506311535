"""Jacobian covariance, registered as ``"jacob_cov"``: how decorrelated the input Jacobians of a batch are.

Paper: J. Mellor, J. Turner, A. Storkey and E. J. Crowley, "Neural Architecture Search without Training",
arXiv:2006.04647 v1, 2020 (the first version; the ICML 2021 version replaced this score by the one in
:mod:`.nwot`). Used as ``jacob_cov`` in M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021, and as ``jacov`` in NASLib.

Definition implemented (the paper's, as in the common codes): let ``J`` be the ``(N, D)`` matrix of the
per-sample input gradients ``d(sum of all outputs)/dx_n`` flattened, ``Sigma`` its ``N x N`` correlation matrix
(``numpy.corrcoef`` of the rows) with eigenvalues ``sigma_i``, and ``k = 1e-5``:

    jacob_cov = - sum_i [ log(sigma_i + k) + 1 / (sigma_i + k) ].

Choices:

* The network runs in train mode (BatchNorm on batch statistics), as in the common codes, so the gradient
  summed over all outputs also has the small cross-sample terms BatchNorm introduces; running statistics are
  restored afterwards.
* Eigenvalues with ``eigvalsh`` in float64 (``Sigma`` is symmetric); the common codes use the general
  ``eig``, which can return tiny imaginary parts. Same values otherwise.
* The input is a fresh leaf; the network runs on a copy of it, so an in-place ReLU on the input is allowed.
* Label-free: ``targets`` and ``loss_fn`` are ignored. Needs a batch of at least 2.

A constant Jacobian row (e.g. a network whose output does not depend on its input, like the all-``none``
NAS-Bench-201 cell) makes ``Sigma`` undefined: ``float("nan")``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import (
    LossFn,
    check_model,
    finite_or_nan,
    prepare_batch,
    proxy_run,
    run_forward,
)

_K = 1e-5


@PROXIES.register("jacob_cov")
def jacob_cov(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """``-sum(log(s + k) + 1/(s + k))`` over the eigenvalues ``s`` of the input-Jacobian correlation matrix."""
    check_model(model, proxy="jacob_cov")
    batch, _ = prepare_batch(model, inputs, None, proxy="jacob_cov", min_batch=2)
    with proxy_run(model, seed=seed, train=True):
        leaf = batch.requires_grad_(True)
        output = run_forward(model, leaf.clone(), proxy="jacob_cov")
        if not output.requires_grad:
            return float("nan")
        (jacobian,) = torch.autograd.grad(output, leaf, grad_outputs=torch.ones_like(output), allow_unused=True)
    if jacobian is None:
        return float("nan")
    return finite_or_nan(_eigen_score(jacobian.reshape(jacobian.shape[0], -1).double().cpu().numpy()))


def _eigen_score(rows: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(rows)
    if not np.all(np.isfinite(corr)):
        return float("nan")
    eig = np.linalg.eigvalsh(corr)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(-np.sum(np.log(eig + _K) + 1.0 / (eig + _K)))
