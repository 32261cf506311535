"""FLOPs of a model, and how our count relates to NAS-Bench-Suite-Zero's ``flops`` for NAS-Bench-201 cells.

:func:`count_flops` is the registered ``flops`` proxy (:mod:`nni_effnas.proxies.flops`) called on a zero
input of one sample: ``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions and matrix
products only, **2 FLOPs per multiply-accumulate** (MAC); BatchNorm, activations, pooling, bias adds and
additions count 0.

NAS-Bench-Suite-Zero (A. Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks; NASLib's
``zc_nasbench201.json``) reports ``flops`` in millions from tensorwatch's ``ModelStats`` (a torchstat-style
per-leaf-module hook counter) on NASLib's zero-cost NAS-Bench-201 network (``nasbench2.py``, after M. S.
Abdelfattah et al., ICLR 2021). That counter counts **one per MAC** for Conv2d and Linear, and adds: a Conv2d
bias (one per output element), BatchNorm (one per element, two if affine), ReLU (one per element), pooling
(``kernel_h * kernel_w`` per output element) and AdaptiveAvgPool2d (``(window + 1)^2`` per output element for
its 1x1 output). NASLib's network differs from NAS-Bench-201's in the cells only: their convolutions have a
bias and a BatchNorm without affine parameters (``affine=False``). Hence, exactly (checked on all 2,173
cells of the shared subset, CIFAR-10, CIFAR-100 and ImageNet16-120, to float precision;
``tests/test_costs.py``)::

    1e6 * naslib_flops == our_flops / 2 + A + 3 * S * (n_conv_1x1 + n_conv_3x3) + 9 * S * n_avg_pool_3x3

with ``n_*`` the op counts on the cell's 6 edges, ``S = num_cells * (C H^2 + 2C (H/2)^2 + 4C (H/4)^2)`` the
elements of one feature map summed over the 15 cells (a convolution edge adds ReLU + bias + BatchNorm =
``3`` per element, a pooling edge ``9``), and ``A`` the extra operations of the fixed parts (stem BN,
reduction blocks' ReLUs, BNs and 2x2 pools, the head's BN, ReLU and global pool): with ``C=16, N=5``,
``S = 143,360`` and ``A = 160,832`` for 32x32 inputs (CIFAR), ``S = 35,840`` and ``A = 40,512`` for 16x16
(ImageNet16-120). :func:`naslib_mflops` evaluates the right-hand side. The two counts rank cells almost the
same way (Spearman 0.996, Kendall 0.969 on the subset): pooling costs 0 FLOPs for us but 9 per element there.
NAS-Bench-201's own ``flops`` (its API's cost info) also counts one per MAC, with another hook counter.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from nni_effnas.checks import check_input_shape
from nni_effnas.nb201 import OPS, TASKS, canonical_dataset, parse_arch, sample_to_arch

__all__ = ["count_flops", "naslib_mflops"]


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> float:
    """FLOPs (2 per MAC) of one forward pass of ``model`` on one zero sample of shape ``input_shape`` (no batch
    axis, e.g. ``(3, 32, 32)``), on the model's device; the model comes back unchanged (mode, weights)."""
    from nni_effnas.proxies.flops import flops

    shape = check_input_shape(input_shape)
    return flops(model, inputs=torch.zeros((1, *shape)))


def naslib_mflops(arch: str | Mapping[str, Any], our_flops: float, *, dataset: str = "cifar10",
                  channels: int = 16, num_cells: int = 5) -> float:
    """NAS-Bench-Suite-Zero's ``flops`` (millions) of an NAS-Bench-201 cell from our count of its network
    (the relation in this module's docstring); ``dataset`` fixes the input size (32 or 16)."""
    ops = parse_arch(arch if isinstance(arch, str) else sample_to_arch(arch))
    _, (_, size, _) = TASKS[canonical_dataset(dataset)]
    sizes = (size, -(-size // 2), -(-size // 4))
    per_map = num_cells * sum(channels * 2 ** s * h * h for s, h in enumerate(sizes))
    convs = sum(op in ("nor_conv_1x1", "nor_conv_3x3") for op in ops)
    pools = sum(op == OPS[4] for op in ops)
    return (our_flops / 2 + _fixed_extra(channels, sizes) + 3 * per_map * convs + 9 * per_map * pools) / 1e6


def _fixed_extra(c: int, sizes: tuple[int, int, int]) -> int:
    """Operations tensorwatch counts and ``FlopCounterMode`` does not, outside the cells (``A`` above)."""
    h0, h1, h2 = sizes
    stem = 2 * c * h0 * h0  # affine BN
    extra = stem
    for s, (h_in, h_out) in enumerate(((h0, h1), (h1, h2))):
        c_in, c_out = c * 2 ** s, c * 2 ** (s + 1)
        relu_a, relu_b = c_in * h_in * h_in, c_out * h_out * h_out
        bns = 2 * (2 * c_out * h_out * h_out)  # conv_a's and conv_b's affine BNs
        pool = 4 * c_in * h_out * h_out  # the shortcut's 2x2 average pool
        extra += relu_a + relu_b + bns + pool
    width = 4 * c
    head = 2 * width * h2 * h2 + width * h2 * h2 + width * (h2 + 1) ** 2  # BN (affine), ReLU, global pool
    return extra + head
