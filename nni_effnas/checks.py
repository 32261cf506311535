"""Argument checks shared across the package: one-line ``ValueError`` naming the argument and the bad value.

User input (constructor arguments, CLI flags, trial parameters) is checked where it enters, with the message
style ``"<name> must be an int >= <minimum>, got <value>"``; ``name`` may carry a prefix (``"zen: repeat"``) or
a CLI flag (``"--epochs"``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_int"]


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int, if it is an int or a numpy integer >= ``minimum``.

    Bools, floats (even whole ones such as ``2.0``), strings and everything else raise ``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)
