"""``nni-effnas``: the command line.

    nni-effnas bench query  --space nb201 --arch ARCH_STR | --index N --dataset cifar10
    nni-effnas bench search --space nb201 --dataset cifar10 --strategies random,evolution --seeds 100 ...
    nni-effnas bench proxies --space nb201 --dataset cifar10 --sample 1000 --proxy-data fashion-mnist ...
    nni-effnas bench predictors --space nb201 --dataset cifar10 --train-sizes 20,50,100,200 --seeds 5 ...
    nni-effnas bench oneshot --space nb201 --variants darts,gdas --data fashion-mnist --epochs 4 --seeds 1 ...
    nni-effnas bench multiobjective --space nb201 --dataset cifar10 --device pixel2 --seeds 30 --budget-frac 0.1 ...
    nni-effnas pareto EXPERIMENT_ID|FILE --cost-metric latency_ms --json front.json --plot front.png
    nni-effnas register            register our strategies as NNI tuners (nnictl algo register; idempotent)
    nni-effnas search-space        print a space's NNI search-space JSON
    nni-effnas demo                the NB201 benchmark search under nnictl, with the web UI
    nni-effnas list                registered spaces, strategies and evaluators
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from nni_effnas.checks import arg_type, check_output_file, count_arg


def _bench_query(args: argparse.Namespace) -> int:
    from nni_effnas.nb201 import load_table

    if args.space.lower() != "nb201":
        raise ValueError(f"no tabular benchmark for space {args.space!r}; expected nb201")
    if (args.arch is None) == (args.index is None):
        raise ValueError("pass exactly one of --arch ARCH_STR or --index N")
    record = load_table().query(args.arch if args.arch is not None else args.index, args.dataset)
    print(json.dumps(record))
    return 0


def _bench_search(args: argparse.Namespace) -> int:
    from nni_effnas import bench_search
    from nni_effnas.strategies import STRATEGIES
    from nni_effnas.tabular import Constraint, TabularBenchmark

    if args.list_strategies:
        print("\n".join(STRATEGIES.names()))
        return 0
    if args.table:
        if args.budget_s is None:
            raise ValueError("--table needs --budget-s (the 100 % budget in seconds)")
        bench = TabularBenchmark.from_csv(args.table, arch_columns=args.arch_columns,
                                          reward=args.reward_column, cost=args.cost_column,
                                          reported=args.reported_column, budget_s=args.budget_s)
    else:
        if args.space.lower() != "nb201":
            raise ValueError(f"no tabular benchmark for space {args.space!r}; expected nb201 (or pass --table)")
        bench = TabularBenchmark.nb201(args.dataset)
        if args.budget_s is not None:
            bench.budget_s = args.budget_s
    constraint = Constraint.parse(args.constraint) if args.constraint else None
    strategies = [s for s in args.strategies.split(",") if s]
    strategy_args = _json_arg(args.strategy_args, "--strategy-args") if args.strategy_args else None
    bench_search.parse_strategies(strategies, strategy_args)  # bad settings fail before the progress bar appears
    bench_search.check_run(args.seeds, args.budget_frac)
    progress = _progress_bar(len(strategies) * args.seeds, disable=args.quiet)
    report = bench_search.run_benchmark(bench, strategies, seeds=args.seeds, budget_frac=args.budget_frac,
                                        constraint=constraint, seed_offset=args.seed_offset,
                                        strategy_args=strategy_args, progress=progress.update,
                                        journal=args.journal, workers=args.workers)
    progress.close()
    return _write_report(bench_search, report, args)


def _bench_multiobjective(args: argparse.Namespace) -> int:
    from nni_effnas import bench_multiobjective as bench_mo
    from nni_effnas.tabular import TabularBenchmark

    if args.space.lower() != "nb201":
        raise ValueError(f"no tabular benchmark for space {args.space!r}; expected nb201")
    bench = TabularBenchmark.nb201(args.dataset)
    if args.latency_table:
        if not args.latency_column:
            raise ValueError("--latency-table needs --latency-column (the column of latencies in ms)")
        if args.device is not None:
            raise ValueError(f"--device {args.device} and --latency-table {args.latency_table} both name the "
                             "latencies; give one")
        devices = [bench_mo.table_device(bench, args.latency_table, args.latency_column, arch_column=args.arch_column)]
    else:
        devices = bench_mo.nb201_devices(bench, args.device or "pixel2")
    constrained = args.latency_bound is not None
    default = bench_mo.CONSTRAINED_STRATEGIES if constrained else bench_mo.DEFAULT_STRATEGIES
    strategies = _names(args.strategies) if args.strategies is not None else list(default)
    strategy_args = _json_arg(args.strategy_args, "--strategy-args") if args.strategy_args else None
    bench_mo.check_run(args.seeds, args.budget_frac)
    if constrained:
        for device in devices:
            bench_mo.latency_bound(device, args.latency_bound)  # a bad bound fails before the progress bar
    correlations = None
    if args.correlations:  # before the benchmark, so a dataset without latencies fails at once
        from nni_effnas.costs.correlation import cost_correlation_table

        correlations = cost_correlation_table(args.dataset)
    runs = len(devices) * args.seeds * (len(strategies) + (1 if constrained and args.mnasnet != "none" else 0))
    progress = _progress_bar(runs, disable=args.quiet)
    common = dict(seeds=args.seeds, budget_frac=args.budget_frac, seed_offset=args.seed_offset,
                  strategy_args=strategy_args, progress=progress.update, journal=args.journal, workers=args.workers)
    if constrained:
        report = bench_mo.run_constrained(bench, devices, strategies, bound=args.latency_bound,
                                          mnasnet=None if args.mnasnet == "none" else args.mnasnet, **common)
    else:
        report = bench_mo.run_benchmark(bench, devices, strategies, **common)
    progress.close()
    if correlations is not None:
        report["correlations"] = correlations
    return _write_report(bench_mo, report, args)


def _bench_proxies(args: argparse.Namespace) -> int:
    from nni_effnas import bench_proxies

    if args.space.lower() != "nb201":
        raise ValueError(f"no proxy benchmark for space {args.space!r}; expected nb201")
    sample = args.sample if args.sample == "naslib" else _int(args.sample, "--sample")
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(total, disable=args.quiet, desc="cells scored", unit="cell")
        bar.update(1)

    report = bench_proxies.run_proxy_benchmark(
        dataset=args.dataset, sample=sample, seed=args.seed, proxies=_names(args.proxies),
        ensembles=[e for e in args.ensembles.split(",") if e], proxy_data=args.proxy_data,
        batch_size=args.batch_size, cache=False if args.no_cache else args.cache, naslib_dir=args.naslib_dir,
        model_kwargs={"channels": args.channels, "num_cells": args.num_cells}, progress=progress, truth=args.truth)
    if bar is not None:
        bar.close()
    return _write_report(bench_proxies, report, args)


def _bench_predictors(args: argparse.Namespace) -> int:
    from nni_effnas import bench_predictors

    predictors = _names(args.predictors) if args.predictors else list(bench_predictors.DEFAULT_PREDICTORS)
    sizes = [] if args.train_sizes else list(bench_predictors.DEFAULT_TRAIN_SIZES)
    for text in _names(args.train_sizes or ""):
        try:
            sizes.append(int(text))
        except ValueError:
            raise ValueError(f"--train-sizes must be comma-separated whole numbers >= 2, "
                             f"got {text.strip()!r}") from None
    try:
        predictor_args = json.loads(args.predictor_args) if args.predictor_args else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--predictor-args must be JSON, got {args.predictor_args!r} ({exc.msg})") from None
    bar = None

    def progress(done: int, total: int, label: str) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(total, disable=args.quiet, desc="predictor fits", unit="fit")
        bar.set_postfix_str(label, refresh=False)
        bar.update(1)

    report = bench_predictors.run_predictor_benchmark(
        space=args.space, dataset=args.dataset, train_sizes=sizes, predictors=predictors, test_size=args.test_size,
        seeds=args.seeds, seed_offset=args.seed_offset, target=args.target, features=args.features,
        predictor_args=predictor_args, progress=progress)
    if bar is not None:
        bar.close()
    return _write_report(bench_predictors, report, args)


def _bench_latency(args: argparse.Namespace) -> int:
    from nni_effnas import bench_latency
    from nni_effnas.report_io import save_json
    from nni_effnas.tabular import TabularBenchmark

    if args.space.lower() != "nb201":
        raise ValueError(f"no tabular benchmark for space {args.space!r}; expected nb201")
    bench = TabularBenchmark.nb201(args.dataset)
    strategies = [s for s in args.strategies.split(",") if s]
    strategy_args = _json_arg(args.strategy_args, "--strategy-args") if args.strategy_args else None
    report = bench_latency.run(bench, strategies, observations=args.observations, steps=args.steps,
                               seed=args.seed, strategy_args=strategy_args,
                               progress=None if args.quiet else lambda n: print(f"measured {n}", file=sys.stderr))
    print(bench_latency.format_table(report))
    if args.json:
        save_json(report, args.json)
        print(f"wrote {args.json}")
    return 0


def _bench_oneshot(args: argparse.Namespace) -> int:
    from nni_effnas import bench_oneshot

    try:
        method_args = json.loads(args.method_args) if args.method_args else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--method-args must be JSON, got {args.method_args!r} ({exc.msg})") from None
    try:
        search_args = json.loads(args.search_args) if args.search_args else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--search-args must be JSON, got {args.search_args!r} ({exc.msg})") from None
    if search_args is not None and not isinstance(search_args, dict):
        raise ValueError(f'--search-args must be a JSON object, e.g. \'{{"a_lr": 0.003}}\', got {args.search_args!r}')
    variants = _names(args.variants) if args.variants is not None else None
    if variants is not None and not variants:
        raise ValueError("--variants is empty; expected comma-separated registered one-shot methods")

    def progress(done: int, total: int, line: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {line}", file=sys.stderr, flush=True)

    report = bench_oneshot.run_benchmark(
        space=args.space, variants=variants, data=args.data, data_dir=args.data_dir, epochs=args.epochs,
        seeds=args.seeds, seed_offset=args.seed_offset, channels=args.channels, num_cells=args.num_cells,
        limit=args.limit or None, val_limit=args.val_limit, batch_size=args.batch_size, method_args=method_args,
        search_args=search_args, accelerator=args.accelerator, power_iterations=args.power_iterations,
        timing_steps=args.timing_steps, progress=progress, journal=args.journal, workers=args.workers)
    return _write_report(bench_oneshot, report, args)


def _write_report(module, report: dict, args: argparse.Namespace) -> int:
    """Print a benchmark report's table; write its ``--json`` and ``--plot`` when asked."""
    from nni_effnas.report_io import save_json

    print(module.format_table(report))
    if args.json:
        save_json(report, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        module.plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _json_arg(text: str, flag: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{flag} must be JSON, got {text!r} ({exc.msg})") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(f'{flag} must map strategy names to argument objects, e.g. {{"zero_cost_warmup": {{"pool_size": 200}}}}; got {text!r}')
    return value


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{flag} must be a whole number or 'naslib', got {text!r}") from None
    return value


_seconds = arg_type(float, lambda v: math.isfinite(v) and v > 0, "a number of seconds > 0")
_port = arg_type(int, lambda v: 1 <= v <= 65535, "a port number in 1..65535")
_workers = arg_type(int, lambda v: v >= 1, "a whole number >= 1")


def _progress_bar(total: int, *, disable: bool, desc: str = "search runs", unit: str = "run"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=sys.stderr)


def _pareto(args: argparse.Namespace) -> int:
    from nni_effnas import pareto_export

    reference = None
    if args.reference:
        try:
            accuracy, cost = (float(x) for x in args.reference.split(","))
            if not (math.isfinite(accuracy) and math.isfinite(cost)):
                raise ValueError
        except ValueError:
            raise ValueError(f"--reference must be ACCURACY,COST (two numbers), got {args.reference!r}") from None
        reference = (accuracy, cost)
    trials = pareto_export.load_trials(args.source, experiment_dir=args.experiment_dir)
    report = pareto_export.front_report(trials, cost_metric=args.cost_metric, accuracy_metric=args.accuracy_metric,
                                        reference=reference)
    report["source"] = str(args.source)
    return _write_report(pareto_export, report, args)


def _register(args: argparse.Namespace) -> int:
    from nni_effnas.register import register

    register(quiet=args.quiet)
    return 0


def _search_space(args: argparse.Namespace) -> int:
    from nni_effnas.search_spaces import get_space

    print(json.dumps(get_space(args.space).categorical().to_nni(), indent=1))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from nni_effnas.experiment import demo

    return demo(config=args.config, port=args.port, timeout_s=args.timeout)


def _list(args: argparse.Namespace) -> int:
    from nni_effnas.search_spaces import SPACES
    from nni_effnas.strategies import STRATEGIES
    from nni_effnas.strategies.oneshot import ONESHOT
    from nni_effnas.trials.evaluators import EVALUATORS

    for title, registry in (("spaces", SPACES), ("strategies", STRATEGIES), ("one-shot methods", ONESHOT),
                            ("evaluators", EVALUATORS)):
        print(f"{title}: {', '.join(registry.names())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nni-effnas", description="Efficient NAS for Microsoft NNI.")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command", required=True)
    q = bench.add_parser("query", help="look one cell up in the offline NAS-Bench-201 table (prints JSON)")
    q.add_argument("--space", default="nb201")
    q.add_argument("--arch", help="NAS-Bench-201 arch string")
    q.add_argument("--index", type=int, help="NAS-Bench-201 index")
    q.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16")
    q.set_defaults(func=_bench_query)

    s = bench.add_parser("search", help="simulated search benchmark (NATS-Bench protocol)")
    s.add_argument("--space", default="nb201")
    s.add_argument("--dataset", default="cifar10")
    s.add_argument("--strategies", default="random,regularized_evolution",
                   help="comma-separated registered strategies; LABEL=NAME runs a variant under its own label "
                        "(its --strategy-args keyed by LABEL)")
    s.add_argument("--seeds", type=int, default=100)
    s.add_argument("--seed-offset", type=count_arg, default=0)
    s.add_argument("--budget-frac", type=float, default=1.0, help="fraction of the protocol's time budget")
    s.add_argument("--budget-s", type=_seconds, default=None,
                   help="100 %% budget in seconds (overrides the protocol's)")
    s.add_argument("--constraint", help="e.g. params<=0.344, params<=MEDIAN, latency:pixel2<=13")
    s.add_argument("--strategy-args", default=None,
                   help='JSON: strategy name -> keyword arguments, e.g. \'{"zero_cost_warmup": {"pool_size": 200}}\'')
    s.add_argument("--table", help="a user tabular benchmark (CSV) instead of NB201")
    s.add_argument("--arch-columns", default="", help="--table: comma-separated categorical architecture columns")
    s.add_argument("--reward-column", default="reward", help="--table: the reward column (higher is better)")
    s.add_argument("--cost-column", default="cost", help="--table: the simulated cost column (seconds)")
    s.add_argument("--reported-column", default="reported", help="--table: the column reported for the best-reward row")
    s.add_argument("--json", help="write the full report here")
    s.add_argument("--plot", help="write the anytime plot (PNG) here")
    s.add_argument("--journal", help="JSON-lines file of finished runs: a rerun after a stop (or with more seeds or "
                   "strategies) reads them back instead of running them again")
    s.add_argument("--workers", type=_workers, default=1,
                   help="processes running the (strategy, seed) runs side by side, one torch thread each (default 1)")
    s.add_argument("--list-strategies", action="store_true", help="print the registered strategies, one a line")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_bench_search)

    from nni_effnas.bench_proxies import DEFAULT_ENSEMBLES, DEFAULT_PROXIES

    p = bench.add_parser("proxies", help="rank correlation of zero-cost proxies with NB201 test accuracy")
    p.add_argument("--space", default="nb201")
    p.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16")
    p.add_argument("--sample", default="1000", help="number of random cells, or 'naslib' for NAS-Bench-Suite-Zero's")
    p.add_argument("--seed", type=count_arg, default=0, help="seed of the cell sample, the weights and the proxy batch")
    p.add_argument("--proxies", default=",".join(DEFAULT_PROXIES))
    p.add_argument("--ensembles", default=",".join(DEFAULT_ENSEMBLES),
                   help="rank-aggregated combinations, e.g. synflow+jacob_cov+nwot (comma-separated)")
    p.add_argument("--proxy-data", default="fashion-mnist", help="noise, fashion-mnist or digits (see proxy_data.py)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=16, help="channels of the scored network's first stage (NB201: 16)")
    p.add_argument("--num-cells", type=int, default=5, help="cells per stage of the scored network (NB201: 5)")
    p.add_argument("--cache", default=None, help="zero-cost cache file (default ~/.cache/nni-effnas/zerocost.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="compute every score afresh and store nothing")
    p.add_argument("--naslib-dir", default=None, help="NAS-Bench-Suite-Zero files for the cell-by-cell agreement")
    p.add_argument("--truth", default="test", help="rank against the 200-epoch 'test' accuracy or the 'valid' one "
                   "(CIFAR-10's cifar10-valid setting, the one Abdelfattah et al. 2021 report)")
    p.add_argument("--json", help="write the full report (every score) here")
    p.add_argument("--plot", help="write the rho bar chart and best-proxy scatter (PNG) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_bench_proxies)

    pr = bench.add_parser("predictors", help="rank correlation of performance predictors on held-out NB201 cells")
    pr.add_argument("--space", default="nb201")
    pr.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or imagenet16")
    # defaults (bench_predictors.DEFAULT_*) are filled in by the handler: importing the module here costs ~1 s
    pr.add_argument("--train-sizes", default=None,
                    help="comma-separated training-set sizes, nested: each smaller set is a prefix of the larger "
                         "(default 20,50,100,200)")
    pr.add_argument("--predictors", default=None,
                    help="comma-separated registered predictors (default mlp_ensemble,gnn,gp,random_forest,gbm)")
    pr.add_argument("--test-size", type=int, default=1000, help="held-out cells per seed")
    pr.add_argument("--seeds", type=int, default=5, help="number of seeds (splits and predictor random_state)")
    pr.add_argument("--seed-offset", type=count_arg, default=0, help="first seed")
    pr.add_argument("--target", default="test", help="test (200-epoch test accuracy) or valid (200-epoch validation)")
    pr.add_argument("--features", default="none",
                    help="none, or lowfi: append the 12-epoch validation accuracy as an extra feature column")
    pr.add_argument("--predictor-args", default=None,
                    help='JSON: predictor name -> keyword arguments, e.g. \'{"mlp_ensemble": {"epochs": 100}}\'')
    pr.add_argument("--json", help="write the full report (per-seed numbers, summary, splits) here")
    pr.add_argument("--plot", help="write the Kendall tau vs training size plot (PNG) here")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.set_defaults(func=_bench_predictors)

    # defaults mirror nni_effnas.bench_oneshot.DEFAULTS (a test keeps them equal; importing it here costs seconds)
    os_ = bench.add_parser("oneshot", help="differentiable search methods on NB201, scored by NB201 transfer accuracy")
    os_.add_argument("--space", default="nb201")
    os_.add_argument("--variants", default=None,
                     help="comma-separated registered one-shot methods (default: every registered one)")
    os_.add_argument("--data", default="fashion-mnist", help="the proxy task searched on: fashion-mnist or digits")
    os_.add_argument("--data-dir", default=None, help="directory of the dataset files (fashion-mnist)")
    os_.add_argument("--epochs", type=int, default=4, help="search epochs per run")
    os_.add_argument("--seeds", type=int, default=1, help="runs per variant, seeds seed-offset, seed-offset+1, ...")
    os_.add_argument("--seed-offset", type=count_arg, default=0)
    os_.add_argument("--channels", type=int, default=8, help="supernet channels of the first stage (NB201: 16)")
    os_.add_argument("--num-cells", type=int, default=1, help="supernet cells per stage (NB201: 5)")
    os_.add_argument("--limit", type=int, default=1024,
                     help="training images, halved into weight and architecture batches (0: all)")
    os_.add_argument("--val-limit", type=int, default=500, help="held-out images that score the supernet per epoch")
    os_.add_argument("--batch-size", type=int, default=64)
    os_.add_argument("--method-args", default=None,
                     help='JSON: variant -> keyword arguments, e.g. \'{"pc_darts": {"k": 4}}\'')
    os_.add_argument("--search-args", default=None,
                     help='JSON: OneShotSearch keyword arguments for every run, e.g. \'{"a_lr": 0.003}\'')
    os_.add_argument("--accelerator", default="cpu", help="cpu or gpu")
    os_.add_argument("--power-iterations", type=int, default=8, help="power steps of the Hessian eigenvalue")
    os_.add_argument("--timing-steps", type=int, default=6,
                     help="steps of the DARTS vs NNI DARTS (and PC-DARTS) step-time/memory comparison (0: skip)")
    os_.add_argument("--json", help="write the full report (every run, per-epoch curves, the comparison) here")
    os_.add_argument("--plot", help="write the accuracy bar chart and skip/eigenvalue curves (PNG) here")
    os_.add_argument("--journal", help="JSON-lines file of finished runs: a rerun after a stop (or with more seeds or "
                     "variants) reads them back instead of searching again")
    os_.add_argument("--workers", type=_workers, default=1,
                     help="run the searches in this many processes, one torch thread each (default 1)")
    os_.add_argument("--quiet", action="store_true", help="no progress lines")
    os_.set_defaults(func=_bench_oneshot)

    mo = bench.add_parser("multiobjective", help="accuracy vs latency search per device: hypervolume of the found "
                          "front, or best accuracy under a latency bound")
    mo.add_argument("--space", default="nb201")
    mo.add_argument("--dataset", default="cifar10")
    mo.add_argument("--device", default=None, help="an NB201 device, a comma-separated list, or 'all' (default pixel2)")
    mo.add_argument("--latency-table", help="a user latency table (CSV, one row per NB201 cell) instead of --device")
    mo.add_argument("--latency-column", help="--latency-table: the latency column (ms)")
    mo.add_argument("--arch-column", default="arch_str", help="--latency-table: the NB201 arch-string column")
    mo.add_argument("--strategies", default=None,
                    help="comma-separated registered strategies (LABEL=NAME for variants); default "
                         "random,nsga2,motpe,mo_bananas (constrained: random,regularized_evolution,predictor_guided)")
    mo.add_argument("--strategy-args", default=None, help="JSON: strategy name or label -> keyword arguments")
    mo.add_argument("--seeds", type=int, default=30)
    mo.add_argument("--seed-offset", type=count_arg, default=0)
    mo.add_argument("--budget-frac", type=float, default=0.1, help="fraction of the protocol's time budget")
    mo.add_argument("--latency-bound", default=None,
                    help="constrained mode: latency <= this (ms, MEDIAN or Qnn, a percentile of the device's latencies)")
    mo.add_argument("--mnasnet", default="predictor_guided",
                    help="constrained mode: also run this strategy on the MnasNet soft-constraint reward ('none': skip)")
    mo.add_argument("--correlations", action="store_true",
                    help="add the rank correlation of FLOPs and params with latency per device to the report")
    mo.add_argument("--json", help="write the full report here")
    mo.add_argument("--journal", help="JSON-lines file of finished runs: a rerun after a stop (or with more seeds, "
                    "devices or strategies) reads them back instead of running them again")
    mo.add_argument("--plot", help="write the fronts and hypervolume ratios (PNG) here")
    mo.add_argument("--workers", type=_workers, default=1,
                    help="processes running the (device, strategy, seed) runs side by side, one torch thread each")
    mo.add_argument("--quiet", action="store_true", help="no progress bar")
    mo.set_defaults(func=_bench_multiobjective)

    lat = bench.add_parser("latency", help="a strategy's suggestion latency after a long history")
    lat.add_argument("--space", default="nb201")
    lat.add_argument("--dataset", default="cifar10")
    lat.add_argument("--strategies", default="predictor_guided,optuna_tpe,regularized_evolution")
    lat.add_argument("--observations", type=int, default=500, help="random samples told before timing")
    lat.add_argument("--steps", type=int, default=100, help="ask/tell rounds timed")
    lat.add_argument("--seed", type=count_arg, default=0)
    lat.add_argument("--strategy-args", default=None, help="JSON: strategy name -> keyword arguments")
    lat.add_argument("--json", help="write the report here")
    lat.add_argument("--quiet", action="store_true")
    lat.set_defaults(func=_bench_latency)

    pa = sub.add_parser("pareto", help="the Pareto front (accuracy vs a cost) of an NNI experiment or a search")
    pa.add_argument("source", help="an NNI experiment id, an 'nnictl experiment export' JSON file, or a search "
                                   "checkpoint (nni_effnas.api.search(checkpoint=...))")
    pa.add_argument("--cost-metric", default="latency_ms", help="the cost metric of the final results (minimised)")
    pa.add_argument("--accuracy-metric", default="default", help="the accuracy metric (maximised)")
    pa.add_argument("--reference", help="hypervolume reference point ACCURACY,COST (default: worst of the trials)")
    pa.add_argument("--experiment-dir", help="NNI's experiments folder (default ~/nni-experiments)")
    pa.add_argument("--json", help="write the front (with each trial's parameters) here")
    pa.add_argument("--plot", help="write the trials and the front (PNG) here")
    pa.set_defaults(func=_pareto)

    r = sub.add_parser("register", help="register our strategies as NNI tuners (idempotent)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_register)

    ss = sub.add_parser("search-space", help="print a space's NNI search-space JSON")
    ss.add_argument("--space", default="nb201")
    ss.set_defaults(func=_search_space)

    d = sub.add_parser("demo", help="NB201 benchmark search under nnictl with the web UI")
    d.add_argument("--config", default=None, help="experiment config (default: the packaged nb201_evolution.yml)")
    d.add_argument("--port", type=_port, default=8080)
    d.add_argument("--timeout", type=_seconds, default=600.0, help="seconds to wait for the experiment")
    d.set_defaults(func=_demo)

    sub.add_parser("list", help="registered spaces, strategies and evaluators").set_defaults(func=_list)
    return parser


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before the work, not after it: every output file given (``--json``, ``--plot``, ``--journal``) must
    be a writable location (its folder is created if missing), each a different file, and a plot's suffix a
    format matplotlib writes."""
    given = {flag: getattr(args, flag) for flag in ("json", "plot", "journal") if getattr(args, flag, None)}
    paths: dict[Path, str] = {}
    for flag, value in given.items():
        resolved = Path(value).resolve()
        if resolved in paths:
            raise ValueError(f"--{paths[resolved]} and --{flag} name the same file {value}; give each its own")
        paths[resolved] = flag
    for flag, value in given.items():
        check_output_file(f"--{flag}", value)
    if "plot" in given:
        _check_plot_format(given["plot"])


def _check_plot_format(value: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    suffix = Path(value).suffix.lstrip(".").lower()
    if suffix not in formats:
        raise ValueError(f"--plot {value}: expected a file name ending in an image format "
                         f"({', '.join('.' + f for f in sorted(formats))}), e.g. out.png")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_outputs(args)
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"nni-effnas: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
