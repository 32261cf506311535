"""FLOPs, registered as ``"flops"``: forward floating-point operations for one sample.

A classic baseline for zero-cost proxies (M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021; NAS-Bench-Suite-Zero, Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks).

Definition: the total that ``torch.utils.flop_counter.FlopCounterMode`` counts for one forward pass of the
first sample of ``inputs`` (a batch of one), in eval mode under ``torch.no_grad``. That counter's convention:
matrix products and convolutions only, 2 FLOPs per multiply-accumulate (``nn.Linear(10, 5)`` on one sample is
``2 * 10 * 5 = 100``; the bias add, BatchNorm, activations, pooling and additions are not counted).

Differences from common tables: NAS-Bench-201 and NASLib report FLOPs in millions from a hook-based counter
that counts one per multiply-accumulate and also counts some cheap layers, so values differ by about a factor
of 2 and the order can differ slightly for cells dominated by pooling. A model without parameters is counted
too (0.0 if it has no matrix products); ``targets``, ``loss_fn`` and ``seed`` are ignored.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from nni_effnas.proxies import PROXIES
from nni_effnas.proxies._common import LossFn, check_model, prepare_batch, proxy_run, run_forward


@PROXIES.register("flops")
def flops(
    model: nn.Module,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor] = None,
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """FLOPs of one forward pass on ``inputs[:1]`` as counted by ``FlopCounterMode``, as a float."""
    check_model(model, proxy="flops", trainable=False)
    batch, _ = prepare_batch(model, inputs, None, proxy="flops")
    counter = FlopCounterMode(display=False)
    with proxy_run(model, seed=seed, train=False), torch.no_grad(), counter:
        run_forward(model, batch[:1], proxy="flops")
    return float(counter.get_total_flops())
