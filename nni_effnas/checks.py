"""Argument checks shared across the package: one-line errors naming the argument and the bad value.

User input (constructor arguments, CLI flags, trial parameters) is checked where it enters. Two styles:
:func:`check_int` raises ``ValueError`` for anything but an int >= ``minimum`` (``"<name> must be an int >=
<minimum>, got <value>"``; ``name`` may carry a prefix such as ``"zen: repeat"`` or a CLI flag such as
``"--epochs"``); :func:`int_at_least` separates a wrong type (``TypeError``) from a value too small
(``ValueError``), the contract of the cost models and the network builders; :func:`check_number` is
:func:`check_int` for finite real numbers (``"<name> must be a finite number >= <minimum>, got <value>"``, or
``>`` with ``strict``) and :func:`is_number` its predicate; :func:`check_input_shape` checks a per-sample
input shape.
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["arg_type", "check_device", "check_input_shape", "check_int", "check_number", "check_out_dir",
           "check_output_file", "count_arg", "int_at_least", "is_int", "is_number"]


def is_int(value: Any) -> bool:
    """A Python int or a numpy integer; bools (``np.bool_`` too), floats and everything else are not."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number: a Python or numpy int or float; bools, NaN, infinities and everything else are not."""
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def check_number(name: str, value: Any, minimum: float = 0.0, *, strict: bool = False) -> float:
    """``value`` as a float, if it is a finite number >= ``minimum`` (> ``minimum`` with ``strict``)."""
    if not is_number(value) or value < minimum or (strict and value == minimum):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as a Python int, if it is an int or a numpy integer >= ``minimum``.

    Bools, floats (even whole ones such as ``2.0``), strings and everything else raise ``ValueError``.
    """
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def int_at_least(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; ``TypeError`` for a non-int (bools included), ``ValueError`` below."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def check_input_shape(value: Any) -> tuple[int, ...]:
    """A per-sample input shape such as ``(3, 32, 32)``: a non-empty sequence of ints >= 1, no batch axis."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"input_shape must be a non-empty sequence of ints such as (3, 32, 32), got {value!r}")
    if any(not is_int(v) or v < 1 for v in value):
        raise ValueError(f"input_shape must hold ints >= 1 (one sample, no batch axis), got {value!r}")
    return tuple(int(v) for v in value)


def check_out_dir(out_dir: Any) -> Any:
    """A trial's output folder: ``None`` or a path that is not an existing file (a missing folder is created later)."""
    if out_dir is not None and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"out_dir {out_dir} is a file; expected a folder for the trial's files (created if missing)")
    return out_dir


def check_output_file(name: str, value: Any) -> Path:
    """An output file ``value`` (``name`` says which, e.g. ``--json``): not a folder, in a folder that exists (it is
    created) and that we can write, so a long run does not fail at its end."""
    path = Path(value)
    if path.is_dir():
        raise ValueError(f"{name} {value} is a folder; expected a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name} {value}: cannot create its folder ({exc.strerror})") from None
    try:  # a real probe: permissions alone do not tell (root, read-only or virtual file systems)
        tempfile.NamedTemporaryFile(dir=path.parent).close()
    except OSError as exc:
        raise ValueError(f"{name} {value}: cannot write in {path.parent} ({exc.strerror})") from None
    return path


def arg_type(convert: Callable[[str], Any], valid: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert(text)`` if ``valid`` of it, else argparse's usage error "expected ...".
    E.g. ``arg_type(int, lambda v: v >= 0, "a whole number >= 0")``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


#: argparse type of seeds and offsets
count_arg = arg_type(int, lambda v: v >= 0, "a whole number >= 0")


def check_device(device: Any) -> Any:
    """``device`` as a ``torch.device`` that this machine has; a one-line ``ValueError`` otherwise."""
    import torch  # here, not at the top: the command lines import this module and must start fast

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device {device!r} is not a torch device; expected e.g. cpu, cuda or cuda:0") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}, but torch sees no CUDA GPU on this machine; use cpu")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}, but this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return parsed
