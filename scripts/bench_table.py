"""Print `bench search` JSON reports as markdown rows: mean ± std (sem) and archs evaluated, per strategy."""
import json
import sys
from pathlib import Path

from nni_effnas.report_io import nan_if_none


def main(paths: list[str]) -> None:
    reports = [json.loads(Path(p).read_text()) for p in sorted(paths)]
    print("| benchmark | budget | constraint | strategy | mean ± std | sem | median | archs evaluated | ceiling |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in reports:
        for name, s in r["strategies"].items():
            s = {k: nan_if_none(s[k]) for k in ("mean", "std", "sem", "median", "evaluated_mean")}  # NaN is null
            print(f"| {r['benchmark']} | {r['budget_frac']:g} | {r['constraint'] or '-'} | {name} | "
                  f"{s['mean']:.2f} ± {s['std']:.2f} | {s['sem']:.3f} | {s['median']:.2f} | "
                  f"{s['evaluated_mean']:.1f} | {r['ceiling']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
