"""Argument checks shared by the cost models: one-line ``ValueError``/``TypeError`` naming the bad value."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def int_at_least(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; ``TypeError`` for a non-int (bools included), ``ValueError`` below."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def input_shape(value: Any) -> tuple[int, ...]:
    """A per-sample input shape such as ``(3, 32, 32)``: a non-empty sequence of ints >= 1, no batch axis."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"input_shape must be a non-empty sequence of ints such as (3, 32, 32), got {value!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in value):
        raise ValueError(f"input_shape must hold ints >= 1 (one sample, no batch axis), got {value!r}")
    return tuple(int(v) for v in value)
