"""How well the performance predictors rank held-out NAS-Bench-201 cells (``nni-effnas bench predictors``).

The protocol of White et al., "How Powerful are Performance Predictors in Neural Architecture Search?",
NeurIPS 2021, on the offline table: for each seed, draw a held-out test set of ``test_size`` cells and,
disjoint from it, nested training sets (each a prefix of the next larger one, so a bigger set only adds
cells). For every registered predictor and training size: fit on the training cells' target accuracy, predict
the held-out cells, and record

* Kendall's tau and Spearman's rho of the predicted means against the true target (``scipy.stats``);
* ``fit_s``: wall seconds of ``fit``; ``predict_s_per_1000``: wall seconds of ``predict(X, return_std=True)``
  on the test set, per 1000 cells;
* ``mean_std``: the mean predicted standard deviation over the test set (units of the target, %).

Each predictor reads its preferred encoding for the space (:func:`~nni_effnas.predictors.preferred_encoding`)
and gets ``random_state = seed``. Targets: ``test`` (200-epoch test accuracy) or ``valid`` (200-epoch
validation accuracy). ``features="lowfi"`` appends the 12-epoch *validation* accuracy (the table has no
12-epoch test accuracy; the simulated-search reward) as one extra column via
:func:`~nni_effnas.encodings.append_features`, standardised on the training rows only: the "low-fidelity
result as an optional feature" setting. The GNN reads its ``adjacency`` rows as a graph and has no slot for an
extra column, so it is skipped (and listed under ``skipped``) in that setting.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nni_effnas.checks import check_int
from nni_effnas.encodings import append_features, encode
from nni_effnas.nb201 import canonical_dataset, load_table
from nni_effnas.predictors import PREDICTORS, create_predictor, preferred_encoding
from nni_effnas.report_io import nan_if_none, save_figure

DEFAULT_PREDICTORS = ("mlp_ensemble", "gnn", "gp", "random_forest", "gbm")
DEFAULT_TRAIN_SIZES = (20, 50, 100, 200)
TARGETS = {"test": "test_acc_200ep", "valid": "valid_acc_200ep"}
FEATURES = {"none": None, "lowfi": "valid_acc_12ep"}
#: predictors that read their rows structurally (the GNN unflattens ``adjacency`` rows): no extra columns
NO_EXTRA_COLUMNS = {"gnn": "reads adjacency rows as a graph; it has no slot for an extra feature column"}
METRICS = ("kendall", "spearman", "fit_s", "predict_s_per_1000", "mean_std")


def draw_splits(n_cells: int, *, test_size: int, train_sizes: Sequence[int],
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(test, train)`` cell indices for one seed: ``test_size`` held-out cells and, disjoint from them, the
    ``max(train_sizes)`` training cells in draw order; the training set of size ``n`` is ``train[:n]``."""
    order = np.random.default_rng(seed).permutation(n_cells)
    return order[:test_size], order[test_size:test_size + max(train_sizes)]


def check_settings(*, space: str, train_sizes: Sequence[int], test_size: int, seeds: int, target: str,
                   features: str, n_cells: int) -> list[int]:
    """Validate the user's settings (one-line ``ValueError`` naming the bad value); the sorted unique sizes."""
    if str(space).lower() != "nb201":
        raise ValueError(f"no predictor benchmark for space {space!r}; expected nb201")
    if target not in TARGETS:
        raise ValueError(f"unknown --target {target!r}; expected one of: {', '.join(TARGETS)}")
    if features not in FEATURES:
        raise ValueError(f"unknown --features {features!r}; expected one of: {', '.join(FEATURES)}")
    check_int("--seeds", seeds)
    check_int("--test-size", test_size, 3)
    if not train_sizes:
        raise ValueError("--train-sizes is empty; expected comma-separated whole numbers >= 2, e.g. 20,50,100")
    for size in train_sizes:
        check_int("--train-sizes", size, 2)
    sizes = sorted({int(s) for s in train_sizes})
    if sizes[-1] + test_size > n_cells:
        raise ValueError(f"--train-sizes {sizes[-1]} + --test-size {test_size} = {sizes[-1] + test_size} exceeds "
                         f"the {n_cells} cells of nb201")
    return sizes


def check_predictor_args(predictors: Sequence[str], args: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict]:
    """``args`` keyed by canonical predictor name; every key must be among ``predictors``."""
    if args is not None and not isinstance(args, Mapping):
        raise ValueError(f"--predictor-args must map predictor names to keyword arguments, got {args!r}")
    out: dict[str, dict] = {}
    for key, kwargs in (args or {}).items():
        name = PREDICTORS.canonical(key)
        if name not in predictors:
            raise ValueError(f"--predictor-args names {key!r}, which is not among --predictors")
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"--predictor-args for {key!r} must be an object of keyword arguments, got {kwargs!r}")
        if "random_state" in kwargs:
            raise ValueError(f"--predictor-args for {key!r} sets random_state; the benchmark sets it to the seed")
        create_predictor(name, **kwargs)  # an unknown keyword fails now, not after the first fits
        out[name] = dict(kwargs)
    return out


def machine_info() -> dict[str, Any]:
    import sklearn
    import torch

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {"cpu_count": os.cpu_count(), "usable_cores": usable, "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__,
            "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _rank_correlations(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    if np.ptp(pred) == 0:  # constant prediction: no ranking (scipy would warn and return NaN)
        return float("nan"), float("nan")
    return float(kendalltau(pred, truth).statistic), float(spearmanr(pred, truth).statistic)


def evaluate_one(name: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
                 seed: int, params: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Fit predictor ``name`` (``random_state=seed``), predict the test rows; the metrics of one run."""
    model = create_predictor(name, **{**dict(params or {}), "random_state": int(seed)})
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    mean, std = model.predict(X_test, return_std=True)
    predict_s = time.perf_counter() - start
    kendall, spearman = _rank_correlations(mean, y_test)
    return {"kendall": kendall, "spearman": spearman, "fit_s": fit_s,
            "predict_s_per_1000": predict_s * 1000.0 / len(X_test), "mean_std": float(np.mean(std))}


def run_predictor_benchmark(
    *,
    space: str = "nb201",
    dataset: str = "cifar10",
    train_sizes: Sequence[int] = DEFAULT_TRAIN_SIZES,
    predictors: Sequence[str] = DEFAULT_PREDICTORS,
    test_size: int = 1000,
    seeds: int = 5,
    seed_offset: int = 0,
    target: str = "test",
    features: str = "none",
    predictor_args: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (see the module docstring); a JSON-able report. ``progress(done, total, label)`` is
    called after each fit."""
    dataset = canonical_dataset(dataset)
    table = load_table()
    sizes = check_settings(space=space, train_sizes=train_sizes, test_size=test_size, seeds=seeds, target=target,
                           features=features, n_cells=len(table))
    names = list(dict.fromkeys(PREDICTORS.canonical(p) for p in predictors))
    if not names:
        raise ValueError(f"--predictors is empty; expected some of: {', '.join(PREDICTORS.names())}")
    extra = check_predictor_args(names, predictor_args)
    skipped = {n: NO_EXTRA_COLUMNS[n] for n in names if FEATURES[features] and n in NO_EXTRA_COLUMNS}
    names = [n for n in names if n not in skipped]
    encodings = {n: preferred_encoding(n, "nb201") for n in names}
    info = machine_info()  # imports torch now, so no fit is charged the import
    y_all = np.asarray(table.column(dataset, TARGETS[target]), dtype=np.float64)
    lowfi = np.asarray(table.column(dataset, FEATURES[features]), dtype=np.float64) if FEATURES[features] else None
    seed_list = [seed_offset + k for k in range(seeds)]
    runs, splits, done, total = [], {}, 0, len(seed_list) * len(names) * len(sizes)
    start = time.perf_counter()
    for seed in seed_list:
        test, train = draw_splits(len(table), test_size=test_size, train_sizes=sizes, seed=seed)
        splits[str(seed)] = {"test": test.tolist(), "train": train.tolist()}
        cells = np.concatenate([train, test])
        samples = [table.sample(int(i)) for i in cells]
        for name in names:
            X_all = encode("nb201", samples, encodings[name])
            for n in sizes:
                rows = np.r_[0:n, len(train):len(cells)]  # the first n training cells, then the test cells
                X = X_all[rows] if lowfi is None else append_features(X_all[rows], lowfi[cells[rows]],
                                                                      fit_rows=np.arange(n))
                record = evaluate_one(name, X[:n], y_all[cells[rows[:n]]], X[n:], y_all[test], seed=seed,
                                      params=extra.get(name))
                runs.append({"seed": seed, "predictor": name, "train_size": n, **record})
                done += 1
                if progress:
                    progress(done, total, f"{name} n={n} seed={seed}")
    return {
        "benchmark": f"nb201/{dataset}", "space": "nb201", "dataset": dataset, "target": TARGETS[target],
        "features": features, "feature_column": FEATURES[features], "train_sizes": sizes, "test_size": test_size,
        "seeds": seed_list, "predictors": names, "encodings": encodings, "predictor_args": extra,
        "skipped": skipped, "machine": info, "wall_s": time.perf_counter() - start,
        "summary": summarise(runs, names, sizes), "runs": runs, "splits": splits,
    }


def summarise(runs: Sequence[Mapping[str, Any]], names: Sequence[str], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Per predictor and training size: mean and standard error (ddof 1) over seeds of each metric; NaN
    values (a constant prediction has no rank correlation) are left out and counted in ``nan``."""
    rows = []
    for name in names:
        for n in sizes:
            group = [r for r in runs if r["predictor"] == name and r["train_size"] == n]
            row: dict[str, Any] = {"predictor": name, "train_size": n, "seeds": len(group)}
            for metric in METRICS:
                values = np.array([r[metric] for r in group], dtype=float)
                ok = values[np.isfinite(values)]
                row[f"{metric}_mean"] = float(ok.mean()) if ok.size else float("nan")
                row[f"{metric}_sem"] = float(ok.std(ddof=1) / math.sqrt(ok.size)) if ok.size > 1 else 0.0
            row["nan"] = int(sum(not np.isfinite(r["kendall"]) for r in group))
            rows.append(row)
    return rows


def format_table(report: Mapping[str, Any]) -> str:
    feature = f", + {report['feature_column']} feature" if report["feature_column"] else ""
    m = report["machine"]
    lines = [f"{report['benchmark']}: predict {report['target']} of {report['test_size']} held-out cells{feature}; "
             f"mean ± s.e.m. over {len(report['seeds'])} seed(s); torch threads {m['torch_threads']}",
             "| predictor | encoding | train | kendall | spearman | fit s | predict s/1000 | mean std |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["summary"]:
        cells = [f"{r[f'{k}_mean']:.3f} ± {r[f'{k}_sem']:.3f}" for k in ("kendall", "spearman", "fit_s")]
        cells.append(f"{r['predict_s_per_1000_mean']:.4f} ± {r['predict_s_per_1000_sem']:.4f}")
        cells.append(f"{r['mean_std_mean']:.2f}")
        lines.append(f"| {r['predictor']} | {report['encodings'][r['predictor']]} | {r['train_size']} | "
                     + " | ".join(cells) + " |")
    for name, why in report["skipped"].items():
        lines.append(f"(skipped {name}: {why})")
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Kendall's tau against training-set size per predictor, error bars one s.e.m. over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = report["predictors"]
    for k, name in enumerate(names):
        rows = [r for r in report["summary"] if r["predictor"] == name]
        dodge = 1.0 + 0.015 * (k - (len(names) - 1) / 2)  # side by side, so the error bars do not overlap
        ax.errorbar([r["train_size"] * dodge for r in rows], [nan_if_none(r["kendall_mean"]) for r in rows],
                    yerr=[nan_if_none(r["kendall_sem"]) for r in rows], marker="o", capsize=3,
                    label=f"{name} ({report['encodings'][name]})")
    ax.set_xscale("log")
    ax.set_xticks(report["train_sizes"], [str(n) for n in report["train_sizes"]])
    ax.minorticks_off()
    ax.set_xlabel("training cells")
    ax.set_ylabel(f"Kendall tau vs {report['target']}")
    feature = f", + {report['feature_column']}" if report["feature_column"] else ""
    ax.set_title(f"{report['benchmark']}: {report['test_size']} held-out cells{feature}, "
                 f"{len(report['seeds'])} seed(s), mean ± s.e.m.")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)

