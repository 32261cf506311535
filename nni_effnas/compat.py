"""Every work-around nni-effnas needs for NNI 3.0 on today's stack, in one place.

NNI 3.0 is archived (read-only since 2024-09-18): nothing here will be fixed upstream. Each fix names the
symptom it prevents; ``tests/test_compat.py`` shows the failure each one prevents.

| symptom | fix here |
|---|---|
| ``RuntimeWarning: <class 'torch.nn.parameter.Buffer'> is found to be not a nn.Module`` on every import of ``nni.nas`` | :func:`silence_buffer_warning` |
| ``nnictl`` dies with ``No module named 'pkg_resources'`` (setuptools >= 81) | :func:`require_pkg_resources` checks early with a one-line fix; ``constraints.txt`` pins ``setuptools<81`` |
| NNI's Evolution tuner draws from the global ``random`` module and an unseeded ``RandomState``: runs are not reproducible and it disturbs other code's global random state | :func:`private_global_random`, :func:`seed_evolution_tuner` |
"""
from __future__ import annotations

import contextlib
import importlib
import random
import warnings
from typing import Any, Iterator

_applied = False


def apply() -> None:
    """Apply the import-time fixes (idempotent). Called by ``import nni_effnas``."""
    global _applied
    if _applied:
        return
    _applied = True
    silence_buffer_warning()


def silence_buffer_warning() -> None:
    """NNI's generated layer wrappers predate torch 2.13 and warn about ``torch.nn.Buffer`` on every import."""
    warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module, which is unexpected.*")


def require_pkg_resources() -> None:
    """``nnictl`` imports ``pkg_resources``, which setuptools 81 removed: fail early with the fix."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module("pkg_resources")
    except ImportError:
        raise RuntimeError(
            "nnictl needs pkg_resources, which setuptools>=81 removed; run: pip install 'setuptools<81'"
        ) from None


@contextlib.contextmanager
def private_global_random(seed: int) -> Iterator[None]:
    """Run NNI code that draws from the global ``random`` module on a private, seeded stream.

    The caller's global ``random`` state is restored afterwards, so NNI's draws neither depend on nor
    disturb the rest of the process.
    """
    saved = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved)


def seed_evolution_tuner(tuner: Any, seed: int) -> Any:
    """Make ``nni.algorithms.hpo.evolution_tuner.EvolutionTuner`` reproducible.

    Its ``update_search_space`` creates ``np.random.RandomState()`` without a seed and draws the initial
    population from it; redo both from ``seed`` right after.
    """
    import numpy as np

    original = tuner.update_search_space

    def update_search_space(search_space: Any) -> None:
        original(search_space)
        tuner.random_state = np.random.RandomState(seed)
        tuner.population = []
        for _ in range(tuner.population_size):
            tuner._random_generate_individual()

    tuner.update_search_space = update_search_space
    return tuner
