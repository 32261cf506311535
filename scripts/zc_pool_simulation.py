"""Offline simulation of a zero-cost warm start on NAS-Bench-201 under the NATS-Bench protocol (BENCHMARKS.md,
issue 4, session 21): draw a pool of P cells, pay their recorded proxy time, then train cells in the order of the
proxies' rank sum until the budget is spent; report the 200-epoch test accuracy of the best-reward trained cell.
It has no predictor: it shows what the warm start alone is worth as the pool grows. Rankings (``--rankings``):

* ``proxies``: the rank sum of jacob_cov and params (the ``bananas_zc`` scorer of BENCHMARKS.md);
* ``dedup``: the same, keeping only the best-ranked cell of each class of cells that compute the same function
  (:func:`canonical`);
* ``canonical``: each drawn cell replaced by its class's canonical cell (dead edges ``none``: the cheapest
  member), one per class, before scoring;
* ``oracle``: a perfect proxy, the 200-epoch test accuracy itself, charged the same proxy time: a bound on what
  any proxy can do in this train-in-proxy-order scheme.

Needs every cell's scores in the cache (``--fill`` computes the missing ones: about 25 minutes per dataset on one
core of the project machine; a cached score keeps its recorded time, which is what the simulation charges).

    python scripts/zc_pool_simulation.py --pools 300 1000 2000 3000 --rankings proxies dedup canonical oracle
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import rankdata

from nni_effnas.nb201 import EDGES, format_arch, load_table, parse_arch
from nni_effnas.tabular import TabularBenchmark
from nni_effnas.zerocost import ZeroCostScorer

BUDGET_S = {"cifar10": 20_000, "cifar100": 40_000, "imagenet16": 120_000}
_E = {edge: k for k, edge in enumerate(EDGES)}
RANKINGS = ("proxies", "dedup", "canonical", "oracle")


def canonical(ops: tuple[str, ...]) -> tuple[str, ...]:
    """One representative per class of NB201 cells that compute the same function (exact rules only): an
    intermediate node with no non-``none`` path to the output is dead, so the edges into it are ``none``; and
    when the edge 1->2 is ``none`` the two intermediate nodes are interchangeable (the smaller of the two
    orderings is kept). 11,155 classes of the 15,625 cells."""
    ops = list(ops)
    if ops[_E[2, 3]] == "none":
        ops[_E[0, 2]] = ops[_E[1, 2]] = "none"
    if ops[_E[1, 3]] == "none" and ops[_E[1, 2]] == "none":
        ops[_E[0, 1]] = "none"
    if ops[_E[1, 2]] == "none":
        swapped = list(ops)
        swapped[_E[0, 1]], swapped[_E[0, 2]] = ops[_E[0, 2]], ops[_E[0, 1]]
        swapped[_E[1, 3]], swapped[_E[2, 3]] = ops[_E[2, 3]], ops[_E[1, 3]]
        ops = min(ops, swapped)
    return tuple(ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(BUDGET_S), choices=list(BUDGET_S))
    parser.add_argument("--pools", nargs="+", type=int, default=[300, 1000, 2000])
    parser.add_argument("--rankings", nargs="+", default=["proxies", "oracle"], choices=RANKINGS)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--budget-frac", type=float, default=0.1)
    parser.add_argument("--cache", default="bench-out/zerocost.sqlite",
                        help="score cache; cells missing from it are scored first (slow)")
    args = parser.parse_args()
    table = load_table()
    canon = np.array([table.index(format_arch(canonical(parse_arch(table.arch_str(i))))) for i in range(len(table))])
    for ds in args.datasets:
        # the bananas_zc scorer of BENCHMARKS.md (jacob_cov + params, C=16 N=1 network, Fashion-MNIST batch 32)
        scorer = ZeroCostScorer("nb201", proxies=["jacob_cov", "params"], dataset=ds, data="fashion-mnist",
                                batch_size=32, seed=0, model_kwargs={"channels": 16, "num_cells": 1},
                                cache=args.cache)
        seconds, jc, params = np.zeros(len(table)), np.zeros(len(table)), np.zeros(len(table))
        for i in range(len(table)):
            before = scorer.charged_s
            score = scorer.score(table.sample(i))
            seconds[i] = scorer.charged_s - before
            jc[i] = np.nan_to_num(score["jacob_cov"], nan=-np.inf)
            params[i] = score["params"]
        bench = TabularBenchmark.nb201(ds)
        size = table.column(ds, "params_M")
        budget = BUDGET_S[ds] * args.budget_frac
        print(f"{ds}: proxies {seconds.mean():.3f} s per cell; budget {budget:.0f} s")
        for constrained in (False, True):
            feasible = size <= np.median(size) if constrained else np.ones(len(table), bool)
            for pool_size in args.pools:
                for ranking in args.rankings:
                    found, trained = [], []
                    for seed in range(args.seeds):
                        drawn = np.flatnonzero(feasible)[np.random.default_rng(seed).permutation(feasible.sum())]
                        if ranking == "canonical":
                            drawn = canon[drawn]
                            drawn = drawn[feasible[drawn]]
                            drawn = drawn[np.sort(np.unique(drawn, return_index=True)[1])]
                        pool = drawn[:pool_size]
                        value = bench.reported[pool] if ranking == "oracle" else rankdata(jc[pool]) + rankdata(params[pool])
                        order = pool[np.argsort(-value, kind="stable")]
                        if ranking == "dedup":  # the best-ranked cell of each class
                            order = order[np.sort(np.unique(canon[order], return_index=True)[1])]
                        clock, best, n = seconds[pool].sum(), None, 0
                        for i in order:
                            if clock >= budget:
                                break
                            clock, n = clock + bench.cost[i], n + 1
                            if best is None or bench.reward[i] > bench.reward[best]:
                                best = i
                        found.append(bench.reported[best] if best is not None else np.nan)
                        trained.append(n)
                    found = np.array(found)
                    print(f"  {'params<=MEDIAN' if constrained else 'unconstrained':<15} pool {pool_size:>5} "
                          f"{ranking:<10} {np.nanmean(found):.2f} +- "
                          f"{np.nanstd(found) / np.sqrt(np.isfinite(found).sum()):.2f}  trained {np.mean(trained):.1f}",
                          flush=True)


if __name__ == "__main__":
    main()
