"""``nni-effnas bench multiobjective``: accuracy-against-latency search on NAS-Bench-201, per device.

Protocol (our extension of the NATS-Bench simulated search, ``shared/docs/anchors.md``, to two objectives):
a strategy pays each sample's 12-epoch training cost on the simulated clock and *observes* its 12-epoch
validation accuracy and its latency on the device; when the clock passes ``budget_frac x budget`` the search
returns its *front*, the evaluated samples that are non-dominated in what it observed (validation accuracy,
latency). The front is scored with the samples' 200-epoch test accuracy: its hypervolume divided by that of the
*true front* (every cell's test accuracy and latency), both normalised by the true front's ideal and nadir with
the reference point at 1.1 (EvoXBench; :mod:`nni_effnas.pareto`). Also reported per device:

* ``ceiling``: the ratio reached by a search that evaluates *every* cell and returns its observed front (the
  gap between 12-epoch validation and 200-epoch test accuracy caps every strategy below 1);
* ``hv_ratio_evaluated``: the ratio of all evaluated samples' test accuracies (as if every evaluated network
  were retrained and the front picked afterwards), an upper bound on what the search found.

Constrained mode (``latency_bound``): the same strategies as single-objective searches with the bound as a
constraint known before training (infeasible samples are rejected at no cost), reporting the 200-epoch test
accuracy of the best-reward feasible sample against the true constrained optimum (the best test accuracy of
any feasible cell) and the ceiling (the best-reward feasible cell's); plus, with ``mnasnet``, one strategy
driven by the MnasNet soft-constraint reward instead of a hard constraint (:mod:`nni_effnas.objectives`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from nni_effnas import compat
from nni_effnas.checks import check_int
from nni_effnas.bench_search import check_run, parse_strategies
from nni_effnas.loop import SearchResult, run_search
from nni_effnas.nb201 import check_latency_dataset
from nni_effnas.objectives import mnasnet_reward
from nni_effnas.pareto import FrontScale, hypervolume, pareto_front, selected_front
from nni_effnas.report_io import nan_if_none, save_figure
from nni_effnas.run_journal import Runs, fingerprint, identity, ticks
from nni_effnas.strategies import STRATEGIES, benchmark_kwargs, create_strategy
from nni_effnas.strategies.multiobjective import MultiObjectiveMixin
from nni_effnas.tabular import TabularBenchmark

DEFAULT_STRATEGIES = ("random", "nsga2", "motpe", "mo_bananas")
CONSTRAINED_STRATEGIES = ("random", "regularized_evolution", "predictor_guided")
COST_METRIC = "latency_ms"


@dataclass(frozen=True)
class Device:
    """One latency column over every row of the benchmark (ms)."""

    name: str
    latency: np.ndarray

    def __post_init__(self) -> None:
        if not np.isfinite(self.latency).all():
            raise ValueError(f"device {self.name!r} has missing or non-finite latencies")


def nb201_devices(bench: TabularBenchmark, names: str | Sequence[str]) -> list[Device]:
    """Devices of the shipped NB201 table by name (``all``: every one); an unknown name lists the known ones."""
    check_latency_dataset(bench.name.partition("/")[2])
    known = sorted(c.split(":", 1)[1] for c in bench.columns if c.startswith("latency:"))
    wanted = known if names == "all" else ([names] if isinstance(names, str) else list(names))
    wanted = [n.strip() for part in wanted for n in part.split(",") if n.strip()]
    for name in wanted:
        if name not in known:
            raise ValueError(f"unknown device {name!r}; the NAS-Bench-201 tables have: {', '.join(known)}")
    if not wanted:
        raise ValueError("no device given; expected a device name, a comma-separated list or 'all'")
    return [Device(n, bench.column(f"latency:{n}").astype(float)) for n in wanted]


def table_device(bench: TabularBenchmark, path: str | Path, column: str, *, arch_column: str = "arch_str") -> Device:
    """A user latency table (CSV with an NB201 arch-string column and a latency column, in ms) as a device;
    every cell of the benchmark must be in it. The shipped benchmark's rows are in NAS-Bench-201 index order."""
    from nni_effnas.costs.tables import LatencyTable
    from nni_effnas.nb201 import load_table

    if not bench.name.startswith("nb201/"):
        raise ValueError(f"--latency-table needs an NB201 benchmark, got {bench.name!r}")
    table = LatencyTable.from_csv(path, arch_column=arch_column, latency_column=column)
    nb201 = load_table()
    archs = [nb201.arch_str(i) for i in range(len(bench.reward))]
    table.check_complete(archs)
    return Device(column, np.array([table(a) for a in archs], dtype=float))


# -- one search ----------------------------------------------------------------------------------------------
def _evaluator(bench: TabularBenchmark, device: Device) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def evaluate(sample: Mapping[str, Any]) -> dict[str, Any]:
        metrics = bench.evaluate(sample)
        metrics[COST_METRIC] = float(device.latency[bench.row(sample)])
        return metrics

    return evaluate


def _strategy_kwargs(name: str, bench: TabularBenchmark, device: Device, extra: Mapping[str, Any]) -> dict[str, Any]:
    kwargs = benchmark_kwargs(name, bench.name)
    if issubclass(STRATEGIES.get(name), MultiObjectiveMixin):
        latency = device.latency
        kwargs.update(cost_metric=COST_METRIC, cost_model=lambda sample: float(latency[bench.row(sample)]))
    kwargs.update(extra)
    return kwargs


def front_ratios(result: SearchResult, scale: FrontScale, true_hv: float) -> tuple[float, float, np.ndarray]:
    """(selected-front ratio, all-evaluated ratio, selected front as rows (test accuracy, latency))."""
    ok = result.succeeded
    observed = [(t.reward, t.metrics[COST_METRIC]) for t in ok]
    reported = [t.metrics["reported"] for t in ok]
    picked = selected_front(observed, reported)
    front = np.array([(reported[i], observed[i][1]) for i in picked], dtype=float).reshape(-1, 2)
    every = np.array([(r, o[1]) for r, o in zip(reported, observed)], dtype=float).reshape(-1, 2)
    return hypervolume(front, scale) / true_hv, hypervolume(every, scale) / true_hv, front


def device_reference(bench: TabularBenchmark, device: Device) -> dict[str, Any]:
    true = np.c_[bench.reported, device.latency]
    scale = FrontScale.of(true)
    front = pareto_front(true)
    true_hv = hypervolume(front, scale)
    picked = selected_front(list(zip(bench.reward, device.latency)), list(bench.reported))
    ceiling = hypervolume(true[picked], scale) / true_hv
    return {"scale": scale, "true_hv": true_hv, "true_front": front, "ceiling": float(ceiling)}


def run_benchmark(
    bench: TabularBenchmark,
    devices: Sequence[Device],
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    *,
    seeds: int,
    budget_frac: float,
    seed_offset: int = 0,
    strategy_args: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[], None] | None = None,
    journal: str | Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Hypervolume ratio of every strategy's front on every device, ``seeds`` seeds each. ``journal``: a
    :class:`~nni_effnas.run_journal.RunJournal` file keeping every finished (device, strategy, seed) run, so a
    stopped benchmark run again runs only the missing ones. ``workers``: as in
    :func:`~nni_effnas.bench_search.run_benchmark`."""
    check_run(seeds, budget_frac, seed_offset)
    check_int("workers", workers)
    runs, extra = parse_strategies(strategies, strategy_args)
    budget = bench.budget_s * budget_frac
    compat.quiet_nni_logging()
    _check_strategies(bench, devices[0], runs, extra)
    done = _runs(journal, "pareto", bench, devices, runs, extra, budget_frac=budget_frac, budget_s=budget)
    report: dict[str, Any] = {"benchmark": bench.name, "mode": "pareto", "budget_frac": budget_frac,
                              "budget_s": budget, "seeds": seeds, "seed_offset": seed_offset,
                              "strategy_args": extra, "strategies": list(runs), "devices": {}}
    refs = {device.name: device_reference(bench, device) for device in devices}
    seed_range = range(seed_offset, seed_offset + seeds)
    records = done.run_all({
        (f"{d.name}/{label}", s): (pareto_run, (bench, d, name, extra.get(label, {}), s, budget,
                                                refs[d.name]["scale"], refs[d.name]["true_hv"]))
        for d in devices for label, name in runs.items() for s in seed_range}, workers, ticks(progress))
    for device in devices:
        ref = refs[device.name]
        rows: dict[str, Any] = {}
        for label in runs:
            ratios, evaluated_ratios, counts, fronts, compute = [], [], [], [], []
            for seed in seed_range:
                run = records[(f"{device.name}/{label}", seed)]
                ratios.append(nan_if_none(run["ratio"]))
                evaluated_ratios.append(nan_if_none(run["every"]))
                counts.append(int(run["evaluated"]))
                fronts.append(run["front"])
                compute.append(float(run["strategy_s"]))
            rows[label] = {**_stats(ratios), "hv_ratio_evaluated_mean": float(np.mean(evaluated_ratios)),
                           "evaluated_mean": float(np.mean(counts)), "strategy_s_mean": float(np.mean(compute)),
                           "fronts": fronts}
        report["devices"][device.name] = {
            "ceiling": ref["ceiling"], "true_front": ref["true_front"].round(4).tolist(),
            "true_front_size": int(len(ref["true_front"])), "scale": ref["scale"].to_dict(), "strategies": rows}
    return report


# -- constrained mode ----------------------------------------------------------------------------------------
def run_constrained(
    bench: TabularBenchmark,
    devices: Sequence[Device],
    strategies: Sequence[str] = CONSTRAINED_STRATEGIES,
    *,
    bound: str | float,
    seeds: int,
    budget_frac: float,
    mnasnet: str | None = "predictor_guided",
    seed_offset: int = 0,
    strategy_args: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[], None] | None = None,
    journal: str | Path | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Best test accuracy under ``latency <= bound`` (a number in ms, ``MEDIAN`` or ``Qnn``, the nn-th
    percentile of the device's latencies) per strategy and device. ``journal``, ``workers``: as
    :func:`run_benchmark`'s."""
    check_run(seeds, budget_frac, seed_offset)
    check_int("workers", workers)
    runs, extra = parse_strategies(strategies, strategy_args)
    soft_label = f"mnasnet[{STRATEGIES.canonical(mnasnet)}]" if mnasnet else None
    if soft_label:
        runs[soft_label] = STRATEGIES.canonical(mnasnet)
    for label, name in runs.items():
        if issubclass(STRATEGIES.get(name), MultiObjectiveMixin):
            raise ValueError(f"{label!r} ({name}) is a multi-objective strategy: it returns a front, not one best cell "
                             "under the bound; use it without --latency-bound, or a single-objective strategy here")
    budget = bench.budget_s * budget_frac
    compat.quiet_nni_logging()
    _check_strategies(bench, devices[0], runs, extra)
    done = _runs(journal, "constrained", bench, devices, runs, extra, budget_frac=budget_frac, budget_s=budget,
                 bound=str(bound))
    report: dict[str, Any] = {"benchmark": bench.name, "mode": "constrained", "budget_frac": budget_frac,
                              "budget_s": budget, "seeds": seeds, "seed_offset": seed_offset, "bound": str(bound),
                              "strategy_args": extra, "strategies": list(runs), "devices": {}}
    limits, masks, soft_tables = {}, {}, {}
    for device in devices:
        limits[device.name] = limit = latency_bound(device, bound)
        masks[device.name] = mask = device.latency <= limit
        if not mask.any():
            closest = int(np.argmin(device.latency))
            raise ValueError(f"latency bound {limit:g} ms is infeasible on {device.name}: no cell is that fast; the "
                             f"closest is row {closest} at {device.latency[closest]:g} ms")
        if soft_label:
            soft_tables[device.name] = _mnasnet_bench(bench, device, limit)
    seed_range = range(seed_offset, seed_offset + seeds)
    records = done.run_all({
        (f"{d.name}/{label}", s): (constrained_run, (bench, d, masks[d.name],
                                                     soft_tables[d.name] if label == soft_label else None, name,
                                                     extra.get(label, {}), s, budget))
        for d in devices for label, name in runs.items() for s in seed_range}, workers, ticks(progress))
    for device in devices:
        limit, mask = limits[device.name], masks[device.name]
        feasible_rows = np.flatnonzero(mask)
        optimum = float(bench.reported[feasible_rows].max())
        ceiling = float(bench.reported[feasible_rows[np.argmax(bench.reward[feasible_rows])]])
        rows: dict[str, Any] = {}
        for label in runs:
            finals, counts = [], []
            for seed in seed_range:
                run = records[(f"{device.name}/{label}", seed)]
                finals.append(nan_if_none(run["final"]))
                counts.append(int(run["evaluated"]))
            stats = _stats(finals)
            rows[label] = {**stats, "gap_to_optimum": optimum - stats["mean"], "evaluated_mean": float(np.mean(counts)),
                           "no_feasible_found": int(np.isnan(finals).sum())}
        report["devices"][device.name] = {"bound_ms": limit, "feasible_fraction": float(mask.mean()),
                                          "optimum": optimum, "ceiling": ceiling, "strategies": rows}
    return report


def pareto_run(bench: TabularBenchmark, device: Device, name: str, extra: Mapping[str, Any], seed: int,
               budget: float, scale: FrontScale, true_hv: float) -> dict[str, Any]:
    """One search for the accuracy/latency front on ``device``: the record the report and the journal keep."""
    kwargs = _strategy_kwargs(name, bench, device, extra)
    result = run_search(create_strategy(name, seed=seed, **kwargs), bench.space, _evaluator(bench, device),
                        time_budget_s=budget)
    ratio, every, front = front_ratios(result, scale, true_hv)
    return {"ratio": ratio, "every": every, "evaluated": len(result.trials), "front": front.round(4).tolist(),
            "strategy_s": result.clock_s - sum(t.cost_s for t in result.trials)}


def constrained_run(bench: TabularBenchmark, device: Device, mask: np.ndarray, soft_table: TabularBenchmark | None,
                    name: str, extra: Mapping[str, Any], seed: int, budget: float) -> dict[str, Any]:
    """One search on ``device`` for the best cell among ``mask`` (the cells under its latency bound); with
    ``soft_table`` (a ``mnasnet[...]`` row) on the MnasNet soft reward instead of the hard bound: the record the
    report and the journal keep."""
    table = soft_table if soft_table is not None else bench

    def feasible(sample: Mapping[str, Any]) -> bool:
        return bool(mask[bench.row(sample)])

    kwargs = _strategy_kwargs(name, bench, device, extra)
    result = run_search(create_strategy(name, seed=seed, **kwargs), table.space, table.evaluate,
                        time_budget_s=budget, feasible=None if soft_table is not None else feasible)
    ok = [t for t in result.succeeded if mask[bench.row(t.sample)]]
    best = max(ok, key=lambda t: (bench.reward[bench.row(t.sample)]), default=None)
    return {"final": float(bench.reported[bench.row(best.sample)]) if best else None,
            "evaluated": len(result.trials)}


def _check_strategies(bench: TabularBenchmark, device: Device, runs: Mapping[str, str],
                      extra: Mapping[str, Mapping[str, Any]]) -> None:
    """Build each strategy once with the arguments its runs get, so bad ones fail before any run or journal line."""
    for label, name in runs.items():
        create_strategy(name, seed=0, **_strategy_kwargs(name, bench, device, extra.get(label, {})))


def _runs(path: str | Path | None, mode: str, bench: TabularBenchmark, devices: Sequence[Device],
          runs: Mapping[str, str], extra: Mapping[str, Mapping[str, Any]], **settings: Any) -> Runs:
    """The benchmark's runs through its journal (if ``path``), labelled ``device/label``; a row's identity is
    its strategy, its arguments and the device's latencies."""
    latency = {d.name: fingerprint(d.latency) for d in devices}
    plan = {f"{d.name}/{label}": identity(name, {**extra.get(label, {}), "_latency": latency[d.name]})
            for d in devices for label, name in runs.items()}
    return Runs(path, f"nni-effnas bench multiobjective {mode}", {
        "benchmark": bench.name, "table": fingerprint(bench.reward, bench.cost, bench.reported), **settings}, plan)


def latency_bound(device: Device, bound: str | float) -> float:
    if isinstance(bound, (int, float)):
        return float(bound)
    text = str(bound).strip().upper()
    if text == "MEDIAN":
        return float(np.median(device.latency))
    if text.startswith("Q") and text[1:].replace(".", "", 1).isdigit() and 0 <= float(text[1:]) <= 100:
        return float(np.percentile(device.latency, float(text[1:])))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"bad latency bound {bound!r}; expected milliseconds, MEDIAN or Qnn (a percentile)") from None


def _mnasnet_bench(bench: TabularBenchmark, device: Device, target: float) -> TabularBenchmark:
    """``bench`` whose reward is the MnasNet soft-constraint reward of its reward and ``device``'s latency."""
    positive = np.maximum(device.latency, 1e-9)
    reward = np.array([mnasnet_reward(float(a), float(c), target) for a, c in zip(bench.reward, positive)])
    return replace(bench, reward=reward)


# -- helpers ---------------------------------------------------------------------------------------------------
def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One report from several runs of the same settings: runs with the same seeds on different devices are
    joined (parallel jobs), and runs on the same devices with consecutive seed ranges are pooled (more seeds
    later: ``--seed-offset``), their per-seed values concatenated and the statistics recomputed."""
    if not reports:
        raise ValueError("no reports to merge")
    first = reports[0]
    for report in reports[1:]:
        for key in ("benchmark", "mode", "budget_frac", "strategies", "strategy_args", "bound"):
            if report.get(key) != first.get(key):
                raise ValueError(f"reports differ in {key}: {report.get(key)!r} against {first.get(key)!r}")
    groups: dict[tuple[int, int], dict[str, Any]] = {}
    for report in reports:
        devices = groups.setdefault((report["seed_offset"], report["seeds"]), {})
        for name, row in report["devices"].items():
            if name in devices:
                raise ValueError(f"device {name!r} appears twice for seeds {report['seed_offset']}.."
                                 f"{report['seed_offset'] + report['seeds'] - 1}")
            devices[name] = row
    ordered = sorted(groups.items())
    (offset, _), _ = ordered[0]
    expected, names = offset, set(ordered[0][1])
    for (start, count), devices in ordered:
        if start != expected:
            raise ValueError(f"seed ranges are not consecutive: expected one starting at {expected}, got {start}")
        if set(devices) != names:
            raise ValueError(f"seed ranges cover different devices: {sorted(names)} against {sorted(devices)}")
        expected = start + count
    merged = {**first, "seed_offset": offset, "seeds": expected - offset, "devices": {}}
    counts = [count for (_, count), _ in ordered]
    for name in sorted(names):
        rows = [devices[name] for _, devices in ordered]
        device = {key: value for key, value in rows[0].items() if key != "strategies"}
        device["strategies"] = {label: _pool([row["strategies"][label] for row in rows], counts,
                                             optimum=device.get("optimum")) for label in first["strategies"]}
        merged["devices"][name] = device
    return merged


def _pool(rows: Sequence[Mapping[str, Any]], counts: Sequence[int], *, optimum: float | None) -> dict[str, Any]:
    pooled: dict[str, Any] = _stats([v for row in rows for v in row["values"]])
    weights = np.asarray(counts, dtype=float) / sum(counts)
    for key in rows[0]:
        if key.endswith("_mean"):
            pooled[key] = float(np.dot(weights, [row[key] for row in rows]))
    if "fronts" in rows[0]:
        pooled["fronts"] = [front for row in rows for front in row["fronts"]]
    if "no_feasible_found" in rows[0]:
        pooled["no_feasible_found"] = int(sum(row["no_feasible_found"] for row in rows))
    if optimum is not None:
        pooled["gap_to_optimum"] = optimum - pooled["mean"]
    return pooled


def _stats(values: Sequence[float]) -> dict[str, Any]:
    array = np.asarray(values, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"mean": float(np.nanmean(array)), "sem": float(np.nanstd(array, ddof=1) / np.sqrt(array.size))
                if array.size > 1 else 0.0, "median": float(np.nanmedian(array)),
                "values": [round(float(v), 4) for v in array]}


def format_table(report: Mapping[str, Any]) -> str:
    labels = report["strategies"]
    if report["mode"] == "pareto":
        head = f"{report['benchmark']}  budget {report['budget_frac']:g} x = {report['budget_s']:.0f} s  " \
               f"seeds {report['seeds']}  hypervolume ratio (mean +- s.e.m.)"
        cols = ["device", "ceiling", *labels]
        lines = [head, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for name, dev in report["devices"].items():
            cells = [f"{dev['strategies'][s]['mean']:.4f} +- {dev['strategies'][s]['sem']:.4f}" for s in labels]
            lines.append(f"| {name} | {dev['ceiling']:.4f} | " + " | ".join(cells) + " |")
        means = {s: np.mean([d["strategies"][s]["mean"] for d in report["devices"].values()]) for s in labels}
        lines.append("| mean over devices | " + f"{np.mean([d['ceiling'] for d in report['devices'].values()]):.4f} | "
                     + " | ".join(f"{means[s]:.4f}" for s in labels) + " |")
        return "\n".join(lines)
    head = f"{report['benchmark']}  budget {report['budget_frac']:g} x = {report['budget_s']:.0f} s  seeds " \
           f"{report['seeds']}  latency <= {report['bound']}: test accuracy of the best feasible sample"
    cols = ["device", "bound ms", "optimum", "ceiling", *labels]
    lines = [head, "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, dev in report["devices"].items():
        cells = [f"{dev['strategies'][s]['mean']:.2f} +- {dev['strategies'][s]['sem']:.2f}" for s in labels]
        lines.append(f"| {name} | {dev['bound_ms']:.3g} | {dev['optimum']:.2f} | {dev['ceiling']:.2f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: str | Path) -> None:
    """Pareto mode: the first device's true front and each strategy's median-seed front (left); the mean
    hypervolume ratio per device and strategy, with the ceiling (right). Constrained mode: the gap to the
    constrained optimum per device and strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = report["strategies"]
    names = list(report["devices"])
    if report["mode"] == "pareto":
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
        first = report["devices"][names[0]]
        true = np.asarray(first["true_front"])
        left.step(true[:, 1], true[:, 0], where="post", color="black", label="true front (test acc)")
        for label in labels:
            row = first["strategies"][label]
            order = np.argsort(row["values"])
            front = np.asarray(row["fronts"][order[len(order) // 2]]).reshape(-1, 2)
            if len(front):
                front = front[np.argsort(front[:, 1])]
                left.step(front[:, 1], front[:, 0], where="post", marker="o", ms=3, label=f"{label} (median seed)")
        left.set(xlabel=f"latency on {names[0]} (ms)", ylabel="200-epoch test accuracy (%)",
                 title=f"{report['benchmark']}: fronts found at {report['budget_frac']:g} x budget")
        left.set_ylim(max(float(true[:, 0].min()) - 2, 0), float(true[:, 0].max()) + 1)
        left.legend(fontsize=7)
        x = np.arange(len(names))
        width = 0.8 / max(len(labels), 1)
        for k, label in enumerate(labels):
            means = [report["devices"][n]["strategies"][label]["mean"] for n in names]
            sems = [report["devices"][n]["strategies"][label]["sem"] for n in names]
            right.bar(x + k * width - 0.4 + width / 2, means, width, yerr=sems, label=label)
        right.plot(x, [report["devices"][n]["ceiling"] for n in names], "k_", ms=14, mew=2, label="ceiling")
        right.axhline(0.98, color="grey", ls=":", lw=1)
        right.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        right.set(ylabel="hypervolume ratio", title=f"mean over {report['seeds']} seeds")
        low = min(report["devices"][n]["strategies"][s]["mean"] for n in names for s in labels)
        right.set_ylim(max(0.0, low - 0.1), 1.0)
        right.legend(fontsize=7)
    else:
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names) + 3), 4.5))
        x = np.arange(len(names))
        width = 0.8 / max(len(labels), 1)
        for k, label in enumerate(labels):
            gaps = [report["devices"][n]["strategies"][label]["gap_to_optimum"] for n in names]
            ax.bar(x + k * width - 0.4 + width / 2, gaps, width, label=label)
        ax.plot(x, [report["devices"][n]["optimum"] - report["devices"][n]["ceiling"] for n in names], "k_",
                ms=14, mew=2, label="ceiling")
        ax.axhline(0.2, color="grey", ls=":", lw=1)
        ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
        ax.set(ylabel="constrained optimum - found (points)",
               title=f"{report['benchmark']}, latency <= {report['bound']}, {report['budget_frac']:g} x budget")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
