"""Differentiable (one-shot) search methods, by registry key (``ONESHOT.names()``): DARTS and its variants.

Each method is a :class:`~nni_effnas.strategies.oneshot.base.OneShotMethod` (a handful of hooks) run by one
training loop, :class:`nni_effnas.oneshot.search.OneShotSearch`; :func:`nni_effnas.oneshot.run_oneshot` is the
entry point. One file per paper.
"""
from typing import Any

from nni_effnas.registry import Registry
from nni_effnas.strategies.oneshot.base import OneShotMethod

ONESHOT: Registry[type[OneShotMethod]] = Registry("one-shot method")


def create_method(name: str, *, seed: int = 0, **kwargs: Any) -> OneShotMethod:
    """Instantiate the registered one-shot method ``name``; unknown keyword arguments raise a one-line error."""
    return ONESHOT.create(name, seed=seed, **kwargs)


from nni_effnas.strategies.oneshot import darts as _darts  # noqa: E402,F401
from nni_effnas.strategies.oneshot import gdas as _gdas  # noqa: E402,F401
from nni_effnas.strategies.oneshot import pc_darts as _pc_darts  # noqa: E402,F401
from nni_effnas.strategies.oneshot import fair_darts as _fair_darts  # noqa: E402,F401
from nni_effnas.strategies.oneshot import darts_minus as _darts_minus  # noqa: E402,F401
from nni_effnas.strategies.oneshot import darts_plus as _darts_plus  # noqa: E402,F401
from nni_effnas.strategies.oneshot import drnas as _drnas  # noqa: E402,F401
from nni_effnas.strategies.oneshot import beta_darts as _beta_darts  # noqa: E402,F401
from nni_effnas.strategies.oneshot import p_darts as _p_darts  # noqa: E402,F401
from nni_effnas.strategies.oneshot import darts_pt as _darts_pt  # noqa: E402,F401
from nni_effnas.strategies.oneshot import zc_pt as _zc_pt  # noqa: E402,F401

ONESHOT.load_entry_points("nni_effnas.oneshot_methods")  # installed packages' methods (see nni_effnas.registry)

__all__ = ["ONESHOT", "OneShotMethod", "create_method"]
