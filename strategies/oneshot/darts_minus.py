"""DARTS-, registered as ``"darts_minus"``: an auxiliary skip connection with a decaying weight on every edge.

Paper: X. Chu, X. Wang, B. Zhang, S. Lu, X. Wei and J. Yan, "DARTS-: Robustly Stepping out of Performance
Collapse Without Indicators", ICLR 2021.

Implemented: DARTS's softmax relaxation, and on every mixed edge the output
``sum_o softmax(alpha)_o o(x) + beta * skip(x)``: an auxiliary skip connection outside the softmax, so the
candidate ``skip_connect`` no longer has to win alpha to provide the residual path that stabilises training.
``beta`` decays linearly from ``beta0`` (paper: 1) to 0 over the search, ``beta = beta0 * (1 - e / (E - 1))``
at epoch ``e`` of ``E``, so the last epoch trains the plain DARTS supernet and the derived cell (argmax of
softmax(alpha), as DARTS) no longer leans on the auxiliary path.

Deviations:

* ``skip(x)`` is the edge's own ``skip_connect`` candidate module: the identity on stride-1 edges, the space's
  ``FactorizedReduce`` on the stride-2 edges of the DARTS space's reduction cell, so there the auxiliary path
  *shares* that candidate's weights (the authors' code builds a separate module); the space must offer a
  ``skip_connect`` candidate on every edge;
* the schedule is per epoch (the paper's ``beta = beta0 * (1 - t / T)`` ends at 0 at ``t = T``; here the last
  epoch already has ``beta = 0``); with a single-epoch search ``beta`` stays ``beta0``;
* the auxiliary skip is also present when the supernet is evaluated (``training=False``) at the current beta.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from nni_effnas.checks import check_number
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

if TYPE_CHECKING:
    from nni_effnas.oneshot.supernet import MixedOp, Supernet
    from nni_effnas.search_spaces.base import SearchSpace

__all__ = ["DARTSMinus"]

SKIP = "skip_connect"


@ONESHOT.register("darts_minus")
class DARTSMinus(OneShotMethod):
    """DARTS with an auxiliary ``beta * skip(x)`` on every edge, beta decaying linearly to 0.

    Args:
        seed, init_scale: as :class:`OneShotMethod`.
        beta0: the auxiliary skip's initial weight (paper: 1).
    """

    name = "darts_minus"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, beta0: float = 1.0) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.beta0 = check_number("beta0", beta0)

    def setup(self, supernet: "Supernet", *, space: "SearchSpace") -> None:
        missing = [label for label, names in supernet.op_names.items() if SKIP not in names]
        if missing:
            raise ValueError(f"DARTS- needs a {SKIP!r} candidate on every edge; label {missing[0]!r} has none")
        super().setup(supernet, space=space)

    @property
    def beta(self) -> float:
        """The auxiliary skip's weight in the current epoch."""
        span = max(1, self.max_epochs - 1)
        return self.beta0 * max(0.0, 1.0 - self.epoch / span)

    def mix(self, edge: "MixedOp", x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = super().mix(edge, x, weights)
        beta = self.beta
        if beta == 0.0:
            return out
        aux = edge.candidates[edge.names.index(SKIP)](x)
        if out.shape != aux.shape:  # every weight exactly 0: the base mix returned zeros of the input's shape
            out = aux.mul(0.0)
        return out + beta * aux

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "beta0": self.beta0}
