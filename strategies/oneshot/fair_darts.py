"""Fair DARTS, registered as ``"fair_darts"``: independent sigmoid weights and a zero-one loss.

Paper: X. Chu, T. Zhou, B. Zhang and J. Li, "Fair DARTS: Eliminating Unfair Advantages in Differentiable
Architecture Search", ECCV 2020.

Implemented: each candidate op is weighted by ``sigmoid(alpha_o)``, independently of the others (the weights of
an edge need not sum to 1, so ops cooperate instead of competing for a softmax share); the architecture loss
gets the paper's zero-one loss

    ``L_01 = -1/N * sum_i (sigmoid(alpha_i) - 0.5)^2``,  weighted by ``w01`` (paper: 10),

with ``N`` the number of architecture logits (all labels together), which pushes every sigmoid towards 0 or 1
and so shrinks the gap between the supernet and the discretised network. Op strengths are the sigmoids.

Derivation (:meth:`FairDARTS.derive`). The paper keeps the ops whose sigmoid exceeds a threshold (0.85); the
authors' code's default parse ("threshold_sparse") takes, on each of a node's two strongest incoming edges, the
strongest op and keeps it only if its sigmoid reaches the threshold, and its op set has no ``none``. A
NAS-Bench-201 edge carries exactly one op, and dropping it is the ``none`` op, so on NAS-Bench-201
(:func:`derive_nb201`):

* each edge's op is its strongest non-``none`` op (ties: the first in choice order); ``none``'s own sigmoid
  is ignored, as DARTS's derivation ignores ``none``. With independent sigmoids it carries no information
  anyway: ``none`` outputs zeros, so the data loss gives its logit no gradient and only ``L_01`` moves it,
  away from 0.5 on the side of its random initial value; the plain argmax with ``none`` included could thus
  put ``none`` on every edge into the output node, a cell cut off from its input (10 % accuracy);
* the edge is dropped (``none``) when that op's sigmoid is below ``threshold``. The default is 0 (every edge
  keeps an op), not the paper's 0.85: in CPU-length searches few sigmoids reach 0.85, and the sparse cells that
  rule then derives (one convolution on a 2-epoch search) leave NAS-Bench-201's accuracy to the connectivity
  fallback below; pass ``threshold=0.85`` for the paper's rule;
* if the kept edges leave the output node unreachable from the input node, the threshold is lowered just
  far enough: dropped edges come back, strongest first, until a path exists. So the derived cell is never
  disconnected when a connected one exists (it is only when the strengths name no op but ``none`` on every
  edge that could connect it). ``threshold=0`` keeps every edge, each with its strongest non-``none`` op.

Deviations: on NAS-Bench-201 no top-2 limit on a node's incoming edges (the DARTS space's convention; the
benchmark's cells keep all edges) and the connectivity fallback above (not in the paper); in the DARTS space
the space's own derivation applies (per node the two incoming edges with the strongest non-``none`` op, and
that op), the code's edge selection without the threshold, since every node of that space's cells has exactly
two inputs. ``none`` stays a supernet candidate where the space offers it (the paper's op set lacks it).
Training hyper-parameters are the engine's DARTS defaults (first order, as in the paper).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import torch

from nni_effnas.checks import check_number, is_number
from nni_effnas.nb201 import EDGE_LABELS, EDGES, OPS
from nni_effnas.search_spaces.base import check_strengths, strongest
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    from nni_effnas.search_spaces.base import SearchSpace
    from nni_effnas.space import Sample

__all__ = ["FairDARTS", "derive_nb201", "zero_one_loss"]

NONE = "none"


def zero_one_loss(alpha: dict[str, torch.Tensor]) -> torch.Tensor:
    """``-1/N * sum (sigmoid(alpha) - 0.5)^2`` over all ``N`` logits of all labels."""
    flat = torch.cat([a.reshape(-1) for a in alpha.values()])
    return -((torch.sigmoid(flat) - 0.5) ** 2).mean()


def derive_nb201(strengths: Mapping[str, Mapping[str, float]], *, threshold: float) -> dict[str, str]:
    """FairDARTS's threshold rule on a NAS-Bench-201 cell (see the module docstring): per edge the strongest
    non-``none`` op if its strength reaches ``threshold``, else ``none``; dropped edges are restored, strongest
    first, while the output node is unreachable from the input node. Bad strengths raise as in
    ``SearchSpace.derive``."""
    table = check_strengths(strengths, {label: OPS for label in EDGE_LABELS})
    ops = [op for op in OPS if op != NONE]
    best = {label: strongest(table[label], ops, label=label)
            for label in EDGE_LABELS if any(op in table[label] for op in ops)}
    kept = {label for label, op in best.items() if table[label][op] >= threshold}
    for label in sorted(best, key=lambda edge: -table[edge][best[edge]]):  # stable: ties in edge order
        if _reaches_output(kept):
            break
        kept.add(label)
    return {label: best[label] if label in kept else NONE for label in EDGE_LABELS}


def _reaches_output(kept: set[str]) -> bool:
    """Whether the NAS-Bench-201 cell's output node is reachable from its input node over the ``kept`` edges."""
    reached = {0}
    for (source, target), label in zip(EDGES, EDGE_LABELS):  # EDGES is in topological order of the targets
        if source in reached and label in kept:
            reached.add(target)
    return max(target for _, target in EDGES) in reached


@ONESHOT.register("fair_darts")
class FairDARTS(OneShotMethod):
    """Sigmoid mixing weights plus ``w01 * L_01``.

    Args:
        seed, init_scale: as :class:`OneShotMethod`.
        w01: weight of the zero-one loss (paper: 10).
        threshold: the sigmoid an edge's strongest op needs to be kept in a NAS-Bench-201 cell (default 0:
            every edge keeps its strongest non-``none`` op; the paper's is 0.85).
    """

    name = "fair_darts"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, w01: float = 10.0,
                 threshold: float = 0.0) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.w01 = check_number("w01", w01)
        if not is_number(threshold) or not 0 <= threshold <= 1:
            raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        return {label: torch.sigmoid(a) for label, a in alpha.items()}

    def arch_regularizer(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.w01 == 0:
            return None
        return self.w01 * zero_one_loss(alpha)

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {label: torch.sigmoid(a.detach()) for label, a in alpha.items()}

    def derive(self, space: "SearchSpace", strengths: dict[str, dict[str, float]]) -> "Sample":
        """:func:`derive_nb201` on NAS-Bench-201; the space's own rule elsewhere (see the module docstring)."""
        from nni_effnas.search_spaces.nb201 import NB201Space

        if isinstance(space, NB201Space):
            return space.categorical().validate(derive_nb201(strengths, threshold=self.threshold))
        return space.derive(strengths)

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "w01": self.w01, "threshold": self.threshold}
