"""``nni-effnas bench latency``: how long a strategy takes to suggest a sample once it has a long history.

For each strategy: replay ``observations`` distinct random samples of the tabular benchmark with their rewards
(``tell`` only, as ``import_data`` or a stored Optuna study does), then time ``steps`` ask/tell rounds on the
benchmark; report mean, median, 95th percentile and maximum seconds per ``ask`` (the suggestion latency),
with the torch thread count. This is the same time ``bench search`` charges to the simulated clock; the search
benchmark reports it per run as "strategy s".
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas.checks import check_int
from nni_effnas.strategies import STRATEGIES, benchmark_kwargs, check_strategy_args, create_strategy
from nni_effnas.tabular import TabularBenchmark


def measure(bench: TabularBenchmark, strategy: str, *, observations: int = 500, steps: int = 50, seed: int = 0,
            strategy_args: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Latency of ``strategy`` (a registered name) after ``observations`` told samples; seconds."""
    if observations < 0 or observations + steps > len(bench.rows):
        raise ValueError(f"--observations must be in 0..{len(bench.rows) - steps} for {bench.name}, got {observations}")
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    name = STRATEGIES.canonical(strategy)
    chooser = create_strategy(name, seed=seed, **benchmark_kwargs(
        name, bench.name, check_strategy_args(strategy_args, f"--strategy-args {name!r}")))
    chooser.setup(bench.space)
    rng, told = np.random.default_rng(seed), set()
    while len(told) < observations:
        sample = bench.space.sample(rng)
        if bench.space.key(sample) not in told:
            told.add(bench.space.key(sample))
            chooser.tell(sample, bench.evaluate(sample)["default"], None)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        sample = chooser.ask()
        times.append(time.perf_counter() - start)
        if sample is None:
            break
        chooser.tell(sample, bench.evaluate(sample)["default"], None)
    t = np.array(times)
    return {"strategy": name, "observations": observations, "steps": len(t), "mean_s": float(t.mean()),
            "median_s": float(np.median(t)), "p95_s": float(np.percentile(t, 95)), "max_s": float(t.max())}


def run(bench: TabularBenchmark, strategies: Sequence[str], *, observations: int, steps: int, seed: int = 0,
        strategy_args: Mapping[str, Mapping[str, Any]] | None = None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    import torch

    if not strategies:
        raise ValueError("no strategies given; expected comma-separated registered strategies (nni-effnas list)")
    check_int("--seed", seed, 0)
    unknown = sorted(set(strategy_args or {}) - set(strategies))
    if unknown:
        raise ValueError(f"--strategy-args names {', '.join(map(repr, unknown))}, not among the strategies measured "
                         f"({', '.join(strategies)})")
    rows = []
    for name in strategies:
        rows.append(measure(bench, name, observations=observations, steps=steps, seed=seed,
                            strategy_args=(strategy_args or {}).get(name)))
        if progress:
            progress(name)
    return {"benchmark": bench.name, "observations": observations, "steps": steps, "seed": seed,
            "torch_threads": torch.get_num_threads(), "rows": rows}


def format_table(report: Mapping[str, Any]) -> str:
    lines = [f"{report['benchmark']}  ask latency after {report['observations']} observations, "
             f"{report['steps']} steps, torch threads {report['torch_threads']}",
             f"{'strategy':<24}{'mean ms':>10}{'median ms':>11}{'p95 ms':>10}{'max ms':>10}"]
    for r in report["rows"]:
        lines.append(f"{r['strategy']:<24}{1e3 * r['mean_s']:>10.1f}{1e3 * r['median_s']:>11.1f}"
                     f"{1e3 * r['p95_s']:>10.1f}{1e3 * r['max_s']:>10.1f}")
    return "\n".join(lines)
