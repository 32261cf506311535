"""nni_effnas.checks: the shared integer and number checks (accepted values, what they return, the messages)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nni_effnas.checks import check_int, check_number, is_number


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


@pytest.mark.parametrize("value", [0, 2, 0.5, np.float32(1.5), np.int64(3), 1e300])
def test_check_number_returns_a_float(value):
    out = check_number("lr", value)
    assert out == pytest.approx(float(value)) and type(out) is float and is_number(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), math.nan, math.inf, -math.inf, np.float64("nan"), "1",
                                   None, [1.0], -0.5])
def test_check_number_rejects_with_the_name_and_value(value):
    with pytest.raises(ValueError, match=r"^beta must be a finite number >= 0, got ") as info:
        check_number("beta", value)
    assert str(info.value).endswith(repr(value)) and "\n" not in str(info.value)
    assert value == -0.5 or not is_number(value)


def test_check_number_strict_and_minimum_are_in_the_message():
    assert check_number("ratio", 1e-9, strict=True) == 1e-9
    with pytest.raises(ValueError, match=r"^ratio must be a finite number > 0, got 0$"):
        check_number("ratio", 0, strict=True)
    with pytest.raises(ValueError, match=r"^width must be a finite number >= 0.5, got 0.25$"):
        check_number("width", 0.25, 0.5)
