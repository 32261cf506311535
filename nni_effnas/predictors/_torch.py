"""What the torch predictors share: K ensemble members trained as one batched model.

Each member's weights are a slice of ``(K, ...)`` tensors, so one Adam step trains all K members at the cost of
about one (Adam is elementwise and the loss is a sum of per-member losses, so the members stay independent).
All weights live in one flat tensor, so an optimiser step is a handful of tensor operations, not dozens: on
tiny networks Python overhead, not arithmetic, is the cost. Every member has its own initialisation and its
own minibatch order, all drawn from one ``torch.Generator`` seeded by ``random_state``: no global RNG is read
or written. Adam (Kingma and Ba, ICLR 2015, with L2 weight decay added to the gradient like ``torch.optim.Adam``)
is written out on the flat tensor: ``torch.optim`` imports ``torch._dynamo`` on first use, seconds per process.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def batched_linear(members: int, d_in: int, d_out: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Weights ``(K, d_in, d_out)`` and biases ``(K, 1, d_out)``, PyTorch's ``nn.Linear`` initialisation."""
    bound = 1.0 / math.sqrt(d_in)
    weight = (torch.rand((members, d_in, d_out), generator=gen) * 2 - 1) * bound
    bias = (torch.rand((members, 1, d_out), generator=gen) * 2 - 1) * bound
    return [weight, bias]


class Packed:
    """Tensors stored in one flat leaf tensor; :meth:`unpack` gives views of it (rebuilt per step)."""

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        self.shapes = [t.shape for t in tensors]
        self.flat = torch.cat([t.reshape(-1) for t in tensors]).requires_grad_()

    def unpack(self) -> list[torch.Tensor]:
        sizes = [math.prod(shape) for shape in self.shapes]
        return [part.view(shape) for part, shape in zip(torch.split(self.flat, sizes), self.shapes)]

    def frozen(self) -> list[torch.Tensor]:
        with torch.no_grad():
            return [t.detach().clone() for t in self.unpack()]


def train_members(
    loss_of_batch: Callable[[list[torch.Tensor], torch.Tensor], torch.Tensor],
    packed: Packed,
    *,
    n: int,
    members: int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    gen: torch.Generator,
    max_steps: int | None = None,
) -> None:
    """Adam on ``loss_of_batch(params, index)``, ``index`` a ``(K, B)`` tensor of row indices (one order per
    member); the loss must be the *sum* over members of each member's mean loss. Cosine-annealed learning rate;
    ``batch_size >= n`` is full-batch training (no shuffling needed, none drawn). ``max_steps`` caps the number
    of optimiser steps (the cosine schedule spans the capped number), which bounds the cost of a fit however
    large the training set."""
    batch_size = max(1, min(batch_size, n))
    steps, step = max(1, epochs * math.ceil(n / batch_size)), 0
    if max_steps is not None:
        steps = min(steps, max_steps)
    flat = packed.flat
    m, v = torch.zeros_like(flat), torch.zeros_like(flat)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    full = torch.arange(n).expand(members, n)
    for _ in range(epochs):
        order = full if batch_size == n else torch.argsort(torch.rand((members, n), generator=gen), dim=1)
        for start in range(0, n, batch_size):
            if step >= steps:
                return
            flat.grad = None
            loss_of_batch(packed.unpack(), order[:, start:start + batch_size]).backward()
            step += 1
            step_lr = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
            with torch.no_grad():
                grad = flat.grad + weight_decay * flat if weight_decay else flat.grad
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (v / (1 - beta2 ** step)).sqrt_().add_(eps)
                flat.addcdiv_(m, denom, value=-step_lr / (1 - beta1 ** step))
    flat.grad = None


def member_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Sum over members of the mean loss; ``pred`` and ``target`` are ``(K, B)``."""
    if kind == "mae":
        return (pred - target).abs().mean(dim=1).sum()
    if kind == "mse":
        return ((pred - target) ** 2).mean(dim=1).sum()
    raise ValueError(f"unknown loss {kind!r}; expected 'mae' or 'mse'")
