"""How well cheap cost measures (FLOPs, parameters) rank architectures by latency, per device.

The question of HW-NAS-Bench (C. Li et al., ICLR 2021, Sec. 4) and HELP (H. Lee et al., NeurIPS 2021):
FLOPs and parameter counts are device-independent, measured latency is not, so how far does a FLOPs budget
stand in for a latency budget on a given device? Reported as rank correlations over the NAS-Bench-201 space:
Spearman's rho and Kendall's tau-b (both handle the many ties: cells with only ``none``/``skip``/pooling edges
share their FLOPs).

* :func:`cost_correlation_table`: against the 22 shipped device tables (:func:`~.tables.nb201_latency`), over
  all 15,625 cells. FLOPs and parameters come from :mod:`~.nb201_counts` (exact, additive per edge).
* :func:`local_latency_vs_flops`: measure this machine's latency (:func:`~.latency.measure_latency`) on a
  random sample of cells and rank-correlate it with FLOPs, parameters and each device table.

Results are plain dicts and lists (JSON-ready); :func:`markdown_table` formats rows. Command line::

    python -m nni_effnas.costs --dataset cifar10 [--local 50 --seed 0 --statistic min_ms --clock cpu]
"""
from __future__ import annotations

import argparse
import json
import math
from typing import Any, Mapping, Sequence

import numpy as np

from nni_effnas.checks import int_at_least
from nni_effnas.nb201 import NUM_ARCHS, TASKS, canonical_dataset, load_table

__all__ = ["cost_correlation_table", "local_latency_vs_flops", "markdown_table", "rank_correlations"]


def rank_correlations(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Spearman's rho and Kendall's tau-b of two equally long samples (NaN when either is constant)."""
    from scipy.stats import kendalltau, spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"rank correlation needs two 1-d samples of the same length >= 2, got {x.shape} and {y.shape}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"spearman": math.nan, "kendall": math.nan}
    return {"spearman": float(spearmanr(x, y)[0]), "kendall": float(kendalltau(x, y)[0])}


def _all_cells(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.shape != (NUM_ARCHS,):
        raise ValueError(f"{name} must have one value per NAS-Bench-201 cell, shape ({NUM_ARCHS},), got {array.shape}")
    return array


def cost_correlation_table(dataset: str = "cifar10", devices: Sequence[str] | None = None,
                           flops: Sequence[float] | np.ndarray | None = None,
                           params: Sequence[float] | np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per device: rank correlation of FLOPs and of parameters with its latency over all cells.

    ``flops``/``params``: a value per cell indexed like ``NB201Table`` (default: :func:`~.nb201_counts.nb201_flops`
    and :func:`~.nb201_counts.nb201_params` of ``dataset``); ``devices``: default all of :func:`known_devices`.
    """
    from nni_effnas.costs.nb201_counts import nb201_flops, nb201_params
    from nni_effnas.costs.tables import known_devices, nb201_latency

    dataset = canonical_dataset(dataset)
    flops = nb201_flops(dataset) if flops is None else _all_cells(flops, "flops")
    params = nb201_params(dataset) if params is None else _all_cells(params, "params")
    if isinstance(devices, str):
        raise ValueError(f"devices must be a list of device names, not the string {devices!r}")
    rows = []
    for device in known_devices() if devices is None else devices:
        latency = nb201_latency(device, dataset).values
        f, p = rank_correlations(flops, latency), rank_correlations(params, latency)
        rows.append({"device": device, "n": NUM_ARCHS, "flops_spearman": f["spearman"], "flops_kendall": f["kendall"],
                     "params_spearman": p["spearman"], "params_kendall": p["kendall"]})
    return rows


def local_latency_vs_flops(sample_size: int, seed: int, *, dataset: str = "cifar10", channels: int = 16,
                           num_cells: int = 5, batch_size: int = 1, threads: int = 1, warmup: int = 5,
                           repeats: int = 20, device: str = "cpu", statistic: str = "median_ms",
                           clock: str = "wall") -> dict[str, Any]:
    """Measure this machine's latency of ``sample_size`` random cells (drawn with ``seed``; the field
    ``statistic`` of :func:`measure_latency` with ``clock``) and rank-correlate it with their FLOPs and
    parameters (counted on the measured networks) and with each shipped device table (32x32 datasets only)."""
    from nni_effnas.costs.flops import count_flops
    from nni_effnas.costs.latency import check_statistic, machine_info, measure_latency, statistic_of
    from nni_effnas.costs.lut import build_nb201_network
    from nni_effnas.costs.params import count_params
    from nni_effnas.costs.tables import known_devices, nb201_latency

    sample_size = int_at_least("sample_size", sample_size, 3)
    if sample_size > NUM_ARCHS:
        raise ValueError(f"sample_size must be <= {NUM_ARCHS}, got {sample_size}")
    seed = int_at_least("seed", seed, 0)
    statistic = check_statistic(statistic)
    dataset = canonical_dataset(dataset)
    num_classes, shape = TASKS[dataset]
    table = load_table()
    indices = np.sort(np.random.default_rng(seed).choice(NUM_ARCHS, size=sample_size, replace=False))
    settings = {"batch_size": batch_size, "threads": threads, "warmup": warmup, "repeats": repeats,
                "device": device, "seed": seed, "clock": clock}
    cells = []
    for index in indices.tolist():
        arch = table.arch_str(index)
        network = build_nb201_network(arch, channels=channels, num_cells=num_cells, num_classes=num_classes,
                                      in_channels=shape[0], seed=seed, device=device)
        measured = measure_latency(network, shape, **settings)
        cells.append({"index": index, "arch": arch, "latency_ms": statistic_of(measured, statistic),
                      "median_ms": measured.median_ms, "iqr_ms": measured.iqr_ms,
                      "flops": count_flops(network, shape), "params": count_params(network)})
    latency = [c["latency_ms"] for c in cells]
    result: dict[str, Any] = {
        "dataset": dataset, "sample_size": sample_size, "seed": seed, "channels": channels, "num_cells": num_cells,
        "statistic": statistic,
        "settings": settings, "machine": machine_info(device=device), "cells": cells,
        "flops": rank_correlations([c["flops"] for c in cells], latency),
        "params": rank_correlations([c["params"] for c in cells], latency),
    }
    if dataset != "imagenet16":
        result["devices"] = {d: rank_correlations(nb201_latency(d, dataset).values[indices], latency)
                             for d in known_devices()}
    return result


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, digits: int = 3) -> str:
    """A GitHub markdown table of ``rows`` (dicts), floats with ``digits`` decimals; ``columns`` default: the
    first row's keys."""
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    columns = list(rows[0]) if columns is None else list(columns)

    def cell(value: Any) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m nni_effnas.costs", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--local", type=int, default=0, help="also measure this many random cells locally")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--statistic", default="median_ms", help="latency statistic of the local measurements")
    parser.add_argument("--clock", default="wall", help="'wall' or 'cpu' (thread CPU time, for a shared machine)")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    rows = cost_correlation_table(args.dataset)
    print(markdown_table(rows))
    results: dict[str, Any] = {"devices": rows}
    if args.local:
        local = local_latency_vs_flops(args.local, args.seed, dataset=args.dataset,
                                       repeats=args.repeats, statistic=args.statistic, clock=args.clock)
        summary = [{"versus": name, **local[name]} for name in ("flops", "params")]
        summary += [{"versus": device, **corr} for device, corr in local.get("devices", {}).items()]
        print(f"\nlocal latency ({args.statistic} of {args.repeats}, {args.clock} clock) of {args.local} cells "
              f"({local['machine']['processor']}, {local['settings']['threads']} thread) versus:")
        print(markdown_table(summary))
        results["local"] = local
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=1)


if __name__ == "__main__":
    main()
