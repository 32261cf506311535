"""Parameter count of a model: the registered ``params`` proxy (:mod:`nni_effnas.proxies.params`).

Every trainable parameter once (weights, BatchNorm affine, classifier): NAS-Bench-201's convention, which
NASLib and NAS-Bench-Suite-Zero report in millions. The model is not run.
"""
from __future__ import annotations

import torch.nn as nn

__all__ = ["count_params"]


def count_params(model: nn.Module) -> float:
    """The number of trainable parameters of ``model`` (a count, not millions)."""
    from nni_effnas.proxies.params import params

    return params(model)
