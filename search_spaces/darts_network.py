"""The DARTS networks as NNI 3.0 ``ModelSpace``\\s: operations, cells, the discrete network and the supernet.

Paper: H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable Architecture Search", ICLR 2019.

Implemented, as in the paper's reference networks (CIFAR):

* operations (:func:`make_op`): ``none`` (zeros, subsampled when the edge has stride 2), ``max_pool_3x3`` and
  ``avg_pool_3x3`` (padding 1; the average does not count padding), ``skip_connect`` (identity, or
  :class:`FactorizedReduce` on a stride-2 edge), ``sep_conv_KxK`` (:class:`SepConv`: twice ReLU -> depthwise KxK
  -> pointwise 1x1 -> BN, the first depthwise conv carrying the stride), ``dil_conv_KxK`` (:class:`DilConv`:
  ReLU -> depthwise KxK with dilation 2 -> pointwise -> BN). Every BN's ``affine`` is a constructor option;
  with ``pool_bn=True`` a pool is followed by an affine-free BN, as DARTS's search network does (its
  ``MixedOp``) so pooled outputs are on the scale of the other candidates; the evaluation network has none;
* cells: inputs ``c_{k-2}`` and ``c_{k-1}`` preprocessed to ``C`` channels by ReLU-Conv1x1-BN, the first by
  :class:`FactorizedReduce` when the previous cell was a reduction; 4 intermediate nodes; the output is the
  concatenation of the 4 (``4C`` channels). In a reduction cell the edges leaving the two input nodes have
  stride 2. :class:`DartsCell` is the discrete cell (each node sums two ops on two chosen earlier nodes),
  :class:`SearchCell` the continuous relaxation (each node sums all its incoming edges);
* networks: stem Conv3x3 (``3C`` channels) + BN, ``layers`` cells with a reduction (channels doubled) at
  ``layers // 3`` and ``2 * layers // 3``, global average pooling, a linear classifier.

  - :class:`DartsModelSpace`: the space of discrete networks with the labels of
    :func:`~nni_effnas.search_spaces.darts_genotype.categorical_choices` (node inputs are categoricals, ops are
    ``LayerChoice``\\s over ``CELL_OPS``); all normal cells share one genotype, all reduction cells another.
    Built inside ``model_context(sample)`` it is the evaluation network of that genotype (affine BN), with
    fresh weights, building only the chosen ops. The paper's evaluation setting is ``channels=36,
    layers=20`` (3.3 M parameters for DARTS_V2); the defaults (16, 8) are a small network.
  - :class:`DartsSupernet`: every edge ``j -> i`` is a ``LayerChoice`` over all 8 ``OPS`` labelled
    ``{cell}_{j}_{i}``, shared by all cells of a type; affine-free BN and BN after pools. The paper's
    search setting is the default, ``channels=16, layers=8``.

Deviations from the reference code:

* no auxiliary head and no drop-path (training-time regularisers of the evaluation protocol, not part of the
  space; parameter counts are the paper's, which also exclude the auxiliary head);
* ``in_channels`` is configurable; the stem's BN is affine in both networks (as in the reference code);
* :class:`FactorizedReduce` zero-pads its shifted path by one row/column when the input size is odd, so odd
  sizes also run; on even sizes (the paper's 32, 16, 8) it is the reference op;
* the discrete model space's ``freeze(sample)`` rebuilds the network in ``model_context(sample)``: fresh
  weights, unlike NNI's generic ``freeze``, which shares them with the space.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nni.mutable import Categorical, ensure_frozen
from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableModule
from nni.nas.space import current_model, model_context

from nni_effnas.checks import int_at_least
from nni_effnas.search_spaces.base import count_parameters
from nni_effnas.search_spaces.darts_genotype import CELL_OPS, INPUT_PAIRS, NODES, OPS

__all__ = [
    "DartsCell", "DartsModelSpace", "DartsNode", "DartsSupernet", "DilConv", "FactorizedReduce", "ReLUConvBN",
    "STEM_MULTIPLIER", "SearchCell", "SepConv", "Zero", "count_parameters", "make_op",
]

STEM_MULTIPLIER = 3


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape (subsampled on a stride-2 edge); a mixed edge leaves its
    term out."""

    always_zero = True  # its output is zeros: a mixed edge may skip it (same value and gradients)

    def __init__(self, *, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """ReLU, then two stride-2 1x1 convs (one on the input shifted by one pixel), concatenated, then BN."""

    def __init__(self, *, in_channels: int, out_channels: int, affine: bool = True) -> None:
        super().__init__()
        if out_channels % 2:
            raise ValueError(f"FactorizedReduce needs an even out_channels, got {out_channels!r}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(in_channels, out_channels // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = x[:, :, 1:, 1:]
        odd_h, odd_w = x.shape[-2] % 2, x.shape[-1] % 2
        if odd_h or odd_w:
            shifted = F.pad(shifted, (0, odd_w, 0, odd_h))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(out_channels, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise KxK conv with dilation -> pointwise 1x1 conv -> BN."""

    def __init__(self, *, channels: int, kernel_size: int, stride: int, dilation: int, affine: bool = True) -> None:
        padding = dilation * (kernel_size // 2)
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(channels, channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked dilation-1 :class:`DilConv` blocks; only the first has the stride."""

    def __init__(self, *, channels: int, kernel_size: int, stride: int, affine: bool = True) -> None:
        super().__init__(
            DilConv(channels=channels, kernel_size=kernel_size, stride=stride, dilation=1, affine=affine),
            DilConv(channels=channels, kernel_size=kernel_size, stride=1, dilation=1, affine=affine),
        )


def make_op(name: str, channels: int, *, stride: int = 1, affine: bool = True, pool_bn: bool = False) -> nn.Module:
    """One DARTS operation on ``channels`` channels; ``stride`` 2 halves the spatial size (reduction edges)."""
    if stride not in (1, 2):
        raise ValueError(f"a DARTS operation has stride 1 or 2, got {stride!r}")
    if name == "none":
        return Zero(stride=stride)
    if name == "skip_connect":
        if stride == 1:
            return nn.Identity()
        return FactorizedReduce(in_channels=channels, out_channels=channels, affine=affine)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride=stride, padding=1) if name == "max_pool_3x3"
                else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False))
        return nn.Sequential(pool, nn.BatchNorm2d(channels, affine=False)) if pool_bn else pool
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels=channels, kernel_size=int(name[-1]), stride=stride, affine=affine)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels=channels, kernel_size=int(name[-1]), stride=stride, dilation=2, affine=affine)
    raise ValueError(f"unknown DARTS operation {name!r}; expected one of: {', '.join(OPS)}")


def _preprocess(*, c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool,
                affine: bool) -> tuple[nn.Module, nn.Module]:
    if reduction_prev:
        pre0: nn.Module = FactorizedReduce(in_channels=c_prev_prev, out_channels=channels, affine=affine)
    else:
        pre0 = ReLUConvBN(in_channels=c_prev_prev, out_channels=channels, kernel_size=1, affine=affine)
    return pre0, ReLUConvBN(in_channels=c_prev, out_channels=channels, kernel_size=1, affine=affine)


def _stride(reduction: bool, source: int) -> int:
    return 2 if reduction and source < 2 else 1


# -- the discrete cell -----------------------------------------------------------------------------------------
class DartsNode(MutableModule):
    """Intermediate node ``node`` of a discrete cell: ``op0(states[j]) + op1(states[k])``.

    In the model space the inputs are a ``Categorical`` ``{cell}_{node}_inputs`` (none for node 2, which reads
    nodes 0 and 1) and each op is a ``LayerChoice`` over ``CELL_OPS`` (one per stride the op may need); inside
    ``model_context(sample)`` they are the chosen pair and ops, and nothing mutable is left.
    """

    def __init__(self, *, cell: str, node: int, channels: int, reduction: bool, affine: bool) -> None:
        super().__init__()
        self.reduction = reduction
        pairs = INPUT_PAIRS[node]
        pair = pairs[0]
        if node > 2:
            choice = Categorical(list(pairs), label=f"{cell}_{node}_inputs")
            sample = current_model()
            pair = ensure_frozen(self.add_mutable(choice)) if sample is None else choice.freeze(sample)
        j, k = (int(s) for s in pair.split("_"))
        self.inputs = (j, k)
        sources = [tuple(int(s) for s in p.split("_")) for p in pairs]
        self.op0 = self._slot(f"{cell}_{node}_op0", {a for a, _ in sources}, j, channels, affine)
        self.op1 = self._slot(f"{cell}_{node}_op1", {b for _, b in sources}, k, channels, affine)

    def _slot(self, label: str, sources: set[int], chosen: int, channels: int, affine: bool) -> nn.Module:
        sample = current_model()
        if sample is not None:
            op = Categorical(list(CELL_OPS), label=label).freeze(sample)
            return make_op(op, channels, stride=_stride(self.reduction, chosen), affine=affine)
        strides = sorted({_stride(self.reduction, s) for s in sources})
        return nn.ModuleDict({
            f"stride{s}": LayerChoice({op: make_op(op, channels, stride=s, affine=affine) for op in CELL_OPS},
                                      label=label)
            for s in strides
        })

    def _run_slot(self, slot: nn.Module, source: int, x: torch.Tensor) -> torch.Tensor:
        if isinstance(slot, nn.ModuleDict):
            slot = slot[f"stride{_stride(self.reduction, source)}"]
        return slot(x)

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        j, k = self.inputs
        return self._run_slot(self.op0, j, states[j]) + self._run_slot(self.op1, k, states[k])


class DartsCell(nn.Module):
    """A discrete normal or reduction cell (see :class:`DartsNode`)."""

    def __init__(self, *, cell: str, c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool,
                 affine: bool = True) -> None:
        super().__init__()
        self.cell = cell
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev=c_prev_prev, c_prev=c_prev, channels=channels,
                                                         reduction_prev=reduction_prev, affine=affine)
        self.nodes = nn.ModuleList(
            DartsNode(cell=cell, node=i, channels=channels, reduction=cell == "reduce", affine=affine) for i in NODES
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in self.nodes:
            states.append(node(states))
        return torch.cat(states[2:], dim=1)


# -- the continuous relaxation ---------------------------------------------------------------------------------
class SearchCell(nn.Module):
    """A supernet cell: node ``i`` sums, over ``j < i``, edge ``{cell}_{j}_{i}`` (a ``LayerChoice`` over ``OPS``)."""

    def __init__(self, *, cell: str, c_prev_prev: int, c_prev: int, channels: int, reduction_prev: bool,
                 affine: bool = False, op_channels_divisor: int = 1) -> None:
        super().__init__()
        self.cell = cell
        reduction = cell == "reduce"
        op_channels = channels // op_channels_divisor
        self.preprocess0, self.preprocess1 = _preprocess(c_prev_prev=c_prev_prev, c_prev=c_prev, channels=channels,
                                                         reduction_prev=reduction_prev, affine=affine)
        self.edges = nn.ModuleDict()
        for i in NODES:
            for j in range(i):
                label = f"{cell}_{j}_{i}"
                stride = _stride(reduction, j)
                self.edges[label] = LayerChoice(
                    {op: make_op(op, op_channels, stride=stride, affine=affine, pool_bn=True) for op in OPS},
                    label=label,
                )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in NODES:
            total = self.edges[f"{self.cell}_0_{i}"](states[0])
            for j in range(1, i):
                total = total + self.edges[f"{self.cell}_{j}_{i}"](states[j])
            states.append(total)
        return torch.cat(states[2:], dim=1)


# -- networks --------------------------------------------------------------------------------------------------
def _build_network(net: nn.Module, cell_class: type, *, channels: int, layers: int, num_classes: int,
                   in_channels: int, affine: bool, **cell_kwargs: Any) -> None:
    for name, value in (("channels", channels), ("layers", layers), ("num_classes", num_classes),
                        ("in_channels", in_channels)):
        int_at_least(name, value, 1)
    if layers < 3:
        raise ValueError(f"layers must be >= 3 (fewer leaves no normal cell), got {layers!r}")
    if not isinstance(affine, bool):
        raise TypeError(f"affine must be a bool, got {affine!r}")
    c_stem = STEM_MULTIPLIER * channels
    net.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
    c_prev_prev, c_prev, width, reduction_prev = c_stem, c_stem, channels, False
    cells = []
    for index in range(layers):
        reduction = index in (layers // 3, 2 * layers // 3)
        width = width * 2 if reduction else width
        cells.append(cell_class(cell="reduce" if reduction else "normal", c_prev_prev=c_prev_prev, c_prev=c_prev,
                                channels=width, reduction_prev=reduction_prev, affine=affine, **cell_kwargs))
        c_prev_prev, c_prev, reduction_prev = c_prev, len(NODES) * width, reduction
    net.cells = nn.ModuleList(cells)
    net.global_pooling = nn.AdaptiveAvgPool2d(1)
    net.classifier = nn.Linear(c_prev, num_classes)


def _forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    s0 = s1 = net.stem(x)
    for cell in net.cells:
        s0, s1 = s1, cell(s0, s1)
    return net.classifier(net.global_pooling(s1).flatten(1))


class DartsModelSpace(ModelSpace):
    """The discrete DARTS networks; in ``model_context(sample)``, the evaluation network of one genotype.

    ``affine`` (default True, the evaluation network's) is every cell BN's affine flag.
    """

    def __init__(self, *, channels: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = True) -> None:
        super().__init__()
        _build_network(self, DartsCell, channels=channels, layers=layers, num_classes=num_classes,
                       in_channels=in_channels, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _forward(self, x)

    def freeze(self, sample: dict[str, Any]) -> "DartsModelSpace":
        """The network of ``sample``, rebuilt with fresh weights (see the module docstring)."""
        with model_context(sample):
            return DartsModelSpace(**self.trace_kwargs)


class DartsSupernet(ModelSpace):
    """DARTS's search network: 14 ``LayerChoice`` edges per cell over all 8 ops, labels ``{cell}_{j}_{i}``.

    ``affine`` (default False, the search network's) is every cell BN's affine flag. ``op_channels_divisor``
    ``K > 1`` builds the candidate ops on ``1/K`` of each cell's channels (PC-DARTS's supernet, whose method
    feeds them a ``1/K`` channel slice; the network only runs under such a method); ``channels`` must be a
    multiple of ``K``.
    """

    def __init__(self, *, channels: int = 16, layers: int = 8, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = False, op_channels_divisor: int = 1) -> None:
        super().__init__()
        int_at_least("op_channels_divisor", op_channels_divisor, 1)
        if isinstance(channels, (int, np.integer)) and channels % op_channels_divisor:
            raise ValueError(f"channels={channels} is not a multiple of op_channels_divisor={op_channels_divisor}")
        _build_network(self, SearchCell, channels=channels, layers=layers, num_classes=num_classes,
                       in_channels=in_channels, affine=affine, op_channels_divisor=op_channels_divisor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _forward(self, x)
