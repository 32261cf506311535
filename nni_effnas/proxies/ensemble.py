"""Rank aggregation of zero-cost proxies over a set of models.

Combining proxies by rank goes back to M. S. Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS",
ICLR 2021 (a majority ``vote`` of synflow, jacob_cov and snip); NAS-Bench-Suite-Zero (Krishnakumar et al.,
NeurIPS 2022 Datasets and Benchmarks) and later work sum per-proxy ranks. Implemented here: the *mean rank*
(or, equivalently for ordering, the *sum of ranks*) of each model over the given proxies. The pairwise
majority vote of Abdelfattah et al. is not implemented.

Conventions: every proxy is higher-is-better; within one proxy, rank 1 is the worst model and ``n`` the best,
ties share their average rank, and NaN scores (a proxy undefined for that model) tie *below* every number.
The aggregated score is higher-is-better too.
"""
from __future__ import annotations

from typing import Literal, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata


def rank_scores(values: Sequence[float]) -> np.ndarray:
    """Ranks ``1..n`` of ``values`` (higher value, higher rank; ties averaged; NaN tied below everything)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"scores must be one-dimensional, got shape {array.shape}")
    return rankdata(np.where(np.isnan(array), -np.inf, array), method="average")


def aggregate_ranks(
    scores: Mapping[str, Sequence[float]], *, method: Literal["mean", "sum"] = "mean"
) -> np.ndarray:
    """One aggregated score per model: the mean (or sum) over proxies of the model's rank under each proxy.

    ``scores`` maps a proxy name to its scores for the same ``n`` models, in the same order.
    """
    if method not in ("mean", "sum"):
        raise ValueError(f"unknown rank aggregation method {method!r}; expected one of: mean, sum")
    if not scores:
        raise ValueError("aggregate_ranks needs at least one proxy's scores, got none")
    lengths = {name: len(values) for name, values in scores.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"every proxy must score the same models; got lengths {lengths}")
    ranks = np.stack([rank_scores(values) for values in scores.values()])
    return ranks.mean(axis=0) if method == "mean" else ranks.sum(axis=0)
