"""DARTS, first and second order, registered as ``"darts"`` (first order) and ``"darts_2nd"`` (unrolled).

Paper: H. Liu, K. Simonyan and Y. Yang, "DARTS: Differentiable Architecture Search", ICLR 2019.

Implemented: the continuous relaxation (each edge is the softmax(alpha)-weighted sum of its candidate ops,
``none`` included), alternating an Adam step on alpha with the validation loss and an SGD step on the weights
with the training loss; first order (alpha's gradient at the current weights) or second order (the gradient
at the weights after one virtual SGD step, ``w' = w - xi * grad_w L_train``, with the Hessian-vector product
replaced by the paper's finite difference, ``epsilon = 0.01 / ||grad_w' L_val||``). The derived cell is the
argmax of softmax(alpha) per decision, ``none`` included, as the NAS-Bench-201 paper derives DARTS's cells;
spaces whose cells choose inputs (the DARTS space) apply their own rule through ``SearchSpace.derive``.

Deviations: the virtual step of the second-order gradient adds weight decay to the paper's plain
``w - xi * grad`` (at the current weight learning rate; the authors' code also folds in the momentum buffer); training hyper-parameters live in
:class:`~nni_effnas.oneshot.search.OneShotSearch`, whose defaults are the paper's (SGD 0.025 momentum 0.9,
weight decay 3e-4, cosine to 1e-3, gradient clipping 5; Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3).
"""
from __future__ import annotations

from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["DARTS", "DARTSSecondOrder"]


@ONESHOT.register("darts")
class DARTS(OneShotMethod):
    """First-order DARTS: alpha's gradient is taken at the current weights."""

    name = "darts"
    second_order = False


@ONESHOT.register("darts_2nd")
class DARTSSecondOrder(OneShotMethod):
    """Second-order (unrolled) DARTS."""

    name = "darts_2nd"
    second_order = True
