"""``nni-effnas bench search``: the simulated search benchmark (NATS-Bench protocol, ``shared/docs/anchors.md``).

For every strategy and seed, run the in-process loop on a :class:`TabularBenchmark` until the simulated clock
(reward-lookup costs plus the strategy's measured compute) passes ``budget_frac x budget``; report the
*reported* metric (200-epoch test accuracy) of the best-reward sample. Per strategy: mean, std, standard error
and median over seeds, mean number of evaluated samples, and an anytime curve (best-so-far reported metric vs
simulated time; median and quartiles over seeds).

With a ``journal`` file every finished (strategy, seed) run is written to it at once (:mod:`nni_effnas.run_journal`);
run the same command again after a stop and the finished runs are read back instead of run again. The same
journal serves a later run with more seeds or more strategies under the same benchmark settings.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas import compat
from nni_effnas.checks import check_int
from nni_effnas.loop import SearchResult, run_search
from nni_effnas.report_io import nan_if_none, save_figure
from nni_effnas.run_journal import Runs, fingerprint, identity, ticks
from nni_effnas.strategies import STRATEGIES, benchmark_kwargs, check_strategy_args, create_strategy
from nni_effnas.tabular import Constraint, TabularBenchmark

CURVE_POINTS = 60


@dataclass
class StrategyStats:
    name: str
    final: list[float]
    evaluated: list[int]
    curve_t: list[float]
    curve: list[list[float]]  # [seed][point], NaN before the first result
    strategy_s: list[float] = field(default_factory=list)  # per seed: the strategy's compute on the clock

    def summary(self) -> dict[str, Any]:
        """Statistics over the seeds whose search found a result; a seed without one (no successful trial in
        the budget, e.g. every sample failed or was infeasible) is counted in ``seeds_without_result``, not
        averaged in as NaN."""
        final = np.asarray(self.final, dtype=float)
        found = final[np.isfinite(final)]
        curve = np.asarray(self.curve, dtype=float)
        with warnings.catch_warnings():  # all-NaN columns (before any result) are expected
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanpercentile(curve, [25, 50, 75], axis=0)
            mean_curve = np.nanmean(curve, axis=0)
        nan = float("nan")
        return {
            "mean": float(found.mean()) if found.size else nan,
            "std": float(found.std(ddof=1)) if found.size > 1 else 0.0,
            "sem": float(found.std(ddof=1) / np.sqrt(found.size)) if found.size > 1 else 0.0,
            "median": float(np.median(found)) if found.size else nan, "seeds": int(final.size),
            "seeds_without_result": int(final.size - found.size),
            "evaluated_mean": float(np.mean(self.evaluated)),
            "strategy_s_mean": float(np.mean(self.strategy_s)) if self.strategy_s else 0.0,
            "final": [round(x, 4) if np.isfinite(x) else None for x in self.final],
            "curve": {"time_s": self.curve_t, "mean": _clean(mean_curve), "q25": _clean(q[0]),
                      "median": _clean(q[1]), "q75": _clean(q[2])},
        }


def _clean(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 4) for v in values]


def anytime(result: SearchResult, grid: np.ndarray) -> list[float]:
    """Reported metric of the best-reward sample found by each time of ``grid``."""
    out, best_reward, best_reported, k = [], -np.inf, np.nan, 0
    trials = result.succeeded
    for t in grid:
        while k < len(trials) and trials[k].clock_s <= t:
            if trials[k].reward > best_reward:
                best_reward, best_reported = trials[k].reward, trials[k].metrics["reported"]
            k += 1
        out.append(best_reported)
    return out


def run_benchmark(
    bench: TabularBenchmark,
    strategies: Sequence[str],
    *,
    seeds: int,
    budget_frac: float,
    constraint: Constraint | None = None,
    seed_offset: int = 0,
    strategy_args: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[], None] | None = None,
    journal: str | Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Run every strategy for ``seeds`` seeds; ``strategy_args`` maps a strategy name to its keyword
    arguments. Strategies that score networks (the zero-cost ones) are told the benchmark's space and task
    (``Strategy.benchmark_args``) unless ``strategy_args`` says otherwise. ``journal``: see the module
    docstring. ``workers > 1`` runs the (strategy, seed) runs in that many processes, each with one torch
    thread (a strategy's own compute is charged to its clock, so workers must not compete for threads); the
    report is the one a single process gives, up to the timing noise of that charge."""
    check_run(seeds, budget_frac, seed_offset)
    check_int("workers", workers)
    runs, extra = parse_strategies(strategies, strategy_args)  # row label -> registered strategy
    names = list(runs)
    budget = bench.budget_s * budget_frac
    mask = constraint.mask(bench) if constraint else None
    grid = np.linspace(0, budget, CURVE_POINTS)
    compat.quiet_nni_logging()

    kwargs = {name: benchmark_kwargs(runs[name], bench.name, extra.get(name)) for name in names}
    for name in names:  # bad arguments fail here, before any run or journal line
        create_strategy(runs[name], seed=0, **kwargs[name])
    done = Runs(journal, "nni-effnas bench search", {
        "benchmark": bench.name, "table": fingerprint(bench.reward, bench.cost, bench.reported),
        "budget_frac": budget_frac, "budget_s": budget, "constraint": str(constraint) if constraint else None,
        "curve_points": CURVE_POINTS}, {name: identity(runs[name], extra.get(name)) for name in names})
    seed_range = range(seed_offset, seed_offset + seeds)
    tasks = {(name, seed): (search_run, (bench, runs[name], kwargs[name], seed, budget, constraint, grid))
             for name in names for seed in seed_range}
    records = done.run_all(tasks, workers, ticks(progress))
    stats = {}
    for name in names:
        st = StrategyStats(name, [], [], [round(float(t), 2) for t in grid], [])
        for seed in seed_range:
            record = records[(name, seed)]
            st.final.append(nan_if_none(record["final"]))
            st.evaluated.append(int(record["evaluated"]))
            st.strategy_s.append(float(record["strategy_s"]))
            st.curve.append([nan_if_none(v) for v in record["curve"]])
        stats[name] = st.summary()
    return {
        "benchmark": bench.name, "budget_frac": budget_frac, "budget_s": budget, "seeds": seeds,
        "seed_offset": seed_offset, "strategy_args": extra, "constraint": str(constraint) if constraint else None,
        "constraint_threshold": constraint.threshold(bench) if constraint else None,
        "ceiling": bench.ceiling(mask), "optimum": bench.optimum(mask),
        "feasible_fraction": float(mask.mean()) if mask is not None else 1.0,
        "strategies": stats,
    }


def search_run(bench: TabularBenchmark, strategy: str, kwargs: Mapping[str, Any], seed: int, budget: float,
               constraint: Constraint | None, grid: np.ndarray) -> dict[str, Any]:
    """One search of the benchmark: the record the report and the journal keep."""
    feasible = constraint.feasible(bench) if constraint else None
    result = run_search(create_strategy(strategy, seed=seed, **kwargs), bench.space, bench.evaluate,
                        time_budget_s=budget, feasible=feasible)
    best = result.best
    return {"final": best.metrics["reported"] if best else None, "evaluated": len(result.trials),
            "strategy_s": result.clock_s - sum(t.cost_s for t in result.trials), "curve": anytime(result, grid)}


def check_run(seeds: int, budget_frac: float, seed_offset: int = 0) -> None:
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if seed_offset < 0:
        raise ValueError(f"--seed-offset must be >= 0, got {seed_offset}")
    if not 0 < budget_frac <= 10:
        raise ValueError(f"--budget-frac must be in (0, 10], got {budget_frac}")


def parse_strategies(strategies: Sequence[str], strategy_args: Mapping[str, Mapping[str, Any]] | None
                     ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``(row label -> registered strategy, row label -> its keyword arguments)``; ``--strategy-args`` keys may
    be labels or strategy names, and must name a strategy that runs."""
    if not strategies:
        raise ValueError("no strategies given; expected comma-separated registered strategies (nni-effnas list)")
    runs: dict[str, str] = {}
    for entry in strategies:
        label, name = parse_strategy_entry(entry)
        if label in runs:
            raise ValueError(f"strategy label {label!r} is given twice; give each run its own label (LABEL=NAME)")
        runs[label] = name
    if strategy_args is not None and not isinstance(strategy_args, Mapping):
        raise ValueError(f"--strategy-args must map strategy names to keyword arguments, got {strategy_args!r}")
    extra = {(k if k in runs else STRATEGIES.canonical(k)): check_strategy_args(v, f"--strategy-args {k!r}")
             for k, v in (strategy_args or {}).items()}
    for key in extra:
        if key not in runs:
            raise ValueError(f"--strategy-args names {key!r}, which is not among the strategies run ({', '.join(runs)})")
    return runs, extra


def parse_strategy_entry(entry: str) -> tuple[str, str]:
    """``"name"`` or ``"label=name"`` (several variants of one strategy side by side, each with its own
    ``--strategy-args`` under its label) -> ``(label, canonical name)``."""
    label, _, name = entry.rpartition("=")
    canonical = STRATEGIES.canonical(name.strip())
    label = label.strip() or canonical
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", label):
        raise ValueError(f"bad strategy label {label!r}: use letters, digits and _ . + -")
    return label, canonical


def format_table(report: dict[str, Any]) -> str:
    lines = [f"{report['benchmark']}  budget {report['budget_frac']:g} x = {report['budget_s']:.0f} s  "
             f"seeds {report['seeds']}  constraint {report['constraint'] or '-'}  "
             f"ceiling {report['ceiling']:.2f}  optimum {report['optimum']:.2f}",
             f"{'strategy':<24}{'mean':>8}{'std':>8}{'sem':>8}{'median':>8}{'evaluated':>11}{'strategy s':>12}"]
    for name, s in report["strategies"].items():
        lines.append(f"{name:<24}{s['mean']:>8.2f}{s['std']:>8.2f}{s['sem']:>8.3f}{s['median']:>8.2f}"
                     f"{s['evaluated_mean']:>11.1f}{s.get('strategy_s_mean', 0.0):>12.1f}")
    for name, s in report["strategies"].items():
        if s.get("seeds_without_result"):
            lines.append(f"{name}: {s['seeds_without_result']} of {s['seeds']} seeds found no successful trial "
                         f"within the budget; the statistics are over the other seeds")
    return "\n".join(lines)


def plot(report: dict[str, Any], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in report["strategies"].items():
        c = s["curve"]
        t = np.asarray(c["time_s"], dtype=float)
        med = np.array([np.nan if v is None else v for v in c["median"]], dtype=float)
        lo = np.array([np.nan if v is None else v for v in c["q25"]], dtype=float)
        hi = np.array([np.nan if v is None else v for v in c["q75"]], dtype=float)
        line, = ax.plot(t, med, label=f"{name} ({s['mean']:.2f} ± {s['std']:.2f})")
        ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.15)
    ax.axhline(report["ceiling"], color="k", ls="--", lw=0.8, label=f"ceiling {report['ceiling']:.2f}")
    finals = [v for s in report["strategies"].values() for v in s["final"] if np.isfinite(v)]
    if finals:
        ax.set_ylim(np.percentile(finals, 2) - 1.0, report["optimum"] + 0.3)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("test accuracy of best-reward cell (%)")
    title = f"{report['benchmark']}, budget {report['budget_frac']:g}x, {report['seeds']} seeds"
    if report["constraint"]:
        title += f", {report['constraint']}"
    ax.set_title(title + "\nmedian and quartiles over seeds")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
