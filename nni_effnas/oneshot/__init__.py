"""Differentiable (one-shot) architecture search: the relaxed supernet, one training loop for every method of
the DARTS family (``nni_effnas.strategies.oneshot``), the collapse monitor and the expected-cost loss.

Entry point: :func:`run_oneshot` (``from nni_effnas.oneshot import run_oneshot``).
"""
from nni_effnas.oneshot.runner import OneShotResult, run_oneshot

__all__ = ["OneShotResult", "run_oneshot"]
