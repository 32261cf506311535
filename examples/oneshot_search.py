"""Differentiable search on NAS-Bench-201: DARTS against its collapse fix FairDARTS, in-process.

    .venv/bin/python examples/oneshot_search.py            # a tiny search on scikit-learn's digits, under a minute
    .venv/bin/python examples/oneshot_search.py --data fashion-mnist --limit 2048 --epochs 6 --channels 8  # minutes
    .venv/bin/python examples/oneshot_search.py --methods darts,darts_pt   # DARTS-PT: ops picked by perturbation
    .venv/bin/python examples/oneshot_search.py --methods zc_pt            # Zero-Cost-PT: no supernet training

Each method trains the NB201 supernet (weights and architecture logits alternately), watched by the collapse
monitor (skip connections in the derived cell, alpha entropy, dominant Hessian eigenvalue); the derived cell is
then looked up in the shipped NAS-Bench-201 table (Zero-Cost-PT scores the untrained supernet with a zero-cost
proxy instead, so it has no monitor numbers): a transfer test of what was found on the small proxy task.
The full benchmark with every method and seeds is ``nni-effnas bench oneshot`` (docs/oneshot.md).
"""
from __future__ import annotations

import argparse
import logging

from nni_effnas.nb201 import load_table
from nni_effnas.oneshot import search_oneshot
from nni_effnas.oneshot.monitor import CollapseMonitor


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default="darts,fair_darts", help="registered one-shot methods, comma-separated")
    p.add_argument("--data", default="digits", help="digits (8x8, bundled) or fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None,
                   help="training images, halved into weight and architecture batches (default: all; Fashion-MNIST "
                        "has 60,000, an hour of CPU per method)")
    args = p.parse_args(argv)

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)  # no "GPU available" banners
    table = load_table()
    for method in args.methods.split(","):
        monitor = CollapseMonitor()  # per epoch: skip count, alpha entropy, dominant Hessian eigenvalue
        result = search_oneshot(space="nb201", method=method, dataset=args.data, epochs=args.epochs,
                                batch_size=32, model_kwargs={"channels": args.channels, "num_cells": 1},
                                seed=args.seed, limit=args.limit, callbacks=[monitor])
        acc = table.test_accuracies(result.arch)
        print(f"{method}: derived {result.arch}")
        skips = sum(op == "skip_connect" for op in result.sample.values())  # the final cell's (DARTS-PT's pick)
        if monitor.history:
            last = monitor.history[-1]
            print(f"  skip connections {skips}, alpha entropy {last['alpha_entropy']:.3f}, "
                  f"Hessian eigenvalue {last['hessian_eig']:.3g}, {result.seconds:.0f} s")
        else:  # Zero-Cost-PT: no training epochs to monitor
            print(f"  skip connections {skips}, {len(result.extra.get('candidates', []))} candidate cells scored "
                  f"by {result.extra['method_args'].get('proxy')}, {result.seconds:.0f} s")
        print("  NAS-Bench-201 200-epoch test accuracy: "
              + ", ".join(f"{ds} {v:.2f} %" for ds, v in acc.items()))


if __name__ == "__main__":
    main()
