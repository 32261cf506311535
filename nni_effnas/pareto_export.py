"""The Pareto front of a finished (or running) search: JSON export, PNG plot and hypervolume.

Sources, all read-only:

* an NNI experiment by id: its database ``~/nni-experiments/ID/db/nni.sqlite`` (``--experiment-dir`` for
  another root), final results and the parameters each trial ran with; works on a stopped experiment;
* the JSON of ``nnictl experiment export ID --type json`` (records with ``parameter`` and ``value``);
* a checkpoint of the in-process loop (``nni_effnas.api.search(..., checkpoint=...)``).

A trial enters the front when its final result has a finite accuracy (``accuracy_metric``, NNI's ``default``)
and a finite cost (``cost_metric``, e.g. ``latency_ms``); others are counted as skipped. The hypervolume is
given in the metrics' own units against a reference point (default: the worst accuracy and the largest cost
among the trials, so the figure compares runs only under the same reference; pass ``reference`` to fix one),
and normalised as in ``bench multiobjective`` when a ``scale`` is given.
"""
from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nni_effnas.pareto import non_dominated
from nni_effnas.report_io import save_figure


def load_trials(source: str | Path, *, experiment_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """``[{"id", "parameters", "metrics"}]`` of every trial with a final result, from an experiment id, an
    ``nnictl experiment export`` JSON file or a loop checkpoint."""
    path = Path(source)
    if path.is_file():
        return _load_file(path)
    root = Path(experiment_dir) if experiment_dir else Path.home() / "nni-experiments"
    database = root / str(source) / "db" / "nni.sqlite"
    if not database.is_file():
        raise FileNotFoundError(f"no file {source!r} and no NNI experiment {source!r} under {root} (looked for "
                                f"{database})")
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            finals = connection.execute("select trialJobId, data from MetricData where type = 'FINAL'").fetchall()
            events = connection.execute("select trialJobId, data from TrialJobEvent where data is not null").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:  # OperationalError too: a missing table
        raise ValueError(f"{database} is not a readable NNI experiment database ({exc}); expected the nni.sqlite of an "
                         f"NNI experiment") from None
    parameters: dict[str, Any] = {}
    for trial, data in events:
        try:
            parameters.setdefault(trial, json.loads(data).get("parameters", {}))
        except (json.JSONDecodeError, TypeError, AttributeError):
            continue
    return [{"id": trial, "parameters": parameters.get(trial, {}), "metrics": _metrics(data)} for trial, data in finals]


def _load_file(path: Path) -> list[dict[str, Any]]:
    """The trials of an ``nnictl experiment export`` JSON file or a search checkpoint."""
    expected = "expected an nnictl export or a search checkpoint"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text; {expected} (JSON)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON ({exc.msg}); {expected}") from None
    if isinstance(data, dict) and "trials" in data:
        trials = data["trials"]
        if not isinstance(trials, list):
            raise ValueError(f"{path}: 'trials' is {type(trials).__name__}; expected the list of a search checkpoint")
        out = []
        for i, t in enumerate(trials):
            if not isinstance(t, dict):
                raise ValueError(f"{path}: trial {i} is {type(t).__name__}; expected an object of a search checkpoint")
            if t.get("status") != "SUCCEEDED":
                continue
            absent = [key for key in ("number", "sample", "reward") if key not in t]
            if absent:
                raise ValueError(f"{path}: trial {i} has no {', '.join(absent)}; expected the number, sample and "
                                 f"reward of each trial of a search checkpoint")
            metrics = t.get("metrics", {})
            if not isinstance(metrics, dict):
                raise ValueError(f"{path}: trial {i} has metrics {metrics!r}; expected an object of metric -> value")
            out.append({"id": str(t["number"]), "parameters": t["sample"],
                        "metrics": {**metrics, "default": t["reward"]}})
        return out
    if isinstance(data, list):
        for i, r in enumerate(data):
            if not isinstance(r, dict):
                raise ValueError(f"{path}: record {i} is {type(r).__name__}; expected objects with 'parameter' and "
                                 f"'value' (an nnictl export)")
        return [{"id": r.get("trialJobId", str(i)), "parameters": r.get("parameter", {}),
                 "metrics": _metrics(r.get("value"))} for i, r in enumerate(data)]
    raise ValueError(f"{path} is neither an nnictl export (a list of records) nor a search checkpoint")


def _metrics(value: Any) -> dict[str, Any]:
    """NNI's stored final result (a JSON string, sometimes of a JSON string) as a dict (a number -> default)."""
    for _ in range(3):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return {}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"default": value}
    return dict(value) if isinstance(value, Mapping) else {}


def front_report(trials: Sequence[Mapping[str, Any]], *, cost_metric: str, accuracy_metric: str = "default",
                 reference: tuple[float, float] | None = None) -> dict[str, Any]:
    """The non-dominated trials (accuracy maximised, cost minimised) sorted by cost, and the hypervolume."""
    import moocore

    points, kept, skipped = [], [], 0
    for trial in trials:
        accuracy, cost = trial["metrics"].get(accuracy_metric), trial["metrics"].get(cost_metric)
        if _finite(accuracy) and _finite(cost):
            points.append((float(accuracy), float(cost)))
            kept.append(trial)
        else:
            skipped += 1
    if not points:
        present = sorted({k for t in trials for k in t["metrics"]})
        raise ValueError(f"no trial reports both {accuracy_metric!r} and {cost_metric!r} as numbers; the trials "
                         f"report: {', '.join(present) or 'nothing'}")
    array = np.asarray(points)
    mask = non_dominated(array)
    order = sorted(np.flatnonzero(mask), key=lambda i: (array[i, 1], -array[i, 0]))
    ref = reference or (float(array[:, 0].min()), float(array[:, 1].max()))
    inside = array[mask & (array[:, 0] >= ref[0]) & (array[:, 1] <= ref[1])]
    volume = float(moocore.hypervolume(inside, ref=list(ref), maximise=[True, False])) if len(inside) else 0.0
    return {
        "accuracy_metric": accuracy_metric, "cost_metric": cost_metric, "trials": len(trials), "skipped": skipped,
        "reference": list(ref), "hypervolume": volume,
        "front": [{"id": kept[i]["id"], "accuracy": array[i, 0], "cost": array[i, 1],
                   "parameters": kept[i]["parameters"]} for i in order],
        "points": array.tolist(),
    }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_table(report: Mapping[str, Any]) -> str:
    lines = [f"Pareto front: {len(report['front'])} of {report['trials']} trials ({report['skipped']} without both "
             f"metrics); hypervolume {report['hypervolume']:.6g} against reference "
             f"({report['reference'][0]:g}, {report['reference'][1]:g})",
             f"| trial | {report['accuracy_metric']} | {report['cost_metric']} |", "|---|---|---|"]
    lines += [f"| {p['id']} | {p['accuracy']:.4g} | {p['cost']:.4g} |" for p in report["front"]]
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Every trial as a dot and the front as a staircase."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = np.asarray(report["points"])
    front = np.array([(p["accuracy"], p["cost"]) for p in report["front"]])
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(points[:, 1], points[:, 0], s=12, color="0.6", label=f"trials ({len(points)})")
    ax.step(front[:, 1], front[:, 0], where="post", color="C3", marker="o", ms=4,
            label=f"Pareto front ({len(front)})")
    ax.set(xlabel=report["cost_metric"], ylabel=report["accuracy_metric"],
           title=f"hypervolume {report['hypervolume']:.4g}")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
