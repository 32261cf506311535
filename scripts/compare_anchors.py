"""Compare `bench search` reports with the random / regularized-evolution baselines of shared/docs/anchors.md.

    python scripts/compare_anchors.py bench-out/search-*.json

A row is "within" when |ours - anchor| <= 2 x the standard error of the difference (both means over 100 seeds;
the anchor's SE is its std / 10).
"""
import json
import math
import sys
from pathlib import Path

from nni_effnas.report_io import nan_if_none

# (dataset, budget fraction, constrained to the median params?, strategy) -> (mean, std); shared/docs/anchors.md
ANCHORS = {
    ("cifar10", 1.0, False, "random"): (93.85, 0.25), ("cifar10", 1.0, False, "regularized_evolution"): (94.10, 0.25),
    ("cifar100", 1.0, False, "random"): (71.44, 0.91), ("cifar100", 1.0, False, "regularized_evolution"): (72.28, 0.84),
    ("imagenet16", 1.0, False, "random"): (45.08, 1.09), ("imagenet16", 1.0, False, "regularized_evolution"): (45.90, 0.74),
    ("cifar10", 0.1, False, "random"): (92.94, 0.79), ("cifar10", 0.1, False, "regularized_evolution"): (93.07, 0.69),
    ("cifar100", 0.1, False, "random"): (69.61, 1.55), ("cifar100", 0.1, False, "regularized_evolution"): (69.75, 1.49),
    ("imagenet16", 0.1, False, "random"): (42.95, 2.15), ("imagenet16", 0.1, False, "regularized_evolution"): (43.38, 1.70),
    ("cifar10", 1.0, True, "random"): (92.94, 0.40), ("cifar10", 1.0, True, "regularized_evolution"): (92.95, 0.39),
    ("cifar100", 1.0, True, "random"): (69.29, 0.74), ("cifar100", 1.0, True, "regularized_evolution"): (69.24, 0.78),
    ("imagenet16", 1.0, True, "random"): (42.12, 0.80), ("imagenet16", 1.0, True, "regularized_evolution"): (42.04, 0.89),
    ("cifar10", 0.1, True, "random"): (91.73, 1.09), ("cifar10", 0.1, True, "regularized_evolution"): (91.75, 1.07),
    ("cifar100", 0.1, True, "random"): (67.26, 1.67), ("cifar100", 0.1, True, "regularized_evolution"): (67.30, 1.58),
    ("imagenet16", 0.1, True, "random"): (39.45, 2.49), ("imagenet16", 0.1, True, "regularized_evolution"): (39.43, 2.39),
}


def main(paths: list[str]) -> None:
    print("| dataset | budget | constraint | strategy | ours | anchor | difference | 2 x SE | within |")
    print("|---|---|---|---|---|---|---|---|---|")
    for path in sorted(paths):
        report = json.loads(Path(path).read_text())
        dataset = report["benchmark"].split("/")[-1]
        constrained = report["constraint"] == "params<=MEDIAN"
        for name, stats in report["strategies"].items():
            anchor = ANCHORS.get((dataset, report["budget_frac"], constrained, name))
            if anchor is None:
                continue
            stats = {k: nan_if_none(stats[k]) for k in ("mean", "std", "sem")}  # strict JSON writes NaN as null
            diff = stats["mean"] - anchor[0]
            bound = 2 * math.sqrt(stats["sem"] ** 2 + (anchor[1] / math.sqrt(100)) ** 2)
            print(f"| {dataset} | {report['budget_frac']:g} | {report['constraint'] or '-'} | {name} "
                  f"| {stats['mean']:.2f} ± {stats['std']:.2f} | {anchor[0]:.2f} ± {anchor[1]:.2f} | {diff:+.2f} "
                  f"| {bound:.2f} | {'yes' if abs(diff) <= bound else 'no'} |")


if __name__ == "__main__":
    main(sys.argv[1:])
