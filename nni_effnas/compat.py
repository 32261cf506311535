"""Every work-around nni-effnas needs for NNI 3.0 on today's stack, in one place.

NNI 3.0 is archived (read-only since 2024-09-18): nothing here will be fixed upstream. Each fix names the
symptom it prevents; ``tests/test_compat.py`` shows the failure each one prevents.

| symptom | fix here |
|---|---|
| ``RuntimeWarning: <class 'torch.nn.parameter.Buffer'> is found to be not a nn.Module`` on every import of ``nni.nas`` | :func:`silence_buffer_warning` |
| ``nnictl`` dies with ``No module named 'pkg_resources'`` (setuptools >= 81) | :func:`require_pkg_resources` checks early with a one-line fix; ``constraints.txt`` pins ``setuptools<81`` |
| with ``trialConcurrency > 1`` a trial evaluates another trial's parameters, so the web UI shows each trial with parameters that are not the ones its metrics belong to (NNI 3.0's local training service hands queued parameters to whichever trial asks first) | :func:`next_trial_parameters` |
| NNI's HPO tuners log every suggestion at INFO ("Use grid search for deduplication", "trial (N) end"), flooding in-process benchmarks; ``import nni`` resets the ``nni`` logger to INFO | :func:`quiet_nni_logging` |
| NNI's Evolution tuner draws from the global ``random`` module and an unseeded ``RandomState``: runs are not reproducible and it disturbs other code's global random state | :func:`private_global_random`, :func:`seed_evolution_tuner` |
"""
from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from typing import Any, Iterator

_logger = logging.getLogger(__name__)

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


def quiet_nni_logging(level: int = logging.WARNING) -> None:
    """Import NNI (whose import sets the ``nni`` logger to INFO), then set the ``nni`` logger to ``level``."""
    import nni  # noqa: F401

    logging.getLogger("nni").setLevel(level)


@contextlib.contextmanager
def nni_logging_at(level: int = logging.WARNING) -> Iterator[None]:
    """The ``nni`` logger at ``level`` inside the block (e.g. a throwaway tuner built only to check its arguments,
    whose "Using random seed" line would name a seed the search never uses), as it was after."""
    import nni  # noqa: F401 - its import sets the logger's level: import first, so the block restores that

    logger = logging.getLogger("nni")
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


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


def next_trial_parameters(*, retries: int = 10, delay_s: float = 0.5) -> Any:
    """``nni.get_next_parameter()``, corrected for the local training service's parameter race.

    NNI's manager records parameters P for trial X (the web UI shows X with P) but its local training service
    sends queued parameters first-come-first-served (``parameters.shift()`` in ``training_service/v3/compat.js``),
    so when several trials start together X may receive another trial's P'. This asks the manager's REST API
    (the host of ``NNI_TRIAL_COMMAND_CHANNEL``) for the parameters recorded for this trial
    (``NNI_TRIAL_JOB_ID``) and, when they differ, evaluates those and reports under their ``parameter_id``: every
    parameter set is still evaluated exactly once, and the web UI, the metrics and the tuner agree.
    Falls back to what was received if the REST API does not answer.
    """
    import nni
    import nni.trial

    received = nni.get_next_parameter()
    record = _recorded_parameters(retries=retries, delay_s=delay_s)
    current = nni.trial._params or {}
    if record is not None and record.get("parameter_id") != current.get("parameter_id"):
        _logger.info("trial received parameter %s but is recorded with %s; using the recorded one",
                     current.get("parameter_id"), record.get("parameter_id"))
        nni.trial._params = record
        return record["parameters"]
    return received


def _recorded_parameters(*, retries: int, delay_s: float) -> dict[str, Any] | None:
    channel, trial_id = os.environ.get("NNI_TRIAL_COMMAND_CHANNEL"), os.environ.get("NNI_TRIAL_JOB_ID")
    if not channel or not trial_id:
        return None
    url = urllib.parse.urlsplit(channel)
    endpoint = f"{url.scheme}://{url.netloc}/api/v1/nni/trial-jobs/{urllib.parse.quote(trial_id)}"
    for _ in range(retries):
        try:
            with urllib.request.urlopen(endpoint, timeout=5) as resp:
                job = json.loads(resp.read().decode())
            forms = job.get("hyperParameters") or []
            if forms:
                record = json.loads(forms[-1])
                if isinstance(record, dict) and "parameters" in record:
                    return record
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(delay_s)
    _logger.warning("could not read this trial's recorded parameters from %s; using the received ones", endpoint)
    return None
