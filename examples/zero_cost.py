"""Zero-cost proxies on NAS-Bench-201: score cells without training them, then search with a zero-cost warmup.

    .venv/bin/python examples/zero_cost.py

1. Scores 30 random cells with synflow, jacob_cov and params (noise data; no download needed) and prints how
   each proxy's ranking agrees with the cells' 200-epoch test accuracy.
2. Runs aging evolution and zero-cost warmup (pool of 100 cells scored with synflow) for 10 % of the CIFAR-10
   time budget each, under a parameter budget (the median cell's size), the proxies' compute on the clock.
"""
import numpy as np
from scipy.stats import spearmanr

from nni_effnas.api import search
from nni_effnas.nb201 import load_table
from nni_effnas.zerocost import ZeroCostScorer

table = load_table()
rng = np.random.default_rng(0)
cells = rng.choice(len(table), size=30, replace=False)
scorer = ZeroCostScorer("nb201", proxies=["synflow", "jacob_cov", "params"], dataset="cifar10", data="noise",
                        batch_size=32, model_kwargs={"num_cells": 1}, cache=False)
scores = scorer.score_many([table.sample(int(i)) for i in cells])
accuracy = table.column("cifar10", "test_acc_200ep")[cells]
print(f"scored {len(cells)} cells in {scorer.computed_s:.1f} s")
for name, values in scores.items():
    # NaN: the proxy is undefined for that cell (e.g. jacob_cov of a cell whose output ignores its input); rank it last
    ranked = np.where(np.isnan(values), -np.inf, values)
    print(f"  {name:>10}: Spearman rho vs test accuracy {spearmanr(ranked, accuracy).statistic:+.3f}"
          f"  ({int(np.isnan(values).sum())} undefined)")

params = table.column("cifar10", "params_M")
median = float(np.median(params))
small = lambda sample: table.query(sample, "cifar10")["params_M"] <= median  # noqa: E731
for strategy, args in (("regularized_evolution", {}),
                       ("zero_cost_warmup", {"proxies": "synflow", "pool_size": 100, "cache": False})):
    result = search(strategy=strategy, strategy_args=args, evaluator_args={"dataset": "cifar10"},
                    time_budget_s=2_000, seed=1, feasible=small)
    best = result.best.metrics
    print(f"{strategy:>22}: {len(result.trials)} cells trained, {result.clock_s:,.0f} s on the clock "
          f"(strategy {result.clock_s - sum(t.cost_s for t in result.trials):.0f} s) -> test accuracy "
          f"{best['test_acc']:.2f} % (params {best['params_M']:.3f} M <= {median:.3f} M)")
