"""``nni-effnas``: the command line.

    nni-effnas bench query  --space nb201 --arch ARCH_STR | --index N --dataset cifar10
    nni-effnas bench search --space nb201 --dataset cifar10 --strategies random,evolution --seeds 100 ...
    nni-effnas register            register our strategies as NNI tuners (nnictl algo register; idempotent)
    nni-effnas search-space        print a space's NNI search-space JSON
    nni-effnas demo                the NB201 benchmark search under nnictl, with the web UI
    nni-effnas list                registered spaces, strategies and evaluators
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


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
        if not args.budget_s:
            raise ValueError("--table needs --budget-s (the 100 %% budget in seconds)")
        bench = TabularBenchmark.from_csv(args.table, arch_columns=[c for c in args.arch_columns.split(",") if c],
                                          reward=args.reward_column, cost=args.cost_column,
                                          reported=args.reported_column, budget_s=args.budget_s)
    else:
        if args.space.lower() != "nb201":
            raise ValueError(f"no tabular benchmark for space {args.space!r}; expected nb201 (or pass --table)")
        bench = TabularBenchmark.nb201(args.dataset)
        if args.budget_s:
            bench.budget_s = args.budget_s
    constraint = Constraint.parse(args.constraint) if args.constraint else None
    strategies = [s for s in args.strategies.split(",") if s]
    for name in strategies:
        STRATEGIES.canonical(name)
    progress = _progress_bar(len(strategies) * args.seeds, disable=args.quiet)
    report = bench_search.run_benchmark(bench, strategies, seeds=args.seeds, budget_frac=args.budget_frac,
                                        constraint=constraint, seed_offset=args.seed_offset, progress=progress.update)
    progress.close()
    print(bench_search.format_table(report))
    if args.json:
        bench_search.save_json(report, args.json)
        print(f"wrote {args.json}")
    if args.plot:
        bench_search.plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _progress_bar(total: int, *, disable: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="search runs", unit="run", disable=disable, file=sys.stderr)


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
    from nni_effnas.trials.evaluators import EVALUATORS

    for title, registry in (("spaces", SPACES), ("strategies", STRATEGIES), ("evaluators", EVALUATORS)):
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
    s.add_argument("--strategies", default="random,regularized_evolution")
    s.add_argument("--seeds", type=int, default=100)
    s.add_argument("--seed-offset", type=int, default=0)
    s.add_argument("--budget-frac", type=float, default=1.0, help="fraction of the protocol's time budget")
    s.add_argument("--budget-s", type=float, default=None, help="100 %% budget in seconds (overrides the protocol's)")
    s.add_argument("--constraint", help="e.g. params<=0.344, params<=MEDIAN, latency:pixel2<=13")
    s.add_argument("--table", help="a user tabular benchmark (CSV) instead of NB201")
    s.add_argument("--arch-columns", default="", help="--table: comma-separated categorical architecture columns")
    s.add_argument("--reward-column", default="reward", help="--table: the reward column (higher is better)")
    s.add_argument("--cost-column", default="cost", help="--table: the simulated cost column (seconds)")
    s.add_argument("--reported-column", default="reported", help="--table: the column reported for the best-reward row")
    s.add_argument("--json", help="write the full report here")
    s.add_argument("--plot", help="write the anytime plot (PNG) here")
    s.add_argument("--list-strategies", action="store_true", help="print the registered strategies, one a line")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_bench_search)

    r = sub.add_parser("register", help="register our strategies as NNI tuners (idempotent)")
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=_register)

    ss = sub.add_parser("search-space", help="print a space's NNI search-space JSON")
    ss.add_argument("--space", default="nb201")
    ss.set_defaults(func=_search_space)

    d = sub.add_parser("demo", help="NB201 benchmark search under nnictl with the web UI")
    d.add_argument("--config", default=None, help="experiment config (default: the packaged nb201_evolution.yml)")
    d.add_argument("--port", type=int, default=8080)
    d.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the experiment")
    d.set_defaults(func=_demo)

    sub.add_parser("list", help="registered spaces, strategies and evaluators").set_defaults(func=_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"nni-effnas: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
