"""Offline simulation of a zero-cost warm start on NAS-Bench-201 under the NATS-Bench protocol (BENCHMARKS.md,
issue 4, session 21): draw a pool of P cells, pay their recorded proxy time, then train cells in the order of the
proxies' rank sum until the budget is spent; report the 200-epoch test accuracy of the best-reward trained cell.
It has no predictor: it shows what the warm start alone is worth as the pool grows. Rankings (``--rankings``):

* ``proxies``: the proxies' mean rank (``aggregate_ranks``, as the scorer ranks a pool) for each proxy set of
  ``--proxy-sets`` (default jacob_cov+params: the ``bananas_zc`` scorer of BENCHMARKS.md), each set charged
  its own proxies' recorded time plus the network's build;
* ``dedup``: the same, keeping only the best-ranked cell of each class of cells that compute the same function
  (:func:`nni_effnas.nb201.canonical_ops`);
* ``canonical``: each drawn cell replaced by its class's canonical cell (dead edges ``none``: the cheapest
  member), one per class, before scoring;
* ``oracle``: a perfect proxy, the 200-epoch test accuracy itself, charged the first proxy set's time: a bound
  on what any proxy of that cost can do in this train-in-proxy-order scheme.

Reads every cell's scores from the cache (``--cache``); missing ones are computed first, about 20 minutes per
proxy and dataset on one core of the project machine. A cached score keeps its recorded time, which is what the
simulation charges.

    python scripts/zc_pool_simulation.py --pools 300 1000 2000 3000 --rankings proxies dedup canonical oracle
"""
from __future__ import annotations

import argparse

import numpy as np

from nni_effnas.nb201 import canonical_arch, load_table
from nni_effnas.proxies import aggregate_ranks
from nni_effnas.tabular import TabularBenchmark
from nni_effnas.zc_cache import BUILD
from nni_effnas.zerocost import ZeroCostScorer

BUDGET_S = {"cifar10": 20_000, "cifar100": 40_000, "imagenet16": 120_000}
RANKINGS = ("proxies", "dedup", "canonical", "oracle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(BUDGET_S), choices=list(BUDGET_S))
    parser.add_argument("--pools", nargs="+", type=int, default=[300, 1000, 2000])
    parser.add_argument("--rankings", nargs="+", default=["proxies", "oracle"], choices=RANKINGS)
    parser.add_argument("--proxy-sets", nargs="+", default=["jacob_cov+params"],
                        help="proxy sets for the proxy rankings, each NAME+NAME+...")
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--budget-frac", type=float, default=0.1)
    parser.add_argument("--cache", default="bench-out/zerocost.sqlite",
                        help="score cache; cells missing from it are scored first (slow)")
    args = parser.parse_args()
    table = load_table()
    canon = np.array([table.index(canonical_arch(table.arch_str(i))) for i in range(len(table))])
    for ds in args.datasets:
        # the bananas_zc scorer of BENCHMARKS.md (C=16 N=1 network, Fashion-MNIST batch 32), every proxy named
        names = sorted({name for group in args.proxy_sets for name in group.split("+")})
        scorer = ZeroCostScorer("nb201", proxies=names, dataset=ds, data="fashion-mnist", batch_size=32, seed=0,
                                model_kwargs={"channels": 16, "num_cells": 1}, cache=args.cache)
        value = {name: np.zeros(len(table)) for name in [*names, BUILD]}
        seconds = {name: np.zeros(len(table)) for name in [*names, BUILD]}
        for i in range(len(table)):
            scorer.score(table.sample(i))
            for name, (v, s) in scorer.recorded(table.sample(i)).items():
                if name in value:
                    value[name][i], seconds[name][i] = v, s
        bench = TabularBenchmark.nb201(ds)
        size = table.column(ds, "params_M")
        budget = BUDGET_S[ds] * args.budget_frac
        print(f"{ds}: budget {budget:.0f} s; seconds per cell: " + ", ".join(f"{n} {seconds[n].mean():.3f}" for n in seconds))
        # the oracle is charged the first proxy set's time
        rankings = [(r, group) for r in args.rankings for group in (args.proxy_sets if r != "oracle" else args.proxy_sets[:1])]
        for constrained in (False, True):
            feasible = size <= np.median(size) if constrained else np.ones(len(table), bool)
            for pool_size in args.pools:
                for ranking, group in rankings:
                    cost = sum(seconds[n] for n in [BUILD, *group.split("+")])
                    found, trained = [], []
                    for seed in range(args.seeds):
                        drawn = np.flatnonzero(feasible)[np.random.default_rng(seed).permutation(feasible.sum())]
                        if ranking == "canonical":
                            drawn = canon[drawn]
                            drawn = drawn[feasible[drawn]]
                            drawn = drawn[np.sort(np.unique(drawn, return_index=True)[1])]
                        pool = drawn[:pool_size]
                        if ranking == "oracle":
                            rank = bench.reported[pool]
                        else:
                            rank = aggregate_ranks({n: value[n][pool] for n in group.split("+")})
                        order = pool[np.argsort(-rank, kind="stable")]
                        if ranking == "dedup":  # the best-ranked cell of each class
                            order = order[np.sort(np.unique(canon[order], return_index=True)[1])]
                        clock, best, n = cost[pool].sum(), None, 0
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
                          f"{ranking:<10} {group:<32} {np.nanmean(found):.2f} +- "
                          f"{np.nanstd(found) / np.sqrt(np.isfinite(found).sum()):.2f}  trained {np.mean(trained):.1f}",
                          flush=True)


if __name__ == "__main__":
    main()
