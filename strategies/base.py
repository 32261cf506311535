"""The one small interface every search strategy implements: ask / tell over a categorical space.

Adapters turn a :class:`Strategy` into an NNI tuner (``nni_effnas.nni_tuner``), or drive it in-process
(``nni_effnas.loop``). Strategies never see models or data, only samples and rewards (higher is better).
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Callable, Mapping

import numpy as np

from nni_effnas.checks import is_int
from nni_effnas.space import CategoricalSpace, Sample


class Strategy(ABC):
    """Base class of search strategies.

    Lifecycle: ``setup(space, feasible=...)`` once, then any interleaving of ``ask()`` and ``tell(...)``.
    ``feasible`` (optional) is the user's constraint as a predicate on samples, known before any training
    (e.g. a parameter budget); the loop rejects infeasible samples anyway, but a strategy may use it to avoid
    proposing them (the zero-cost strategies filter their candidate pools with it).
    ``ask`` returns ``None`` when the strategy has nothing more to propose. ``tell`` receives ``reward=None``
    for a failed trial or a sample rejected by a constraint; the strategy must not treat it as an observation.
    ``tell`` passes its reward through :func:`observed_reward` first: NaN and infinities count as failed, and
    anything but a number is refused before the strategy's state changes.
    All randomness comes from ``self.rng``, seeded from the constructor's ``seed``; ``state_dict`` captures it,
    so a restored strategy continues the same trajectory.
    """

    #: True when the strategy never proposes a sample twice while unseen (feasible) samples remain
    unique_samples: bool = False

    def __init__(self, *, seed: int | None = None) -> None:
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"seed must be an int >= 0 or None, got {seed!r}")
        self.seed = seed
        self.space: CategoricalSpace | None = None
        self.feasible: Callable[[Sample], bool] | None = None
        self.rng = np.random.default_rng(seed)

    def setup(self, space: CategoricalSpace, *, feasible: Callable[[Sample], bool] | None = None) -> None:
        self.space = space
        self.feasible = feasible

    @abstractmethod
    def ask(self) -> Sample | None:
        """Propose the next sample, or ``None`` when done."""

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        """Observe the result of ``sample`` (``reward=None``: failed or rejected)."""
        observed_reward(reward)

    @classmethod
    def benchmark_args(cls, benchmark: str) -> dict[str, Any]:
        """Keyword arguments this strategy needs to run on the tabular benchmark named ``benchmark`` (e.g.
        ``"nb201/cifar10"``) beyond the user's; most strategies need none."""
        return {}

    def reused_compute_s(self) -> float:
        """Seconds of compute the strategy used without spending them in this process (e.g. zero-cost scores
        read from a cache, charged at their recorded cost). A simulated clock adds them to the real time spent
        in ``ask``/``tell``, so a cache never makes a search look cheaper than it is."""
        return 0.0

    # -- persistence ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _space(self) -> CategoricalSpace:
        if self.space is None:
            raise RuntimeError(f"{type(self).__name__}.setup(space) must be called before ask()")
        return self.space


def observed_reward(reward: Any) -> float | None:
    """``tell``'s ``reward`` as a float, or ``None`` for a failed or rejected sample: ``None``, NaN or an
    infinity (the adapters report those as failed trials too). Anything but a real number (a string, a bool)
    is a one-line ``ValueError`` naming it."""
    if reward is None:
        return None
    if isinstance(reward, (bool, np.bool_)) or not isinstance(reward, (int, float, np.integer, np.floating)):
        raise ValueError(f"reward must be a number or None, got {reward!r}")
    value = float(reward)
    return value if math.isfinite(value) else None
