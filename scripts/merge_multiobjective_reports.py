"""Merge ``bench multiobjective`` reports of the same settings run on disjoint device lists (parallel jobs)."""
import argparse
import json

from nni_effnas import bench_multiobjective as bm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--json", required=True)
    parser.add_argument("--plot")
    args = parser.parse_args()
    merged = None
    for path in args.reports:
        report = json.load(open(path))
        if merged is None:
            merged = report
            continue
        for key in ("benchmark", "mode", "budget_frac", "seeds", "strategies"):
            if report[key] != merged[key]:
                raise SystemExit(f"{path}: {key} {report[key]!r} differs from {merged[key]!r}")
        merged["devices"].update(report["devices"])
    merged["devices"] = dict(sorted(merged["devices"].items()))
    print(bm.format_table(merged))
    bm.save_json(merged, args.json)
    if args.plot:
        bm.plot(merged, args.plot)


if __name__ == "__main__":
    main()
