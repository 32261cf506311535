"""Build nni_effnas/data/nb201.npz, the offline NAS-Bench-201 table shipped with the package.

Reads ``nb201-master/nb201_master.csv`` from the shared data folder (see its PROVENANCE.md) and
writes a compressed NumPy archive of plain numeric arrays (loadable with ``allow_pickle=False``):

* ``ops``  uint8 [15625, 6]: op id per edge in the official edge order
  (0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3), ids index ``OPS`` below.
* ``{dataset}__{column}`` float32 [15625] for dataset in cifar10, cifar100, imagenet16 and column in
  test_acc_200ep, valid_acc_200ep, valid_acc_12ep, cost_12ep_s, params_M.
* ``latency__{device}`` float32 [15625]: measured latency in ms (HELP, NeurIPS 2021).

Protocol (``shared/docs/anchors.md``): CIFAR-10 uses the measured hp=12 cifar10-valid validation
accuracy and cost; CIFAR-100 and ImageNet16-120 use the 12-epoch x-valid accuracy and
12/200 x the 200-epoch training time.

Usage: python scripts/build_nb201_table.py [--data ../shared/data] [--out nni_effnas/data/nb201.npz]
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

COLUMNS = {
    "cifar10": {
        "test_acc_200ep": "cifar10_test_acc_200ep",
        "valid_acc_200ep": "cifar10valid_valid_acc_mean",
        "valid_acc_12ep": "cifar10valid_valid_acc_12ep",
        "cost_12ep_s": "cifar10valid_cost_12ep_s",
        "params_M": "cifar10_params_M",
    },
    "cifar100": {
        "test_acc_200ep": "cifar100_test_acc_200ep",
        "valid_acc_200ep": "cifar100_valtest_acc_mean",
        "valid_acc_12ep": "mini_cifar100_xvalid_acc_12ep",
        "cost_12ep_s": ("cifar100_train_time_200ep_s", 12 / 200),
        "params_M": "cifar100_params_M",
    },
    "imagenet16": {
        "test_acc_200ep": "imagenet16_test_acc_200ep",
        "valid_acc_200ep": "imagenet16_valtest_acc_mean",
        "valid_acc_12ep": "mini_imagenet16_xvalid_acc_12ep",
        "cost_12ep_s": ("imagenet16_train_time_200ep_s", 12 / 200),
        "params_M": "imagenet16_params_M",
    },
}


def parse_arch(arch: str) -> list[int]:
    ops = [tok.split("~")[0] for node in arch.strip("|").split("|+|") for tok in node.split("|")]
    return [OPS.index(op) for op in ops]


def build(csv_path: Path, out: Path) -> None:
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    rows.sort(key=lambda r: int(r["nb201_index"]))
    if [int(r["nb201_index"]) for r in rows] != list(range(15625)):
        sys.exit(f"error: {csv_path} does not hold indices 0..15624 exactly once")
    arrays: dict[str, np.ndarray] = {"ops": np.array([parse_arch(r["arch_str"]) for r in rows], dtype=np.uint8)}
    for dataset, columns in COLUMNS.items():
        for name, source in columns.items():
            column, scale = source if isinstance(source, tuple) else (source, 1.0)
            arrays[f"{dataset}__{name}"] = np.array([float(r[column]) * scale for r in rows], dtype=np.float32)
    for column in sorted(c for c in rows[0] if c.startswith("lat_")):
        arrays[f"latency__{column[4:]}"] = np.array([float(r[column]) for r in rows], dtype=np.float32)
    for key, value in arrays.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            sys.exit(f"error: column {key} has non-finite values")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {len(arrays)} arrays)")


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=root / "nni_effnas" / "data" / "nb201.npz")
    args = parser.parse_args()
    csv_path = args.data / "nb201-master" / "nb201_master.csv"
    if not csv_path.is_file():
        sys.exit(f"error: {csv_path} not found; pass --data pointing at the shared data folder")
    build(csv_path, args.out)


if __name__ == "__main__":
    main()
