"""Rank agreement of our zero-cost proxies with NASLib's NAS-Bench-Suite-Zero scores on NAS-Bench-201 cells.

    python scripts/check_proxies_vs_naslib.py --cells 50 [--dataset cifar10] [--batch 64] [--proxies synflow,nwot]

For ``--cells`` cells drawn (seeded) from the shared NAS-Bench-Suite-Zero subset (``shared/data/
nb201-naslib-zerocost``), builds the full-size network (C=16, N=5) with weights from ``--seed``, scores it with
every proxy on one random-normal batch (NASLib used real CIFAR / ImageNet16 batches, which are not available
here, so data-dependent proxies are expected to agree less) and prints, per proxy, Spearman's rho of ours
against NASLib's column, and of each against the 200-epoch test accuracy on the same cells. ``zen`` comes from
the separate all-cell file. Every score is a monotone transform-free comparison (NASLib stores log(synflow),
which ranks the same).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from nni_effnas.nb201 import load_table
from nni_effnas.proxies import PROXIES, score
from nni_effnas.search_spaces import get_space

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201-naslib-zerocost"
NASLIB_COLUMN = {"jacob_cov": "jacov"}  # our key -> NASLib's column; the others share the name
DATASETS = {"cifar10": (10, 32, "cifar10"), "cifar100": (100, 32, "cifar100"), "imagenet16": (120, 16, "ImageNet16-120")}


def naslib_rows(dataset: str, cells: int, seed: int) -> pd.DataFrame:
    label = DATASETS[dataset][2]
    rows = pd.read_csv(DATA / "nb201_12proxies_subset.csv").query("dataset == @label")
    zen = pd.read_csv(DATA / "nb201_zen_valacc_all15625.csv").query("dataset == @label")
    rows = rows.merge(zen[["nb201_index", "zen"]], on="nb201_index", how="left")
    return rows.sample(min(cells, len(rows)), random_state=seed).reset_index(drop=True)


def score_cells(rows: pd.DataFrame, names: list[str], *, dataset: str, batch: int, seed: int) -> pd.DataFrame:
    classes, size, _ = DATASETS[dataset]
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn((batch, 3, size, size), generator=generator)
    targets = torch.randint(0, classes, (batch,), generator=generator)
    space, records = get_space("nb201"), []
    for i, arch in enumerate(rows["arch_str"]):
        torch.manual_seed(seed + i)  # a script is an entry point: it may seed the world
        model = space.build(space.from_string(arch), channels=16, num_cells=5, num_classes=classes)
        for name in names:
            start = time.perf_counter()
            value = score(model, name, inputs=inputs, targets=targets, seed=seed)
            records.append({"cell": i, "proxy": name, "score": value, "time_s": time.perf_counter() - start})
    return pd.DataFrame(records)


def report(rows: pd.DataFrame, ours: pd.DataFrame, *, dataset: str) -> pd.DataFrame:
    test = load_table().column(dataset, "test_acc_200ep")[rows["nb201_index"].to_numpy()]
    lines = []
    for name, group in ours.groupby("proxy", sort=False):
        mine = group.sort_values("cell")["score"].to_numpy()
        column = NASLIB_COLUMN.get(name, name)
        theirs = rows[column].to_numpy() if column in rows else np.full(len(rows), np.nan)
        ok = np.isfinite(mine) & np.isfinite(theirs)
        lines.append({
            "proxy": name,
            "rho_vs_naslib": spearmanr(mine[ok], theirs[ok]).statistic if ok.sum() > 2 else np.nan,
            "ours_vs_test": spearmanr(mine[ok], test[ok]).statistic if ok.sum() > 2 else np.nan,
            "naslib_vs_test": spearmanr(theirs[ok], test[ok]).statistic if ok.sum() > 2 else np.nan,
            "cells": int(ok.sum()),
            "nan_ours": int(np.isnan(mine).sum()),
            "mean_time_s": group["time_s"].mean(),
        })
    return pd.DataFrame(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cifar10")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proxies", default="all", help="comma-separated registry keys, or 'all'")
    args = parser.parse_args()
    names = PROXIES.names() if args.proxies == "all" else [PROXIES.canonical(n) for n in args.proxies.split(",")]
    rows = naslib_rows(args.dataset, args.cells, args.seed)
    ours = score_cells(rows, names, dataset=args.dataset, batch=args.batch, seed=args.seed)
    table = report(rows, ours, dataset=args.dataset)
    print(f"{args.dataset}, {len(rows)} cells, C=16 N=5, random-normal batch of {args.batch}, seed {args.seed}")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
