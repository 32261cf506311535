"""Differentiable (one-shot) architecture search: the relaxed supernet, one training loop for every method of
the DARTS family (``nni_effnas.strategies.oneshot``), the collapse monitor and the expected-cost loss.

Entry points: :func:`search_oneshot` (a method's whole search: P-DARTS runs its stages) and :func:`run_oneshot`
(one supernet training), ``from nni_effnas.oneshot import search_oneshot``.
"""
from nni_effnas.oneshot.runner import OneShotResult, run_oneshot, search_oneshot

__all__ = ["OneShotResult", "run_oneshot", "search_oneshot"]
