"""Parameter count, registered as ``"params"``: the number of trainable parameters.

A classic baseline for zero-cost proxies (M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; NAS-Bench-Suite-Zero, Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks).

Definition: ``sum(p.numel() for p in model.parameters() if p.requires_grad)``, each tied parameter once,
BatchNorm affine parameters and the classifier included (NAS-Bench-201's convention; NASLib reports the same
count in millions). Returned as a float count (not millions). A model with no trainable parameters gives 0.0;
``inputs``, ``targets``, ``loss_fn`` and ``seed`` are ignored and the model is not run.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import LossFn, check_model


@PROXIES.register("params")
def params(
    model: nn.Module,
    *,
    inputs: Optional[torch.Tensor] = None,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """The number of trainable parameters, as a float."""
    check_model(model, proxy="params", trainable=False)
    return float(sum(p.numel() for p in model.parameters() if p.requires_grad))
