"""Hardware-aware search on NAS-Bench-201: the accuracy/latency front for a Pixel 2, then the best cell under 12 ms.

Run: python examples/multiobjective_search.py  (a table lookup per cell: seconds, no training)
"""
from nni_effnas.loop import run_search
from nni_effnas.objectives import best_feasible, mnasnet_evaluate
from nni_effnas.strategies import create_strategy
from nni_effnas.tabular import TabularBenchmark

bench = TabularBenchmark.nb201("cifar10")
latency = bench.column("latency:pixel2")


def evaluate(sample):
    """12-epoch validation accuracy as the reward, the 200-epoch test accuracy as 'reported', and the latency."""
    metrics = bench.evaluate(sample)
    metrics["latency_ms"] = float(latency[bench.row(sample)])
    return metrics


# 1. the whole trade-off: mo_bananas knows each cell's latency before training it (the device table)
strategy = create_strategy("mo_bananas", seed=0, cost_model="nb201:latency:pixel2",
                           predictor_args={"epochs": 50})
result = run_search(strategy, bench.space, evaluate, time_budget_s=0.1 * bench.budget_s)
print(f"mo_bananas: {len(result.trials)} cells evaluated in {result.clock_s:,.0f} simulated s; front:")
for sample, accuracy, latency_ms in strategy.front():
    row = bench.row(sample)
    print(f"  {latency_ms:5.1f} ms  12-epoch valid {accuracy:6.2f} %  200-epoch test {bench.reported[row]:6.2f} %")

# 2. the best cell under a hard bound, and the MnasNet soft reward
bound = 12.0
hard = run_search(create_strategy("predictor_guided", seed=0, predictor_args={"epochs": 50}), bench.space, evaluate,
                  time_budget_s=0.1 * bench.budget_s, feasible=lambda s: latency[bench.row(s)] <= bound)
soft = run_search(create_strategy("regularized_evolution", seed=0), bench.space,
                  mnasnet_evaluate(evaluate, cost_metric="latency_ms", target=bound), reward_key="mnasnet_reward",
                  time_budget_s=0.1 * bench.budget_s)
for name, run in (("hard constraint", hard), ("MnasNet reward", soft)):
    best, ok = best_feasible(run.succeeded, bound=bound, reward=lambda t: t.metrics["default"],
                             cost=lambda t: t.metrics["latency_ms"])
    print(f"{name}: best cell under {bound:g} ms: {best.metrics['latency_ms']:g} ms, "
          f"200-epoch test {best.metrics['reported']:.2f} % (feasible: {ok})")
optimum = bench.reported[latency <= bound].max()
print(f"the best cell under {bound:g} ms in the whole table: {optimum:.2f} %")
