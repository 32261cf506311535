"""PC-DARTS, registered as ``"pc_darts"``: partial channel connections and edge normalisation.

Paper: Y. Xu, L. Xie, X. Zhang, X. Chen, G.-J. Qi, Q. Tian and H. Xiong, "PC-DARTS: Partial Channel
Connections for Memory-Efficient Architecture Search", ICLR 2020.

Implemented:

* partial channel connections: on every mixed edge only ``1/K`` of the input channels (``K = 4``, the paper's
  CIFAR setting) go through the softmax(alpha)-weighted candidate ops; the other channels bypass them, the two
  parts are concatenated and the result is channel-shuffled with ``K`` groups, so the next edge sees a
  different slice. On a stride-2 edge (the first two nodes of the DARTS space's reduction cell) the bypass is
  downsampled by a 2x2 max-pool, as in the authors' code (ours rounds odd sizes up, ``ceil_mode``, to meet
  the edge's output). The memory saving is real: through
  :meth:`PCDARTS.supernet_kwargs` the supernet is *built* with ops on ``C/K`` channels
  (``op_channels_divisor=K`` of the NAS-Bench-201 and DARTS supernets), so the candidate ops hold about
  ``1/K`` (BN, depthwise convs) to ``1/K^2`` (dense and pointwise convs) of DARTS's parameters and
  activations;
* edge normalisation: one extra architecture parameter ``beta`` per edge label; the betas of the edges that
  feed the same node (``space.edge_groups()``) are softmax-normalised and each edge's whole output (mixed
  part and bypass) is multiplied by its normalised beta. The method folds the beta into the edge's mixing
  weights (``weights = beta_norm * softmax(alpha)``, so ``weights.sum()`` is ``beta_norm``), which makes the
  mixed part exactly ``beta_norm * sum_o softmax(alpha)_o o(x)`` and lets :meth:`PCDARTS.mix` scale the
  bypass by ``weights.sum()``;
* derivation from ``beta_norm * softmax(alpha)``, the paper's edge-selection rule. Per-edge argmax
  (NAS-Bench-201) is unchanged by the positive per-edge factor; the DARTS space's ``derive`` ranks a node's
  incoming edges by their strongest op, so there beta matters, as in the paper.

Deviations:

* the sampled channels are the *first* ``C/K`` of the edge's input, made to vary from edge to edge by the
  channel shuffle after every edge, as the authors' code does; the paper's text describes a random sampling
  mask. Nothing here draws random numbers;
* the betas, like alpha, are shared by all cells with the same label (one beta per edge label, not per cell),
  the shared-genotype convention of this package's supernets; a node fed by a single edge (NAS-Bench-201's
  node 1) has a constant normalised beta of 1, so its beta gets no gradient;
* with a ``cost_penalty`` the expected cost is taken over ``beta_norm * softmax(alpha)`` (the weights the
  edges actually use);
* the paper's training schedule is not part of the method: it freezes alpha and beta for the first 15 epochs
  (``search_args={"warmup_epochs": 15}``), uses batch size 256, weight learning rate 0.1 and architecture
  learning rate 6e-4 on CIFAR-10 (``search_args``), which the engine's DARTS defaults do not;
* ``K`` must divide the supernet's ``channels`` (NAS-Bench-201: ``C``; DARTS: ``channels``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from nni_effnas.checks import check_int
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    from nni_effnas.oneshot.supernet import MixedOp, Supernet
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["PCDARTS", "shuffled_concat"]


def shuffled_concat(groups: list[torch.Tensor]) -> torch.Tensor:
    """ShuffleNet's channel shuffle of the groups' concatenation, in one copy: with ``k`` groups of ``c``
    channels, channel ``j`` of group ``i`` goes to ``j * k + i`` (``[g0c0, g1c0, ..., g0c1, g1c1, ...]``)."""
    return torch.stack(groups, dim=2).flatten(1, 2)


@ONESHOT.register("pc_darts")
class PCDARTS(OneShotMethod):
    """Partial channel connections (``1/k`` of the channels through the ops) and per-node edge normalisation.

    Args:
        seed, init_scale: as :class:`OneShotMethod` (the betas start as ``init_scale * N(0, 1)`` too).
        k: channel proportion: ops see ``C/k`` channels (paper: 4 on CIFAR-10, 2 on ImageNet).
    """

    name = "pc_darts"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, k: int = 4) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.k = check_int("k", k)
        self.betas: dict[str, torch.nn.Parameter] = {}
        self._groups: dict[str, list[str]] = {}

    def supernet_kwargs(self) -> dict[str, Any]:
        return {"op_channels_divisor": self.k}

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        super().setup(supernet, space=space)
        groups = space.edge_groups()
        unknown = [label for label in supernet.labels if label not in groups]
        if unknown:
            raise ValueError(f"space {space.name!r} has no edge group for supernet label {unknown[0]!r}")
        self._groups = {}
        for label in supernet.labels:
            self._groups.setdefault(groups[label], []).append(label)
        self.betas = {label: torch.nn.Parameter(self.init_scale * torch.randn((), generator=self.generator))
                      for label in supernet.labels}

    def extra_arch_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.betas.values())

    def normalised_betas(self) -> dict[str, torch.Tensor]:
        """Per label, its beta softmax-normalised over the labels feeding the same node."""
        out: dict[str, torch.Tensor] = {}
        for labels in self._groups.values():
            norm = torch.softmax(torch.stack([self.betas[label] for label in labels]), dim=0)
            out.update(zip(labels, norm))
        return out

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        betas = self.normalised_betas()
        return {label: betas[label].to(a.device) * torch.softmax(a, dim=-1) for label, a in alpha.items()}

    def mix(self, edge: "MixedOp", x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        if channels % self.k:
            raise ValueError(f"edge {edge.label!r} gets {channels} channels, not a multiple of k={self.k}")
        part = channels // self.k
        mixed = super().mix(edge, x[:, :part], weights)
        bypass = x[:, part:]
        if mixed.shape[-2:] != bypass.shape[-2:]:  # a stride-2 edge
            bypass = F.max_pool2d(bypass, 2, 2, ceil_mode=True)
        return shuffled_concat([mixed, *(weights.sum() * bypass).split(part, dim=1)])

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {label: w.detach() for label, w in self.edge_weights(alpha, training=False).items()}

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "k": self.k}
