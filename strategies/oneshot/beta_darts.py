"""beta-DARTS, registered as ``"beta_darts"``: DARTS with the Beta-Decay regulariser.

Paper: P. Ye, B. Li, Y. Li, T. Chen, J. Fan and W. Ouyang, "beta-DARTS: Beta-Decay Regularization for
Differentiable Architecture Search", CVPR 2022.

Implemented: DARTS's softmax relaxation; the architecture loss gets

    ``lambda_e * mean_labels logsumexp(alpha_label)``,

the Beta-Decay regulariser (the smooth maximum of each label's logits, whose gradient is the label's softmax,
so it pulls the logits down in proportion to their activated weight and keeps the activated weights' value and
variance small). ``lambda`` grows linearly over the search, ``lambda_e = lam_min + (lam_max - lam_min) *
e / (E - 1)`` at epoch ``e`` of ``E``. Derivation as DARTS (softmax strengths).

Deviations: the schedule's end points are parameters (defaults 0 -> 1); the paper's per-space values and its
combination with a zero architecture weight decay are a matter of ``search_args`` (``a_weight_decay=0``) and
``method_args``, not defaults here; the regulariser is averaged over labels (the paper sums over edges, which
differs by the constant number of labels, absorbed by lambda); first-order architecture gradient.
"""
from __future__ import annotations

from typing import Any

import torch

from nni_effnas.checks import check_number
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["BetaDARTS", "beta_decay"]


def beta_decay(alpha: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over labels of ``logsumexp(alpha_label)``."""
    return torch.stack([torch.logsumexp(a, dim=-1) for a in alpha.values()]).mean()


@ONESHOT.register("beta_darts")
class BetaDARTS(OneShotMethod):
    """DARTS plus ``lambda * beta_decay(alpha)`` with lambda growing linearly from ``lam_min`` to ``lam_max``."""

    name = "beta_darts"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, lam_min: float = 0.0,
                 lam_max: float = 1.0) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.lam_min, self.lam_max = check_number("lam_min", lam_min), check_number("lam_max", lam_max)

    @property
    def lam(self) -> float:
        """The regulariser's weight in the current epoch."""
        span = max(1, self.max_epochs - 1)
        return self.lam_min + (self.lam_max - self.lam_min) * min(1.0, self.epoch / span)

    def arch_regularizer(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | None:
        lam = self.lam
        return None if lam == 0.0 else lam * beta_decay(alpha)

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "lam_min": self.lam_min, "lam_max": self.lam_max}
