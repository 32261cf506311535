"""Acquisition functions: how a predictor's mean and uncertainty rank the candidates of a pool.

Each maps ``(mean, std, best, rng, beta)`` to one score per candidate, higher is better; ``best`` is the best
observed reward, ``beta`` UCB's exploration weight, ``rng`` the strategy's generator (used by ``its`` only).

* ``its``: independent Thompson sampling, one draw from ``N(mean, std)`` per candidate (BANANAS's choice:
  White et al., AAAI 2021, Section 4);
* ``ucb``: ``mean + beta * std`` (Srinivas et al., ICML 2010);
* ``ei``: expected improvement over ``best`` under ``N(mean, std)`` (Jones et al., 1998); where ``std`` is 0,
  the plain improvement ``max(mean - best, 0)``;
* ``mean``: the predicted mean (greedy).

Deviations from the cited definitions: none, apart from EI's zero-``std`` case above.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from scipy.special import ndtr

from nni_effnas.checks import check_number

__all__ = ["ACQUISITIONS", "check_acquisition"]


def _its(mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator, beta: float) -> np.ndarray:
    return rng.normal(mean, std)


def _ucb(mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator, beta: float) -> np.ndarray:
    return mean + beta * std


def _ei(mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator, beta: float) -> np.ndarray:
    gain = mean - best
    safe = np.where(std > 0, std, 1.0)
    z = gain / safe
    ei = gain * ndtr(z) + safe * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return np.where(std > 0, ei, np.maximum(gain, 0.0))


def _mean(mean: np.ndarray, std: np.ndarray, best: float, rng: np.random.Generator, beta: float) -> np.ndarray:
    return mean


ACQUISITIONS: dict[str, Callable[..., np.ndarray]] = {"its": _its, "ucb": _ucb, "ei": _ei, "mean": _mean}


def check_acquisition(acquisition: Any, beta: Any) -> tuple[str, float]:
    """``(acquisition, float(beta))``, or a one-line ``ValueError`` naming the bad value."""
    if not isinstance(acquisition, str) or acquisition not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {acquisition!r}; expected one of: {', '.join(ACQUISITIONS)}")
    return acquisition, check_number("beta", beta)
