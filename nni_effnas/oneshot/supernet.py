"""The relaxed network of differentiable search: every NNI ``LayerChoice`` becomes a :class:`MixedOp`.

A search space's ``supernet_space()`` is a network whose searchable edges are ``LayerChoice`` modules; edges
that share a decision share a label (NAS-Bench-201: the 6 edges of all 15 cells; DARTS: normal and reduction
edges). :class:`Supernet` swaps each ``LayerChoice`` for a :class:`MixedOp` that keeps the same candidate
modules, and holds one vector of architecture logits ``alpha[label]`` per label. Before each forward pass
the one-shot *method* turns the logits into per-label mixing weights (softmax for DARTS, a hard Gumbel
sample for GDAS, sigmoids for FairDARTS, ...) and every mixed edge of that label uses them: one sample per
forward pass, shared by all cells, as in the reference implementations on NAS-Bench-201. The weights of the
latest forward pass stay readable as :attr:`Supernet.last_weights` (with their autograd graph), so a loss on
the weights, such as the expected-cost penalty, sees the very sample the network was run with.

This is NNI's documented seam (a ``ModelSpace`` with ``LayerChoice``); the relaxation itself is ours (see
:mod:`nni_effnas.oneshot.search` for why NNI's one-shot modules are not used).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch
from nni.nas.nn.pytorch import LayerChoice
from torch import nn

if TYPE_CHECKING:
    from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["MixedOp", "Supernet"]


class _Mixing:
    """What all mixed edges of one supernet share during a forward pass (a plain object, not a module)."""

    def __init__(self) -> None:
        self.method: "OneShotMethod | None" = None
        self.weights: dict[str, torch.Tensor] = {}


class MixedOp(nn.Module):
    """One searchable edge: the candidate ops of a ``LayerChoice``, mixed by the method's per-label weights."""

    def __init__(self, label: str, candidates: dict[str, nn.Module], mixing: _Mixing) -> None:
        super().__init__()
        self.label = label
        self.names = list(candidates)
        self.candidates = nn.ModuleList(candidates.values())
        self._mixing = mixing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixing = self._mixing
        if mixing.method is None or self.label not in mixing.weights:
            raise RuntimeError(f"mixed edge {self.label!r} used outside Supernet.forward")
        return mixing.method.mix(self, x, mixing.weights[self.label])


class Supernet(nn.Module):
    """A network with every ``LayerChoice`` relaxed; ``alpha`` holds one logit vector per label.

    ``network`` is modified in place (its ``LayerChoice`` modules are replaced). Labels are collected in the
    order they first appear; edges with the same label must offer the same candidates in the same order.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self._mixing = _Mixing()
        self.op_names: dict[str, list[str]] = {}
        self.edges: list[MixedOp] = []
        self._relax(network)
        if not self.op_names:
            raise ValueError(f"{type(network).__name__} has no LayerChoice to search over; a one-shot search "
                             "needs a space whose supernet_space() has at least one LayerChoice")
        self.network = network
        self.alpha = nn.ParameterDict({label: nn.Parameter(torch.zeros(len(names)))
                                       for label, names in self.op_names.items()})
        self._last_weights: dict[str, torch.Tensor] | None = None

    def _relax(self, module: nn.Module) -> None:
        for name, child in list(module.named_children()):
            if isinstance(child, LayerChoice):
                setattr(module, name, self._mixed(child))
            else:
                self._relax(child)

    def _mixed(self, choice: LayerChoice) -> MixedOp:
        label = str(choice.label)  # a plain str: NNI's label subclass does not load from a weights-only checkpoint
        names = [str(name) for name in choice.names]
        if len(names) < 2:
            raise ValueError(f"choice {label!r} has {len(names)} candidate(s); a relaxation needs at least 2")
        known = self.op_names.setdefault(label, names)
        if known != names:
            raise ValueError(f"edges labelled {label!r} disagree on their candidates: {known} against {names}")
        edge = MixedOp(label, {name: choice[name] for name in choice.names}, self._mixing)
        self.edges.append(edge)
        return edge

    @property
    def labels(self) -> list[str]:
        return list(self.op_names)

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alpha.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.network.parameters())

    @property
    def last_weights(self) -> dict[str, torch.Tensor]:
        """Per-label mixing weights of the latest forward pass, as the edges used them: the same tensors, still
        attached to the logits (a GDAS straight-through sample, a DrNAS Dirichlet draw, DARTS's softmax)."""
        if self._last_weights is None:
            raise RuntimeError("Supernet.last_weights is read before the supernet's first forward pass")
        return dict(self._last_weights)

    def forward(self, x: torch.Tensor, *, method: "OneShotMethod", training: bool | None = None) -> torch.Tensor:
        """Mix every edge with ``method.edge_weights(alpha)``; ``training`` defaults to ``self.training``. The
        weights are kept as :attr:`last_weights` until the next forward pass."""
        mixing = self._mixing
        mixing.method = method
        mixing.weights = method.edge_weights(dict(self.alpha), training=self.training if training is None
                                             else training)
        self._last_weights = mixing.weights
        try:
            return self.network(x)
        finally:
            mixing.weights = {}

    def each_edge(self, fn: Callable[[MixedOp], None]) -> None:
        for edge in self.edges:
            fn(edge)
