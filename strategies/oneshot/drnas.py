"""DrNAS, registered as ``"drnas"``: mixing weights sampled from a learned Dirichlet distribution.

Paper: X. Chen, R. Wang, M. Cheng, X. Tang and C.-J. Hsieh, "DrNAS: Dirichlet Neural Architecture Search",
ICLR 2021.

Implemented: per label, the logits define a Dirichlet concentration ``c = elu(alpha) + 1`` (positive, and
linear for ``alpha > 0``); every training forward pass draws the mixing weights ``w ~ Dir(c)`` with the
reparameterised (pathwise) sampler, so the architecture gradient flows through the sample. The architecture
loss gets the paper's anchor regulariser, ``reg_scale * sum_labels KL(Dir(c) || Dir(prior))``, a KL divergence
to a symmetric Dirichlet prior (defaults ``prior = 1``, ``reg_scale = 1e-3``: the
authors' code settings as we recall them, not re-checked against the paper's text). Evaluation
(``training=False``) and derivation use the distribution's mean ``c / sum(c)``.

Randomness: torch's Dirichlet sampler draws from the global generator, so each forward pass forks the
global RNG (CPU, and the CUDA device of the logits) and seeds it with a number drawn from the method's own
``generator``: the samples depend only on ``seed`` and the number of forward passes, the training's global
random stream is left as it was, and a resumed search (``state_dict``) draws what the uninterrupted one would.
A :class:`~nni_effnas.oneshot.monitor.CollapseMonitor` Hessian also advances the method's generator (its
``arch_loss`` is a training forward pass); a run with a monitor is still reproducible.

Deviations: no progressive learning (the paper's partial channels with growing width and op pruning in the
DARTS space, a memory device; the NAS-Bench-201 results do not use it); one sample per label per forward pass
shared by all cells with that label (the package's shared-genotype supernets); first-order architecture
gradient; training hyper-parameters are the engine's DARTS defaults.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.distributions import Dirichlet, kl_divergence

from nni_effnas.checks import check_number
from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["DrNAS"]


@ONESHOT.register("drnas")
class DrNAS(OneShotMethod):
    """Dirichlet mixing weights (pathwise samples in training, the mean at evaluation) with a KL anchor.

    Args:
        seed, init_scale: as :class:`OneShotMethod`.
        reg_scale: weight of the KL regulariser (0 turns it off).
        prior: concentration of the symmetric Dirichlet prior.
    """

    name = "drnas"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, reg_scale: float = 1e-3,
                 prior: float = 1.0) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        self.reg_scale = check_number("reg_scale", reg_scale)
        self.prior = check_number("prior", prior, strict=True)

    @staticmethod
    def concentration(a: torch.Tensor) -> torch.Tensor:
        return F.elu(a) + 1.0

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        if not training:
            return self._means(alpha)
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.generator))
        devices = sorted({a.device.index or 0 for a in alpha.values() if a.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return {label: Dirichlet(self.concentration(a)).rsample() for label, a in alpha.items()}

    def _means(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for label, a in alpha.items():
            c = self.concentration(a)
            out[label] = c / c.sum()
        return out

    def arch_regularizer(self, alpha: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if self.reg_scale == 0:
            return None
        total = None
        for a in alpha.values():
            kl = kl_divergence(Dirichlet(self.concentration(a)), Dirichlet(torch.full_like(a, self.prior)))
            total = kl if total is None else total + kl
        return self.reg_scale * total

    def strengths(self, alpha: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {label: m.detach() for label, m in self._means(alpha).items()}

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "reg_scale": self.reg_scale, "prior": self.prior}
