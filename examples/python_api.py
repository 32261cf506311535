"""Run regularized evolution and random search on NAS-Bench-201 in-process and compare them.

    .venv/bin/python examples/python_api.py
"""
from nni_effnas.api import search
from nni_effnas.nb201 import load_table

table = load_table()
optimum = float(table.column("cifar100", "test_acc_200ep").max())
for strategy in ("random", "regularized_evolution"):
    result = search(strategy=strategy, space="nb201", evaluator="benchmark",
                    evaluator_args={"dataset": "cifar100"}, time_budget_s=40_000, seed=0)
    best = result.best.metrics
    print(f"{strategy:>22}: {len(result.trials)} cells in {result.clock_s:,.0f} simulated s -> {best['arch']}")
    print(f"{'':>22}  test accuracy {best['test_acc']:.2f} % (optimum {optimum:.2f} %)")
