"""The one small interface every search strategy implements: ask / tell over a categorical space.

Adapters turn a :class:`Strategy` into an NNI tuner (``nni_effnas.nni_tuner``), or drive it in-process
(``nni_effnas.loop``). Strategies never see models or data, only samples and rewards (higher is better).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Mapping

import numpy as np

from nni_effnas.space import CategoricalSpace, Sample


class Strategy(ABC):
    """Base class of search strategies.

    Lifecycle: ``setup(space)`` once, then any interleaving of ``ask()`` and ``tell(...)``.
    ``ask`` returns ``None`` when the strategy has nothing more to propose. ``tell`` receives ``reward=None``
    for a failed trial or a sample rejected by a constraint; the strategy must not treat it as an observation.
    All randomness comes from ``self.rng``, seeded from the constructor's ``seed``; ``state_dict`` captures it,
    so a restored strategy continues the same trajectory.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed
        self.space: CategoricalSpace | None = None
        self.rng = np.random.default_rng(seed)

    def setup(self, space: CategoricalSpace) -> None:
        self.space = space

    @abstractmethod
    def ask(self) -> Sample | None:
        """Propose the next sample, or ``None`` when done."""

    def tell(self, sample: Sample, reward: float | None, metrics: Mapping[str, Any] | None = None) -> None:
        """Observe the result of ``sample`` (``reward=None``: failed or rejected)."""

    # -- persistence ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _space(self) -> CategoricalSpace:
        if self.space is None:
            raise RuntimeError(f"{type(self).__name__}.setup(space) must be called before ask()")
        return self.space
