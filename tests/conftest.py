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
