"""Search strategies, by registry key (``STRATEGIES.names()``).

Installed packages add theirs through the entry-point group ``nni_effnas.strategies`` (docs/plugins.md), loaded
after the built-in ones: then the CLI, the Python API and the NNI tuners (after ``nni-effnas register``) know them.

Every strategy implements :class:`~nni_effnas.strategies.base.Strategy` (ask / tell); adapters make it an
NNI tuner (``nni_effnas.nni_tuner``) or drive it in-process (``nni_effnas.loop``).
"""
from typing import Any, Mapping

from nni_effnas.registry import Registry
from nni_effnas.strategies.base import Strategy

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def check_strategy_args(args: Any, owner: str = "strategy_args") -> dict[str, Any]:
    """``args`` as a dict of a strategy's keyword arguments; refuses a non-mapping and ``seed``, which every caller
    passes itself (a search's or benchmark run's own seed)."""
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise ValueError(f"{owner} must be a dict of keyword arguments, got {args!r}")
    if "seed" in args:
        raise ValueError(f"{owner} must not set seed (got seed={args['seed']!r}); the seed is the run's own "
                         "(the search's seed, or the benchmark's --seeds and --seed-offset)")
    return dict(args)


def benchmark_kwargs(name: str, benchmark: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of strategy ``name`` on the tabular benchmark ``benchmark`` (e.g. ``nb201/cifar10``):
    what its ``benchmark_args`` fills in for that benchmark, then the user's ``args`` over them."""
    return {**STRATEGIES.get(name).benchmark_args(benchmark), **(args or {})}


def create_strategy(name: str, *, seed: int | None = None, **kwargs: Any) -> Strategy:
    """Instantiate the registered strategy ``name``; unknown keyword arguments raise a one-line error."""
    return STRATEGIES.create(name, seed=seed, **kwargs)


from nni_effnas.strategies import random_search as _random_search  # noqa: E402,F401
from nni_effnas.strategies import regularized_evolution as _regularized_evolution  # noqa: E402,F401
from nni_effnas.strategies import nni_builtin as _nni_builtin  # noqa: E402,F401
from nni_effnas.strategies import zero_cost_pruning as _zero_cost_pruning  # noqa: E402,F401
from nni_effnas.strategies import zero_cost_warmup as _zero_cost_warmup  # noqa: E402,F401
from nni_effnas.strategies import zero_cost_evolution as _zero_cost_evolution  # noqa: E402,F401
from nni_effnas.strategies import predictor_guided as _predictor_guided  # noqa: E402,F401
from nni_effnas.strategies import optuna_builtin as _optuna_builtin  # noqa: E402,F401
from nni_effnas.strategies import reinforce as _reinforce  # noqa: E402,F401
from nni_effnas.strategies import pnas as _pnas  # noqa: E402,F401
from nni_effnas.strategies import optuna_multiobjective as _optuna_multiobjective  # noqa: E402,F401
from nni_effnas.strategies import mo_bananas as _mo_bananas  # noqa: E402,F401

STRATEGIES.load_entry_points("nni_effnas.strategies")  # installed packages' strategies (see nni_effnas.registry)

__all__ = ["STRATEGIES", "Strategy", "check_strategy_args", "create_strategy"]
