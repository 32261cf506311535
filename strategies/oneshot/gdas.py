"""GDAS, registered as ``"gdas"``: a differentiable sampler that runs one op per edge.

Paper: X. Dong and Y. Yang, "Searching for A Robust Neural Architecture in Four GPU Hours", CVPR 2019.

Implemented: per forward pass, one Gumbel-softmax sample per decision at temperature tau; the forward pass
uses the hard one-hot sample (only the sampled op runs), the backward pass the soft sample's gradient
(straight-through: ``hard - soft.detach() + soft``). tau decays linearly from ``tau_max`` to ``tau_min`` over
the search (NAS-Bench-201's GDAS setting: 10 to 0.1). At evaluation (``training=False``) the argmax op runs.
The derived cell is the argmax of the logits.

Deviations: one sample per decision shared by all cells with that label, as in the NAS-Bench-201 reference
code (the CVPR paper samples per cell in its own space); the reduction cell is searched like the normal one
(the paper fixes a hand-designed reduction cell in the DARTS space); a sample with a non-finite value is
redrawn, as the reference code does.
"""
from __future__ import annotations

from typing import Any

import torch

from nni_effnas.strategies.oneshot import ONESHOT
from nni_effnas.strategies.oneshot.base import OneShotMethod

__all__ = ["GDAS"]

_MAX_DRAWS = 100


@ONESHOT.register("gdas")
class GDAS(OneShotMethod):
    """Gumbel-softmax with a hard forward pass and linearly decaying temperature."""

    name = "gdas"

    def __init__(self, *, seed: int = 0, init_scale: float = 1e-3, tau_max: float = 10.0,
                 tau_min: float = 0.1) -> None:
        super().__init__(seed=seed, init_scale=init_scale)
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"GDAS needs 0 < tau_min <= tau_max, got tau_min={tau_min!r}, tau_max={tau_max!r}")
        self.tau_max, self.tau_min = float(tau_max), float(tau_min)

    @property
    def tau(self) -> float:
        span = max(1, self.max_epochs - 1)
        return self.tau_max - (self.tau_max - self.tau_min) * min(1.0, self.epoch / span)

    def edge_weights(self, alpha: dict[str, torch.Tensor], *, training: bool) -> dict[str, torch.Tensor]:
        if not training:
            return {label: _one_hot(a.detach().argmax(), a) for label, a in alpha.items()}
        return {label: self._sample(a) for label, a in alpha.items()}

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        if not torch.isfinite(logits).all():
            raise FloatingPointError(f"GDAS: architecture logits are not finite: {logits.detach().tolist()}")
        log_probs = torch.log_softmax(logits, dim=-1)
        for _ in range(_MAX_DRAWS):
            uniform = torch.rand(logits.shape, generator=self.generator).to(logits.device)
            exponential = (-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20)
            soft = torch.softmax((log_probs - torch.log(exponential)) / self.tau, dim=-1)
            if torch.isfinite(soft).all():
                break
        else:
            raise FloatingPointError(f"GDAS: no finite Gumbel-softmax sample in {_MAX_DRAWS} draws")
        hard = _one_hot(soft.detach().argmax(), soft)
        return hard - soft.detach() + soft

    def mix(self, edge: Any, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Only the sampled op runs; the other weights (zero in value) are added as scalars so that their
        straight-through gradient reaches the logits, as in the reference implementation."""
        chosen = int(weights.detach().argmax())
        others = torch.cat([weights[:chosen], weights[chosen + 1:]]).sum()
        return weights[chosen] * edge.candidates[chosen](x) + others

    def hparams(self) -> dict[str, Any]:
        return {**super().hparams(), "tau_max": self.tau_max, "tau_min": self.tau_min}


def _one_hot(index: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(like)
    out[int(index)] = 1.0
    return out
