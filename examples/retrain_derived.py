"""Retrain the architecture a one-shot trial derived: read ``derived.json`` (or take an arch string), build the
evaluation network with ``get_space(name).build(sample, ...)`` and train it from scratch with
:class:`nni_effnas.trials.train.TrainEvaluator`, printing the final validation accuracy.

    python examples/retrain_derived.py ~/nni-experiments/<exp>/trials/<trial>/derived.json --epochs 10
    python examples/retrain_derived.py --space nb201 --dataset digits \
        --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'

``derived.json`` is written by ``effnas-trial --evaluator oneshot`` (trials/configs/nb201_oneshot.yml) into the
trial's output directory. Network size: ``--channels`` and ``--cells`` (cells per stage; DARTS: ``layers = 3 *
cells``), see :func:`nni_effnas.trials.evaluators.model_size_kwargs`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nni_effnas.search_spaces import get_space
from nni_effnas.trials.evaluators import model_size_kwargs
from nni_effnas.trials.train import TrainEvaluator


def load_derived(args: argparse.Namespace) -> tuple[str, dict]:
    """(space name, sample) from a derived.json or from --space/--arch."""
    if args.derived is not None:
        record = json.loads(Path(args.derived).read_text())
        name = record["space"]
        space = get_space(name)
        sample = record.get("sample") or space.from_string(record["arch"])
        return name, space.categorical().validate(sample)
    if args.arch is None:
        raise SystemExit("retrain_derived: pass a derived.json or --arch")
    return args.space, get_space(args.space).from_string(args.arch)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("derived", nargs="?", help="derived.json of a one-shot trial")
    p.add_argument("--space", default="nb201", help="space of --arch")
    p.add_argument("--arch", help="architecture string (instead of derived.json)")
    p.add_argument("--dataset", default="digits", help="digits or fashion-mnist")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells", type=int, default=1, help="cells per stage")
    p.add_argument("--limit", type=int, default=None, help="cap on training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default=None, help="TensorBoard logs and model.pt (default: a temporary directory)")
    args = p.parse_args(argv)

    name, sample = load_derived(args)
    space = get_space(name)
    size = model_size_kwargs(name, channels=args.channels, cells=args.cells)

    def build(data):
        return space.build(sample, in_channels=data.in_channels, num_classes=data.num_classes, **size)

    trainer = TrainEvaluator(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
                             batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed, limit=args.limit,
                             out_dir=args.out_dir)
    metrics = trainer.evaluate(build, report=lambda m: print(f"epoch {m['epoch']}: val_acc {m['val_acc']:.2f}"))
    print(f"retrained {name} {space.to_string(sample)}")
    print(f"final val_acc {metrics['val_acc']:.2f} after {metrics['epochs']} epochs "
          f"({metrics['params_M']:.4f} M params; weights: {metrics['checkpoint']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
