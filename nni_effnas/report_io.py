"""Writing benchmark reports (and their figures): strict JSON (NaN and inf as ``null``, numpy scalars as Python numbers), written to a
temporary file and renamed, so a report is never half-written."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np


def save_json(report: Mapping[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(report), indent=1, allow_nan=False))
    tmp.replace(path)


def save_figure(fig: Any, path: str | Path, *, dpi: int) -> None:
    """Save a matplotlib figure through a temporary file and a rename, then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)


def nan_if_none(value: float | None) -> float:
    """A report value read back from JSON has ``None`` for NaN."""
    return float("nan") if value is None else float(value)


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf floats as ``None`` and numpy scalars as Python numbers."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
