"""Fair DARTS, registered as ``"fair_darts"``: independent sigmoid weights and a zero-one loss.

Paper: X. Chu, T. Zhou, B. Zhang and J. Li, "Fair DARTS: Eliminating Unfair Advantages in Differentiable
Architecture Search", ECCV 2020.

Implemented: each candidate op is weighted by ``sigmoid(alpha_o)``, independently of the others (the weights of
an edge need not sum to 1, so ops cooperate instead of competing for a softmax share); the architecture loss
gets the paper's zero-one loss

    ``L_01 = -1/N * sum_i (sigmoid(alpha_i) - 0.5)^2``,  weighted by ``w01`` (paper: 10),

with ``N`` the number of architecture logits (all labels together), which pushes every sigmoid towards 0 or 1
and so shrinks the gap between the supernet and the discretised network. Op strengths are the sigmoids.

Deviations: the paper keeps every op whose sigmoid exceeds a threshold (0.85) and can thus keep several or no
ops on an edge; here the final cell is the space's own derivation from the sigmoids (``SearchSpace.derive``:
the argmax per NAS-Bench-201 edge, where every edge must carry exactly one op; DARTS's top-2 incoming edges
per node in the DARTS space). ``none`` stays a candidate where the space offers it. Training hyper-parameters
are the engine's DARTS defaults (first order, as in the paper).
"""
from __future__ import annotations

from typing import Any

import torch

from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["FairDARTS", "zero_one_loss"]


def zero_one_loss(alpha: dict[str, torch.Tensor]) -> torch.Tensor:
    """``-1/N * sum (sigmoid(alpha) - 0.5)^2`` over all ``N`` logits of all labels."""
    flat = torch.cat([a.reshape(-1) for a in alpha.values()])
    return -((torch.sigmoid(flat) - 0.5) ** 2).mean()


@ONESHOT.register("fair_darts")
class FairDARTS(OneShotMethod):
    """Sigmoid mixing weights plus ``w01 * L_01``.

    Args:
        seed, init_scale: as :class:`OneShotMethod`.
        w01: weight of the zero-one loss (paper: 10).
    """

    name = "fair_darts"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, w01: float = 10.0) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        if isinstance(w01, bool) or not isinstance(w01, (int, float)) or w01 < 0:
            raise ValueError(f"w01 must be a number >= 0, got {w01!r}")
        self.w01 = float(w01)

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        return {label: torch.sigmoid(a) for label, a in alpha.items()}

    def arch_regularizer(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.w01 == 0:
            return None
        return self.w01 * zero_one_loss(alpha)

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {label: torch.sigmoid(a.detach()) for label, a in alpha.items()}

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "w01": self.w01}
