"""A graph convolutional network over the cell DAG, registered as ``"gnn"``: Neural Predictor.

Paper: W. Wen, H. Liu, Y. Chen, H. Li, G. Bender and P.-J. Kindermans, "Neural Predictor for Neural
Architecture Search", ECCV 2020. The cell is an op-on-node DAG with one-hot node features; graph-convolution
layers propagate both along the edges and against them (separate weights, averaged: their "bidirectional"
GCN), node embeddings are averaged and fully connected layers regress the accuracy; a single network, so no
uncertainty. NASLib's port (``naslib/predictors/gcn.py``): 4 layers of width 144, each direction
``relu(norm(A) H W)`` then averaged, FC 128, dropout 0.1, MSE, Adam (lr 1e-4, weight decay 3e-4), 300 epochs.

Input contract: the rows of the ``adjacency`` encoding of the search space named by ``space`` (``encode(space,
samples, "adjacency")``: upper-triangular adjacency then node one-hots), which the predictor unflattens with
:func:`nni_effnas.encodings.unflatten_adjacency`. So it stays a plain ``fit(X, y)`` / ``predict(X)`` estimator
on arrays, and any space that registers a cell graph works without code here.

Deviations (all are parameters):

* Uncertainty: an ensemble of ``n_members`` networks (default 3) with different initialisations and data
  orders; mean and standard deviation over members. Trained as one batched model (:mod:`._torch`).
* Smaller and faster to train on a CPU: 3 layers of width 32, one hidden FC layer of width 32, no dropout;
  Adam (lr 0.01, cosine-annealed, weight decay 1e-4), 200 epochs, batch 128, MSE on standardised targets.
* Propagation ``H' = relu([D_f^-1 (A^T + I) H | D_b^-1 (A + I) H] W + b)``: row-normalised with self-loops; the
  two directions' aggregates are concatenated and mixed by one weight matrix (separate weights per direction,
  summed before one ReLU, where NASLib applies a ReLU per direction and averages). Plain torch, no graph
  library.
"""
from __future__ import annotations

import numpy as np

from nni_effnas.encodings import unflatten_adjacency
from nni_effnas.predictors import PREDICTORS
from nni_effnas.predictors.base import Predictor


@PREDICTORS.register("gnn")
class NeuralPredictor(Predictor):
    """An ensemble of bidirectional GCNs on the ``adjacency`` rows of ``space`` (Wen et al. 2020)."""

    encodings = ("adjacency",)

    def __init__(
        self,
        *,
        space: str = "nb201",
        n_members: int = 3,
        layers: int = 3,
        width: int = 32,
        epochs: int = 200,
        batch_size: int = 128,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        random_state: int = 0,
    ) -> None:
        self.space = space
        self.n_members = n_members
        self.layers = layers
        self.width = width
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def _fit(self, X: np.ndarray, z: np.ndarray) -> None:
        import torch
        from nni_effnas.predictors._torch import Packed, batched_linear, generator, member_loss, train_members

        if self.n_members < 1 or self.layers < 1 or self.width < 1 or self.epochs < 0:
            raise ValueError(f"NeuralPredictor: bad sizes n_members={self.n_members}, layers={self.layers}, "
                             f"width={self.width}, epochs={self.epochs}")
        fwd, bwd, feats = self._graphs(X)
        gen = generator(self._seed())
        K = self.n_members
        sizes = [feats.shape[-1]] + [self.width] * self.layers
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            params += batched_linear(K, 2 * a, b, gen)  # rows [:a] act on forward, [a:] on backward aggregates
        packed = Packed(params + batched_linear(K, self.width, self.width, gen) + batched_linear(K, self.width, 1, gen))
        target = torch.as_tensor(z, dtype=torch.float32)

        def loss_of_batch(params: list[torch.Tensor], index: torch.Tensor) -> torch.Tensor:
            pred = _forward(params, fwd[index], bwd[index], feats[index], self.layers)
            return member_loss(pred, target[index], "mse")

        train_members(loss_of_batch, packed, n=len(X), members=K, epochs=self.epochs, batch_size=self.batch_size,
                      lr=self.lr, weight_decay=self.weight_decay, gen=gen)
        self.params_ = packed.frozen()

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        fwd, bwd, feats = self._graphs(X)
        with torch.no_grad():
            out = _forward(self.params_, fwd[None], bwd[None], feats.expand(self.n_members, *feats.shape), self.layers)
        out = out.double().numpy()
        return out.mean(axis=0), out.std(axis=0)

    def _graphs(self, X: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch

        adj, feats = unflatten_adjacency(X, self.space)
        adj = torch.as_tensor(adj, dtype=torch.float32)
        eye = torch.eye(adj.shape[-1])
        fwd = adj.transpose(1, 2) + eye  # row i aggregates node i's inputs
        bwd = adj + eye  # row i aggregates node i's outputs
        fwd = fwd / fwd.sum(dim=2, keepdim=True)
        bwd = bwd / bwd.sum(dim=2, keepdim=True)
        return fwd, bwd, torch.as_tensor(feats, dtype=torch.float32)


def _forward(
    params: list[torch.Tensor], fwd: torch.Tensor, bwd: torch.Tensor, h: torch.Tensor, layers: int
) -> torch.Tensor:
    """Propagation matrices ``(K or 1, B, N, N)``, node features ``(K, B, N, F)``; returns ``(K, B)``."""
    import torch

    K, B, N, _ = h.shape
    for layer in range(layers):
        weight, bias = params[2 * layer: 2 * layer + 2]  # (K, 2F, G), (K, 1, G)
        both = torch.cat([fwd @ h, bwd @ h], dim=3).reshape(K, B * N, -1)  # aggregate first: F < G
        h = torch.relu(torch.baddbmm(bias, both, weight)).reshape(K, B, N, -1)
    w1, b1, w2, b2 = params[2 * layers:]
    pooled = h.mean(dim=2)  # (K, B, width)
    return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, pooled, w1)), w2).squeeze(-1)
