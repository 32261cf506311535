from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _quiet_nni():
    from nni_effnas import compat

    compat.quiet_nni_logging()
    yield


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
