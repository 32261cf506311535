"""Zero-cost proxies: scores of an untrained network that rank architectures without training them.

Registry keys (public API): ``synflow``, ``snip``, ``grasp``, ``fisher``, ``grad_norm``, ``jacob_cov``, ``nwot``,
``zen``, ``params``, ``flops``. Each is a function with the common signature::

    proxy(model, *, inputs, targets=None, loss_fn=None, seed=0) -> float

taking any ``torch.nn.Module`` classifier (an ``(N, C, H, W)`` batch in, ``(N, classes)`` logits out) on the
model's device. Every proxy is *higher is better*, deterministic for a given seed, and leaves the model's
weights, buffers, grads and train/eval mode exactly as it found them (see :mod:`._common`). A NaN or infinite
result is returned as ``float("nan")``; rank it last (:func:`aggregate_ranks` does). Per-proxy definitions,
papers and the variant followed are in each module's docstring.

Example::

    from nni_effnas.proxies import score, aggregate_ranks
    s = score(model, "synflow", inputs=x, targets=y, seed=0)
    combined = aggregate_ranks({"synflow": [...], "nwot": [...]})   # one value per model, higher is better
"""
from __future__ import annotations

from typing import Optional, Protocol, Sequence

import torch
import torch.nn as nn

from nni_effnas.proxies._common import LossFn
from nni_effnas.registry import Registry


class Proxy(Protocol):
    """What a registered proxy is: a function of a model and a batch returning one float (NaN if undefined)."""

    def __call__(
        self,
        model: nn.Module,
        *,
        inputs: torch.Tensor,
        targets: Optional[torch.Tensor] = None,
        loss_fn: Optional[LossFn] = None,
        seed: int = 0,
    ) -> float: ...


PROXIES: Registry[Proxy] = Registry("proxy")


def score(
    model: nn.Module,
    name: str,
    *,
    inputs: torch.Tensor,
    targets: Optional[torch.Tensor],
    loss_fn: Optional[LossFn] = None,
    seed: int = 0,
) -> float:
    """The zero-cost proxy ``name`` of ``model`` on the batch ``inputs`` (labels ``targets``, may be ``None`` for
    data-free and label-free proxies). Unknown names raise the registry's one-line ``ValueError``."""
    proxy = PROXIES.get(name)
    return proxy(model, inputs=inputs, targets=targets, loss_fn=loss_fn, seed=seed)


def proxy_names(spec: str | Sequence[str], *, owner: str = "zero-cost scoring") -> tuple[str, ...]:
    """Canonical registry keys from ``"synflow,jacob_cov"`` or a list; unknown names raise the registry's one-line
    error, an empty list a ``ValueError`` naming ``owner`` and the known proxies."""
    names = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [p for p in names if p]
    if not names:
        raise ValueError(f"{owner} needs at least one proxy; known: " + ", ".join(PROXIES.names()))
    for name in names:
        PROXIES.get(name)
    return tuple(PROXIES.canonical(p) for p in names)


# Importing the modules registers the proxies (each module holds one).
from nni_effnas.proxies import (  # noqa: E402,F401
    fisher,
    flops,
    grad_norm,
    grasp,
    jacob_cov,
    nwot,
    params,
    snip,
    synflow,
    zen,
)
from nni_effnas.proxies.ensemble import aggregate_ranks, rank_scores  # noqa: E402

PROXIES.load_entry_points("nni_effnas.proxies")  # installed packages' proxies (see nni_effnas.registry)

__all__ = ["PROXIES", "LossFn", "Proxy", "aggregate_ranks", "proxy_names", "rank_scores", "score"]
