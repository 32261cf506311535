from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _quiet_nni():
    from nni_effnas import compat

    compat.quiet_nni_logging()
    yield


@pytest.fixture(autouse=True)
def _no_default_cache(tmp_path, monkeypatch):
    """No test may touch ~/.cache: the default zero-cost cache path points into the test's folder."""
    monkeypatch.setenv("NNI_EFFNAS_CACHE", str(tmp_path / "default-cache.sqlite"))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is much faster than two contending ones on a busy 2-core machine.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fake_nni(monkeypatch):
    """NNI's trial API recorded instead of sent: ``(monkeypatch, {"intermediate": [...], "final": [...]})``."""
    import nni

    reports = {"intermediate": [], "final": []}
    monkeypatch.setattr(nni, "get_trial_id", lambda: "Tr1al")
    monkeypatch.setattr(nni, "report_intermediate_result", reports["intermediate"].append)
    monkeypatch.setattr(nni, "report_final_result", reports["final"].append)
    return monkeypatch, reports


def additive_reward(sample):
    """A reward on ``toy_space``, additive in the labels; optimum 5.5 at a=3, b='z', c=True."""
    return sample["a"] + {"x": 0, "y": 1, "z": 2}[sample["b"]] + (0.5 if sample["c"] else 0)


def stop_after(n):
    """A benchmark ``progress`` callback that stops the run (``KeyboardInterrupt``, as Ctrl-C does) at its
    ``n``-th call, i.e. once ``n`` runs have finished."""
    calls = []

    def progress(*args):
        calls.append(args)
        if len(calls) == n:
            raise KeyboardInterrupt

    return progress


def drive(strategy, space, n, reward, *, feasible=None, metrics=None):
    """Set ``strategy`` up and run ``n`` ask/tell steps with ``reward(sample)`` (stops early at ``None``), telling
    ``metrics(sample)`` (default ``{"default": reward}``); returns the proposals."""
    strategy.setup(space, feasible=feasible)
    out = []
    for _ in range(n):
        sample = strategy.ask()
        if sample is None:
            break
        out.append(sample)
        value = reward(sample)
        strategy.tell(sample, value, metrics(sample) if metrics else {"default": value})
    return out


@pytest.fixture(scope="session")
def nb201_space():
    from nni_effnas.nb201 import EDGE_LABELS, OPS
    from nni_effnas.space import CategoricalSpace

    return CategoricalSpace.from_dict({label: OPS for label in EDGE_LABELS})


@pytest.fixture(scope="session")
def toy_space():
    from nni_effnas.space import CategoricalSpace

    return CategoricalSpace.from_dict({"a": [0, 1, 2, 3], "b": ["x", "y", "z"], "c": [True, False]})


class ToyScorer:
    """A stand-in for ZeroCostScorer on the toy space: score = a + index of b, deterministic; 0.5 s charged per
    new sample, as if computed."""

    def __init__(self) -> None:
        self.charged_s = 0.0
        self.computed_s = 0.0
        self.seen: set = set()

    def value(self, sample) -> float:
        return float(sample["a"]) + {"x": 0, "y": 1, "z": 2}[sample["b"]] - 0.25 * bool(sample["c"])

    def rank(self, samples):
        import numpy as np

        for s in samples:
            key = tuple(sorted(s.items()))
            if key not in self.seen:
                self.seen.add(key)
                self.charged_s += 0.5
                self.computed_s += 0.5
        return np.array([self.value(s) for s in samples])


@pytest.fixture
def toy_scorer():
    return ToyScorer()
