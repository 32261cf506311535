"""``effnas-trial``: the trial command of NNI experiments, and a standalone evaluator.

Under NNI (``trialCommand: effnas-trial --space nb201 --evaluator benchmark``) it reads the sample from
``nni.get_next_parameter()``, evaluates it, sends intermediate results and the final metric dict (``default``
plus named metrics and the sample itself) to NNI. Standalone it takes ``--arch`` / ``--index`` / ``--sample``
and prints the metric dict as JSON. The ``oneshot`` evaluator runs a whole differentiable search per trial: its
input is the trial's parameters (``{"method": "gdas", "seed": 1, ...}`` from NNI, or ``--params`` / ``--method``
and ``--seed`` standalone) rather than a sample. Bad input exits with status 2 and one line naming the bad value; an
evaluation whose ``default`` is not a finite number (e.g. a zero-cost proxy undefined for the network) exits
with status 1 and one line, reporting nothing; any other failing evaluation exits non-zero. NNI then marks the
trial FAILED and the search goes on.

Every evaluator but ``oneshot`` also reports ``latency_ms``, ``flops_M`` and ``params_M`` (hardware-aware search:
``benchmark`` reads the latency of ``--device`` from the table, for CIFAR-10 and CIFAR-100 only: the tables are
for 32x32 inputs; ``train`` and ``zero-cost`` measure the built
network here, with ``--latency-batch-size``, ``--latency-threads``, ``--latency-warmup`` and
``--latency-repeats``; see ``docs/hardware-aware-nni.md``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from typing import Any, Sequence

from nni_effnas.checks import count_arg
from nni_effnas.search_spaces import SPACES, SearchSpace, get_space
from nni_effnas.trials.evaluators import EVALUATORS, create_evaluator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="effnas-trial", description="Evaluate one architecture (an NNI trial).")
    p.add_argument("--space", default="nb201", help=f"search space ({', '.join(SPACES.names())})")
    p.add_argument("--evaluator", default="benchmark", help=f"evaluator ({', '.join(EVALUATORS.names())})")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--arch", help="architecture string of the space (standalone use)")
    which.add_argument("--index", type=int, help="NAS-Bench-201 index (standalone use)")
    which.add_argument("--sample", help="sample as a JSON dict (standalone use)")
    p.add_argument("--dataset", default=None,
                   help="benchmark, zero-cost: cifar10|cifar100|imagenet16; train: digits|fashion-mnist")
    p.add_argument("--device", default=None,
                   help="benchmark: the table's latency device reported as latency_ms (default pixel2); zero-cost: "
                        "torch device (default cpu)")
    p.add_argument("--epochs", type=int, default=3, help="train: epochs")
    p.add_argument("--batch-size", type=int, default=64, help="train: batch size")
    p.add_argument("--lr", type=float, default=0.05, help="train: learning rate")
    p.add_argument("--channels", type=int, default=16, help="train, zero-cost: channels of the first stage")
    p.add_argument("--cells", type=int, default=None,
                   help="train, zero-cost: cells per stage (default: train 1; zero-cost 5, the NB201 network)")
    p.add_argument("--limit", type=int, default=None, help="train: cap on training examples")
    p.add_argument("--data-dir", default=None, help="train: directory of the dataset files")
    p.add_argument("--out-dir", default=None,
                   help="train: directory for TensorBoard logs and the checkpoint (under NNI: the trial's output dir)")
    p.add_argument("--proxies", default="synflow",
                   help="zero-cost: comma-separated proxies, all reported; the first is the reward 'default'")
    p.add_argument("--proxy-data", default="noise", help="zero-cost: proxy batch source (noise, fashion-mnist, digits)")
    p.add_argument("--zc-batch-size", type=int, default=64, help="zero-cost: proxy batch size")
    p.add_argument("--cache", default=None,
                   help="zero-cost: score cache file (default $NNI_EFFNAS_CACHE or "
                        "~/.cache/nni-effnas/zerocost.sqlite; 'none' disables)")
    p.add_argument("--seed", type=count_arg, default=0,
                   help="train: training seed; zero-cost: weights and proxy batch seed; oneshot: search seed "
                        "(a 'seed' trial parameter overrides it)")
    p.add_argument("--method", default="darts",
                   help="oneshot: one-shot method key (a 'method' trial parameter overrides it)")
    p.add_argument("--params", default=None,
                   help='oneshot, standalone: trial parameters as a JSON dict, e.g. \'{"method": "gdas", "seed": 1, '
                        '"tau_max": 5}\'')
    p.add_argument("--val-limit", type=int, default=2000, help="oneshot: held-out images measuring the supernet")
    p.add_argument("--hessian", action="store_true",
                   help="oneshot: report the dominant Hessian eigenvalue of the architecture loss (slower)")
    p.add_argument("--latency-batch-size", type=int, default=None,
                   help="train, zero-cost: batch of the latency runs (default 1)")
    p.add_argument("--latency-threads", type=int, default=None,
                   help="train, zero-cost: CPU threads of the latency runs (default 1)")
    p.add_argument("--latency-warmup", type=int, default=None,
                   help="train, zero-cost: untimed runs before timing (default 5)")
    p.add_argument("--latency-repeats", type=int, default=None,
                   help="train, zero-cost: timed runs, latency_ms is their median (default 20; 0: no latency)")
    return p


def latency_kwargs(args: argparse.Namespace) -> dict[str, int]:
    """The ``--latency-*`` flags given (the evaluator's defaults, :class:`LatencySettings`, for the others)."""
    names = ("batch_size", "threads", "warmup", "repeats")
    return {f"latency_{n}": getattr(args, f"latency_{n}") for n in names if getattr(args, f"latency_{n}") is not None}


def evaluator_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    name = EVALUATORS.canonical(args.evaluator)
    if name == "benchmark":
        return {"dataset": args.dataset or "cifar10", "device": args.device or "pixel2"}
    if name == "train":
        return {"dataset": args.dataset or "digits", "data_dir": args.data_dir, "epochs": args.epochs,
                "batch_size": args.batch_size, "learning_rate": args.lr, "seed": args.seed,
                "channels": args.channels, "num_cells": 1 if args.cells is None else args.cells, "limit": args.limit,
                "out_dir": args.out_dir or os.environ.get("NNI_OUTPUT_DIR"), **latency_kwargs(args)}
    if name == "zero-cost":
        return {"dataset": args.dataset or "cifar10", "proxies": args.proxies, "proxy_data": args.proxy_data,
                "batch_size": args.zc_batch_size, "seed": args.seed, "channels": args.channels,
                "num_cells": 5 if args.cells is None else args.cells, "cache": args.cache,
                "device": args.device or "cpu", **latency_kwargs(args)}
    if name == "oneshot":
        return {"dataset": args.dataset or "digits", "data_dir": args.data_dir, "epochs": args.epochs,
                "batch_size": args.batch_size, "channels": args.channels,
                "num_cells": 1 if args.cells is None else args.cells, "limit": args.limit,
                "val_limit": args.val_limit, "hessian": args.hessian, "method": args.method, "seed": args.seed,
                "out_dir": args.out_dir or os.environ.get("NNI_OUTPUT_DIR")}
    return {}


def standalone_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The trial parameters of a parameter-driven evaluator (``oneshot``) outside NNI: ``--params`` or ``{}``
    (the evaluator then uses ``--method`` and ``--seed``)."""
    if args.arch is not None or args.index is not None or args.sample is not None:
        raise ValueError(f"evaluator {args.evaluator!r} takes trial parameters (--params, --method, --seed), "
                         "not an architecture")
    if args.params is None:
        return {}
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError:
        raise ValueError(f"--params {args.params!r} is not a JSON dict") from None
    if not isinstance(params, dict):
        raise ValueError(f"--params {args.params!r} is not a JSON dict")
    return params


def standalone_sample(args: argparse.Namespace, space: SearchSpace) -> dict[str, Any]:
    if args.arch is not None:
        return space.from_string(args.arch)
    if args.index is not None:
        if not hasattr(space, "from_index"):
            raise ValueError(f"space {space.name!r} has no benchmark index; use --arch")
        return space.from_index(args.index)
    if args.sample is not None:
        try:
            return space.categorical().validate(json.loads(args.sample))
        except json.JSONDecodeError:
            raise ValueError(f"--sample {args.sample!r} is not a JSON dict") from None
    raise ValueError("outside NNI, pass --arch, --index or --sample")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import nni

    from nni_effnas import compat

    space = get_space(args.space)
    evaluator = create_evaluator(args.evaluator, **evaluator_kwargs(args))
    under_nni = nni.get_trial_id() != "STANDALONE"
    if evaluator.takes == "parameters":
        sample = compat.next_trial_parameters() if under_nni else standalone_parameters(args)
        report = nni.report_intermediate_result if under_nni else None
    elif under_nni:
        sample = space.categorical().validate(compat.next_trial_parameters())
        report = nni.report_intermediate_result
    else:
        sample = standalone_sample(args, space)
        report = None
    metrics = evaluator.evaluate(sample, space=space, report=report)
    reward = metrics.get("default")
    if not isinstance(reward, (int, float)) or not math.isfinite(reward):
        where = f" for {metrics['arch']}" if isinstance(metrics.get("arch"), str) else ""
        raise FloatingPointError(f"metric 'default' is {reward!r}{where}, expected a finite number")
    if under_nni:
        nni.report_final_result(metrics)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        metrics = run(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"effnas-trial: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # the evaluation gave no usable reward: a failed trial, not bad input
        print(f"effnas-trial: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
