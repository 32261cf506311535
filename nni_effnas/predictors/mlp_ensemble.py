"""An ensemble of small MLPs, registered as ``"mlp_ensemble"``: the BANANAS meta neural network.

Paper: C. White, W. Neiswanger and Y. Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search", AAAI 2021. Their predictor is an ensemble of 5 feed-forward networks trained with
different seeds on the path encoding; the prediction is the members' mean and the uncertainty their standard
deviation. Paper settings: 10 layers of width 20, Adam (lr 0.01), mean absolute error, 200 epochs, batch 32.

Deviations, for speed on a CPU and small histories (all are parameters):

* 3 hidden layers of width 32 by default instead of 10 of width 20; cosine-annealed Adam (lr 0.01) with
  weight decay 1e-4; 200 epochs, MAE loss (the paper's) on standardised targets; batch 128 (full batch for
  the small histories a search has early on: 4x fewer steps than batch 32, and it ranked as well). On
  NAS-Bench-201 (60 training cells, path encoding, 5 splits) the paper's 10 x 20 network collapsed to constant
  predictions at lr 0.01 and ranked worse at lr 0.001 (Kendall tau 0.43 against 0.52 for the default).
* The K members are trained as one batched model (:mod:`._torch`): each has its own initialisation and data
  order, all from one generator seeded by ``random_state``.
* At most ``max_steps=400`` optimiser steps per fit (the cosine schedule spans them): identical to 200 epochs
  for up to 256 training rows, and a bounded fit time beyond, which keeps BANANAS' suggestion latency flat
  (at 500 rows, 400 steps instead of 800).
* The standard deviation is over members (``ddof=0``); with ``n_members=1`` it is 0.
"""
from __future__ import annotations

import numpy as np

from nni_effnas.checks import is_int
from nni_effnas.predictors import PREDICTORS
from nni_effnas.predictors.base import Predictor


@PREDICTORS.register("mlp_ensemble")
class MLPEnsemble(Predictor):
    """K MLPs on an encoding (BANANAS); mean and standard deviation over the members."""

    encodings = ("path", "onehot", "adjacency")

    def __init__(
        self,
        *,
        n_members: int = 5,
        hidden_layers: int = 3,
        width: int = 32,
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        loss: str = "mae",
        max_steps: int | None = 400,
        random_state: int = 0,
    ) -> None:
        self.n_members = n_members
        self.hidden_layers = hidden_layers
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.max_steps = max_steps
        self.random_state = random_state

    def _fit(self, X: np.ndarray, z: np.ndarray) -> None:
        import torch
        from nni_effnas.predictors._torch import Packed, batched_linear, generator, member_loss, train_members

        if self.max_steps is not None and not (is_int(self.max_steps) and self.max_steps >= 1):
            raise ValueError(f"MLPEnsemble: max_steps must be an int >= 1 or None (no cap), got {self.max_steps!r}")
        if self.n_members < 1 or self.hidden_layers < 0 or self.width < 1 or self.epochs < 0:
            raise ValueError(f"MLPEnsemble: bad sizes n_members={self.n_members}, hidden_layers={self.hidden_layers}, "
                             f"width={self.width}, epochs={self.epochs}")
        member_loss(torch.zeros(1, 1), torch.zeros(1, 1), self.loss)  # validate the name before training
        gen = generator(self._seed())
        K = self.n_members
        sizes = [X.shape[1]] + [self.width] * self.hidden_layers + [1]
        packed = Packed([p for a, b in zip(sizes[:-1], sizes[1:]) for p in batched_linear(K, a, b, gen)])
        inputs = torch.as_tensor(X, dtype=torch.float32)
        target = torch.as_tensor(z, dtype=torch.float32)

        def loss_of_batch(params: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
            return member_loss(_forward(params, inputs[index]), target[index], self.loss)

        train_members(loss_of_batch, packed, n=len(X), members=K, epochs=self.epochs, batch_size=self.batch_size,
                      lr=self.lr, weight_decay=self.weight_decay, gen=gen, max_steps=self.max_steps)
        self.params_ = packed.frozen()

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        inputs = torch.as_tensor(X, dtype=torch.float32)
        with torch.no_grad():
            out = _forward(self.params_, inputs.expand(self.n_members, *inputs.shape)).double().numpy()
        return out.mean(axis=0), out.std(axis=0)


def _forward(params: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """``h`` is ``(K, B, d)``; returns ``(K, B)``."""
    import torch

    layers = list(zip(params[::2], params[1::2]))
    for weight, bias in layers[:-1]:
        h = torch.relu(torch.baddbmm(bias, h, weight))
    weight, bias = layers[-1]
    return torch.baddbmm(bias, h, weight).squeeze(-1)
