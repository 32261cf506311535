"""How well zero-cost proxies rank NAS-Bench-201 cells (``nni-effnas bench proxies``).

For a seeded sample of cells (or the NAS-Bench-Suite-Zero subset), scores every requested proxy with
:class:`~nni_effnas.zerocost.ZeroCostScorer` (on-disk cache: a rerun reads its scores back) and reports, per
proxy and for each rank-aggregated ensemble:

* Spearman's rho and Kendall's tau against the 200-epoch test accuracy (``truth="test"``, the default), or
  against the 200-epoch validation accuracy (``truth="valid"``); also rho among the cells at or below the
  median parameter count (``rho_small``), where preferring big networks no longer works;
* top-10 % precision: the share of the proxy's top 10 % of the sample that are in the accuracy's top 10 %;
* seconds per architecture (recorded compute, network build included once per cell in ``build_s``);
* with the NAS-Bench-Suite-Zero files at hand (``--naslib-dir``), rho of our score against NASLib's, cell by
  cell, on the cells both have (NASLib scored real CIFAR/ImageNet16 batches; ours use ``--proxy-data``).

Which accuracy to compare with a published figure: Abdelfattah et al. (ICLR 2021) read CIFAR-10 from
NAS-Bench-201's ``cifar10-valid`` setting (networks trained on half of the training set), and CIFAR-100 and
ImageNet16-120 from their own settings. Our CIFAR-10 ``test_acc_200ep`` comes from the ``cifar10`` setting
(the whole training set); ``valid_acc_200ep`` is the ``cifar10-valid`` setting's validation accuracy, the
nearest column to theirs in the shipped table. So compare CIFAR-10 with their figures under ``truth="valid"``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.stats import kendalltau, spearmanr

from nni_effnas.nb201 import canonical_dataset, load_table
from nni_effnas.proxies import PROXIES, aggregate_ranks
from nni_effnas.zerocost import ZeroCostScorer
from nni_effnas.zc_cache import BUILD
from nni_effnas.report_io import save_figure

#: NASLib's label of each NB201 dataset, and its column names where they differ from our proxy keys.
NASLIB_DATASET = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
NASLIB_COLUMN = {"jacob_cov": "jacov"}
DEFAULT_PROXIES = ("synflow", "snip", "grasp", "fisher", "grad_norm", "jacob_cov", "nwot", "zen", "params", "flops")
DEFAULT_ENSEMBLES = ("synflow+jacob_cov+nwot", "synflow+nwot", "synflow+jacob_cov+snip")
#: ``truth`` -> the table column every proxy is ranked against.
TRUTHS = {"test": "test_acc_200ep", "valid": "valid_acc_200ep"}


def default_naslib_dir() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data" / "nb201-naslib-zerocost"
        if candidate.is_dir():
            return candidate
    return None


def naslib_scores(directory: Path, dataset: str) -> dict[str, dict[int, float]]:
    """``proxy -> {nb201_index: NASLib score}`` from the NAS-Bench-Suite-Zero files in ``directory``."""
    import pandas as pd

    label = NASLIB_DATASET[dataset]
    out: dict[str, dict[int, float]] = {}
    subset = directory / "nb201_12proxies_subset.csv"
    if subset.is_file():
        rows = pd.read_csv(subset).query("dataset == @label")
        for column in rows.columns:
            if column in ("nb201_index", "arch_str", "naslib_ops", "naslib_idx", "dataset") or rows[column].dtype == object:
                continue
            name = {v: k for k, v in NASLIB_COLUMN.items()}.get(column, column)
            out[name] = dict(zip(rows["nb201_index"].astype(int), rows[column].astype(float)))
    zen = directory / "nb201_zen_valacc_all15625.csv"
    if zen.is_file():
        rows = pd.read_csv(zen, usecols=["nb201_index", "dataset", "zen"]).query("dataset == @label")
        out["zen"] = dict(zip(rows["nb201_index"].astype(int), rows["zen"].astype(float)))
    return out


def _rho(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return float("nan"), float("nan"), int(ok.sum())
    return float(spearmanr(x[ok], y[ok]).statistic), float(kendalltau(x[ok], y[ok]).statistic), int(ok.sum())


def top_precision(score: np.ndarray, truth: np.ndarray, frac: float = 0.1) -> float:
    """Share of the top ``frac`` by ``score`` (NaN last) that are in the top ``frac`` by ``truth``."""
    k = max(1, int(round(frac * len(score))))
    by_score = np.argsort(-np.where(np.isnan(score), -np.inf, score), kind="stable")[:k]
    by_truth = np.argsort(-truth, kind="stable")[:k]
    return float(len(np.intersect1d(by_score, by_truth)) / k)


def run_proxy_benchmark(
    *,
    dataset: str = "cifar10",
    sample: int | str = 1000,
    seed: int = 0,
    proxies: Sequence[str] = DEFAULT_PROXIES,
    ensembles: Sequence[str] = DEFAULT_ENSEMBLES,
    proxy_data: str = "fashion-mnist",
    batch_size: int = 64,
    cache: Any = None,
    naslib_dir: str | Path | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    truth: str = "test",
) -> dict[str, Any]:
    """Score the sample and compute the report (a JSON-able dict; see the module docstring)."""
    dataset = canonical_dataset(dataset)
    if truth not in TRUTHS:
        raise ValueError(f"unknown accuracy {truth!r} to rank against; expected one of: {', '.join(TRUTHS)}")
    table = load_table()
    naslib_path = Path(naslib_dir) if naslib_dir else default_naslib_dir()
    naslib = naslib_scores(naslib_path, dataset) if naslib_path and naslib_path.is_dir() else {}
    if sample == "naslib":
        if not naslib or len(naslib) < 2:
            raise ValueError("--sample naslib needs the NAS-Bench-Suite-Zero files (--naslib-dir)")
        indices = np.array(sorted(next(v for k, v in naslib.items() if k != "zen").keys()))
    else:
        n = int(sample)
        if not 3 <= n <= len(table):
            raise ValueError(f"--sample must be in 3..{len(table)} (or 'naslib'), got {sample}")
        indices = np.sort(np.random.default_rng(seed).choice(len(table), size=n, replace=False))
    proxies = tuple(dict.fromkeys(PROXIES.canonical(p) for p in proxies))  # "jacob-cov" -> "jacob_cov", once
    combos = [tuple(PROXIES.canonical(p) for p in c.split("+")) for c in ensembles if c]
    for combo in combos:
        missing = [p for p in combo if p not in proxies]
        if missing:
            raise ValueError(f"ensemble {'+'.join(combo)} uses {', '.join(missing)}, not among --proxies")
    scorer = ZeroCostScorer("nb201", proxies=proxies, dataset=dataset, data=proxy_data, batch_size=batch_size,
                            seed=seed, cache=cache, model_kwargs=model_kwargs)
    start = time.perf_counter()
    samples = [table.sample(int(i)) for i in indices]
    scores = scorer.score_many(samples, progress=(lambda i: progress(i + 1, len(samples))) if progress else None)
    wall = time.perf_counter() - start
    accuracy = table.column(dataset, TRUTHS[truth])[indices]
    params = table.column(dataset, "params_M")[indices]
    small = params <= np.median(table.column(dataset, "params_M"))
    setting = scorer.setting()
    seconds = _recorded_seconds(scorer, samples)

    rows: list[dict[str, Any]] = []
    columns = dict(scores)
    for combo in combos:
        columns["+".join(combo)] = aggregate_ranks({p: scores[p] for p in combo})
    for name, values in columns.items():
        rho, tau, used = _rho(values, accuracy)
        rho_small = _rho(values[small], accuracy[small])[0]
        members = name.split("+")
        row = {"proxy": name, "spearman": rho, "kendall": tau, "rho_small": rho_small,
               "top10_precision": top_precision(values, accuracy), "cells": used,
               "nan": int(np.isnan(values).sum()),
               "seconds_per_arch": float(sum(seconds[p].mean() for p in members))}
        if name in naslib:
            theirs = np.array([naslib[name].get(int(i), np.nan) for i in indices])
            row["rho_vs_naslib"], _, row["naslib_cells"] = _rho(values, theirs)
            row["naslib_vs_truth"] = _rho(theirs, accuracy)[0]
        rows.append(row)
    return {
        "benchmark": f"nb201/{dataset}", "target": TRUTHS[truth], "sample": len(indices),
        "sample_kind": "naslib" if sample == "naslib" else "random", "seed": seed,
        "proxy_data": proxy_data, "batch_size": batch_size, "model": dict(scorer.model_kwargs), "setting": setting,
        "build_s_per_arch": float(seconds[BUILD].mean()), "wall_s": wall,
        "computed_s": scorer.computed_s, "naslib_dir": str(naslib_path) if naslib else None,
        "rows": rows, "indices": [int(i) for i in indices],
        "scores": {k: [None if math.isnan(v) else float(v) for v in vals] for k, vals in scores.items()},
    }


def _recorded_seconds(scorer: ZeroCostScorer, samples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {n: [] for n in (BUILD, *scorer.proxies)}
    for sample in samples:
        entry = scorer.recorded(sample)
        for name in out:
            out[name].append(entry[name][1])
    return {k: np.asarray(v) for k, v in out.items()}


def format_table(report: Mapping[str, Any]) -> str:
    model = report.get("model", {})
    head = (f"{report['benchmark']}: {report['sample']} cells ({report['sample_kind']}, seed {report['seed']}), "
            f"proxy data {report['proxy_data']} (batch {report['batch_size']}), network C={model.get('channels')} "
            f"N={model.get('num_cells')}, vs {report['target']}")
    lines = [head, "| proxy | spearman | kendall | rho (params<=median) | top-10% precision | s/arch | rho vs NASLib |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(report["rows"], key=lambda r: -np.nan_to_num(r["spearman"], nan=-9)):
        naslib = f"{r['rho_vs_naslib']:.3f} ({r['naslib_cells']})" if "rho_vs_naslib" in r else "-"
        lines.append(f"| {r['proxy']} | {r['spearman']:.3f} | {r['kendall']:.3f} | {r['rho_small']:.3f} | "
                     f"{r['top10_precision']:.2f} | {r['seconds_per_arch']:.3f} | {naslib} |")
    lines.append(f"(+ {report['build_s_per_arch']:.3f} s/arch to build each network)")
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Bar chart of Spearman's rho per proxy (all cells and params <= median) and a scatter of the best one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(report["rows"], key=lambda r: -np.nan_to_num(r["spearman"], nan=-9))
    fig, (bars, scatter) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1.6, 1]})
    x = np.arange(len(rows))
    bars.bar(x - 0.2, [r["spearman"] for r in rows], 0.4, label="all sampled cells")
    bars.bar(x + 0.2, [r["rho_small"] for r in rows], 0.4, label="params <= median")
    bars.set_xticks(x, [r["proxy"] for r in rows], rotation=45, ha="right")
    target = report.get("target", "test_acc_200ep")
    label = {"test_acc_200ep": "test accuracy (200 epochs)", "valid_acc_200ep": "validation accuracy (200 epochs)"}
    bars.set_ylabel(f"Spearman rho vs {label.get(target, target)}")
    bars.axhline(0, color="black", lw=0.5)
    bars.legend(loc="lower left")
    bars.set_title(f"{report['benchmark']}, {report['sample']} cells, proxy data {report['proxy_data']}")
    single = [r for r in rows if "+" not in r["proxy"] and r["proxy"] in report["scores"]]
    if single:
        best = single[0]["proxy"]
        table = load_table()
        truth = table.column(report["benchmark"].split("/")[1], target)[report["indices"]]
        values = np.array([np.nan if v is None else v for v in report["scores"][best]], dtype=float)
        scatter.scatter(values, truth, s=6, alpha=0.5)
        scatter.set_xlabel(best)
        scatter.set_ylabel(label.get(target, target))
        if best == "synflow" or np.nanmin(values) > 0 and np.nanmax(values) / max(np.nanmin(values), 1e-300) > 1e3:
            scatter.set_xscale("log")
        scatter.set_title(f"best single proxy: {best} (rho {single[0]['spearman']:.3f})")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
