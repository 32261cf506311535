"""nni_effnas.checks: the shared integer check (accepted values, the int it returns, the message)."""
from __future__ import annotations

import numpy as np
import pytest

from nni_effnas.checks import check_int


@pytest.mark.parametrize("value, minimum", [(1, 1), (7, 2), (0, 0), (-3, -3), (np.int64(4), 1), (np.uint8(2), 2)])
def test_check_int_returns_a_python_int(value, minimum):
    out = check_int("n", value, minimum)
    assert out == value and type(out) is int


@pytest.mark.parametrize("value", [0, -1, True, False, np.bool_(True), 1.0, 2.5, "3", None, [1], np.float64(2.0)])
def test_check_int_rejects_with_the_name_and_value(value):
    with pytest.raises(ValueError, match=r"^--epochs must be an int >= 1, got ") as info:
        check_int("--epochs", value)
    assert str(info.value).endswith(repr(value))


def test_check_int_minimum_is_in_the_message():
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 2, got 1$"):
        check_int("batch_size", 1, 2)
