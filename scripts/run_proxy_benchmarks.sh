#!/usr/bin/env bash
# The zero-cost benchmarks of BENCHMARKS.md. Writes bench-out/proxies-*.json/png, bench-out/search-zc-*.json/png.
# Scores are cached in bench-out/zerocost.sqlite (a rerun reads them back; the searches are charged their
# recorded compute either way). PART=proxies or PART=search runs one half; DATASETS="cifar10" a subset;
# SEEDS=N the number of search seeds (default 100).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SEEDS=${SEEDS:-100}
PART=${PART:-all}
DATASETS=${DATASETS:-cifar10 cifar100 imagenet16}
CACHE=bench-out/zerocost.sqlite
mkdir -p bench-out
P="$BIN/nni-effnas bench proxies --sample 1000 --seed 0 --cache $CACHE --quiet"
if [[ $PART == all || $PART == proxies ]]; then
  for ds in $DATASETS; do
    # the benchmark's own network (C=16, N=5) for the cheap proxies: the published setting
    $P --dataset $ds --proxies synflow,params,flops --ensembles '' --proxy-data noise --batch-size 32 \
       --json bench-out/proxies-$ds-n5.json --plot bench-out/proxies-$ds-n5.png
    # a one-cell-per-stage network (C=16, N=1) for the data-dependent proxies, on Fashion-MNIST stand-in data
    $P --dataset $ds --num-cells 1 --proxies synflow,jacob_cov,nwot,params,flops --proxy-data fashion-mnist \
       --batch-size 32 --ensembles synflow+jacob_cov+nwot,jacob_cov+params,nwot+jacob_cov,jacob_cov+nwot+params \
       --json bench-out/proxies-$ds-n1-fmnist.json --plot bench-out/proxies-$ds-n1-fmnist.png
  done
  if [[ " $DATASETS " == *" cifar10 "* ]]; then
    # CIFAR-10 ranked against the cifar10-valid setting's accuracy, the ground truth of Abdelfattah et al.'s
    # published figures (the scores are the cached ones of the first run above)
    $P --dataset cifar10 --proxies synflow,params,flops --ensembles '' --proxy-data noise --batch-size 32 \
       --truth valid --json bench-out/proxies-cifar10-n5-valid.json --plot bench-out/proxies-cifar10-n5-valid.png
  fi
  # every proxy, and noise against Fashion-MNIST, on 200 CIFAR-10 cells
  for data in fashion-mnist noise; do
    $BIN/nni-effnas bench proxies --sample 200 --seed 0 --cache $CACHE --quiet --dataset cifar10 --num-cells 1 \
       --proxy-data $data --batch-size 32 --json bench-out/proxies-cifar10-n1-$data-all.json \
       --plot bench-out/proxies-cifar10-n1-$data-all.png
  done
fi
if [[ $PART == all || $PART == search ]]; then
  ZC='{"proxies": "jacob_cov,params", "proxy_data": "fashion-mnist", "proxy_batch_size": 32, "model_kwargs": {"channels": 16, "num_cells": 1}, "cache": "'$CACHE'"}'
  ARGS=$($BIN/python - "$ZC" <<'PY'
import json, sys
zc = json.loads(sys.argv[1])
print(json.dumps({"zero_cost_warmup": {**zc, "pool_size": 100, "warmup": 10},
                  "zero_cost_pruning": {**zc, "pool_size": 100, "keep": 0.2},
                  "zero_cost_evolution": zc,
                  "zc_warmup_move": {**zc, "pool_size": 100, "warmup": 10, "base": "zero_cost_evolution",
                                     "base_args": zc}}))
PY
)
  for ds in $DATASETS; do
    for c in "" "params<=MEDIAN"; do
      tag=$ds-0.1${c:+-median}
      $BIN/nni-effnas bench search --space nb201 --dataset $ds --budget-frac 0.1 --seeds $SEEDS --quiet \
        --strategies regularized_evolution,zero_cost_warmup,zero_cost_pruning,zero_cost_evolution,zc_warmup_move=zero_cost_warmup \
        --strategy-args "$ARGS" \
        ${c:+--constraint "$c"} --json bench-out/search-zc-$tag.json --plot bench-out/search-zc-$tag.png
    done
  done
fi
