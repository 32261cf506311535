"""Merge ``bench multiobjective`` reports of the same settings: different devices with the same seeds (parallel
jobs) are joined, consecutive seed ranges on the same devices (``--seed-offset``) are pooled."""
import argparse
import json

from nni_effnas import bench_multiobjective as bm
from nni_effnas.report_io import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("reports", nargs="+")
    parser.add_argument("--json", required=True)
    parser.add_argument("--plot")
    args = parser.parse_args()
    reports = []
    for path in args.reports:
        with open(path) as f:
            reports.append(json.load(f))
    try:
        merged = bm.merge_reports(reports)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}")
    print(bm.format_table(merged))
    save_json(merged, args.json)
    if args.plot:
        bm.plot(merged, args.plot)


if __name__ == "__main__":
    main()
