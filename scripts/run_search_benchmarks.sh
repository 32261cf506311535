#!/usr/bin/env bash
# The search benchmark of BENCHMARKS.md: 3 datasets x budgets 1.0 and 0.1, unconstrained and under the median
# parameter count, 100 seeds each. Writes bench-out/*.json and *.png, then prints the markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SEEDS=${SEEDS:-100}
mkdir -p bench-out
for ds in cifar10 cifar100 imagenet16; do
  for b in 1.0 0.1; do
    $BIN/nni-effnas bench search --space nb201 --dataset $ds --strategies random,evolution,nni-tpe,nni-evolution \
      --seeds $SEEDS --budget-frac $b --json bench-out/search-$ds-$b.json --plot bench-out/search-$ds-$b.png --quiet
    $BIN/nni-effnas bench search --space nb201 --dataset $ds --strategies random,evolution,nni-tpe,nni-evolution \
      --seeds $SEEDS --budget-frac $b --constraint 'params<=MEDIAN' \
      --json bench-out/search-$ds-$b-median.json --plot bench-out/search-$ds-$b-median.png --quiet
  done
done
$BIN/python scripts/bench_table.py bench-out/search-*.json
