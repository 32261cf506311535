#!/usr/bin/env bash
# The predictor-guided benchmarks of BENCHMARKS.md (issue 4). Writes bench-out/search-pred-*.json/png,
# bench-out/predictors-*.json/png and bench-out/latency.json.
#   PART=search|predictors|latency|all (default all)   DATASETS="cifar10 cifar100 imagenet16"
#   SEEDS=100  BUDGETS="0.1 1.0"  STRATEGIES=...  (the default list below)
#   CONSTRAINTS="both|none|median" (default both: unconstrained and params<=MEDIAN)
# Zero-cost scores (the bananas_zc row) are cached in bench-out/zerocost.sqlite, shared with
# scripts/run_proxy_benchmarks.sh; a cache hit is charged its recorded compute time.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SEEDS=${SEEDS:-100}
PART=${PART:-all}
DATASETS=${DATASETS:-cifar10 cifar100 imagenet16}
BUDGETS=${BUDGETS:-0.1 1.0}
CONSTRAINTS=${CONSTRAINTS:-both}
case $CONSTRAINTS in both) CS=("" "params<=MEDIAN");; none) CS=("");; median) CS=("params<=MEDIAN");;
  *) echo "CONSTRAINTS must be both, none or median, got $CONSTRAINTS" >&2; exit 2;; esac
STRATEGIES=${STRATEGIES:-regularized_evolution,nni_tpe,nni_evolution,optuna_tpe,optuna_gp,predictor_guided,pnas,reinforce,bananas_zc=predictor_guided,bananas_zc1000=predictor_guided,bananas_zc3000=predictor_guided}
CACHE=bench-out/zerocost.sqlite
ZC='{"proxies": "jacob_cov,params", "proxy_data": "fashion-mnist", "proxy_batch_size": 32, "model_kwargs": {"channels": 16, "num_cells": 1}, "cache": "'$CACHE'", "pool_size": 300}'
# session 21: bananas_zc1000, a 1,000-cell pool scored with synflow + jacob_cov + params, its best 20 trained first
# (best under a size constraint); bananas_zc3000, a 3,000-cell pool scored with synflow alone (best unconstrained)
ZC1000='{"proxies": "synflow,jacob_cov,params", "proxy_data": "fashion-mnist", "proxy_batch_size": 32, "model_kwargs": {"channels": 16, "num_cells": 1}, "cache": "'$CACHE'", "pool_size": 1000}'
ZC3000='{"proxies": "synflow", "proxy_data": "fashion-mnist", "proxy_batch_size": 32, "model_kwargs": {"channels": 16, "num_cells": 1}, "cache": "'$CACHE'", "pool_size": 3000}'
# --strategy-args may only name labels that STRATEGIES runs
ENTRIES=()
[[ ,$STRATEGIES, == *,bananas_zc=* ]] && ENTRIES+=('"bananas_zc": {"initial": 5, "acquisition": "ei", "zero_cost": '"$ZC"'}')
[[ ,$STRATEGIES, == *,bananas_zc1000=* ]] && ENTRIES+=('"bananas_zc1000": {"initial": 20, "acquisition": "ei", "zero_cost": '"$ZC1000"'}')
[[ ,$STRATEGIES, == *,bananas_zc3000=* ]] && ENTRIES+=('"bananas_zc3000": {"initial": 20, "acquisition": "ei", "zero_cost": '"$ZC3000"'}')
ARGS="{$(IFS=,; echo "${ENTRIES[*]}")}"
mkdir -p bench-out
if [[ $PART == all || $PART == search ]]; then
  for ds in $DATASETS; do
    for b in $BUDGETS; do
      for c in "${CS[@]}"; do
        tag=$ds-$b${c:+-median}
        $BIN/nni-effnas bench search --space nb201 --dataset $ds --budget-frac $b --seeds $SEEDS --quiet \
          --strategies "$STRATEGIES" --strategy-args "$ARGS" ${c:+--constraint "$c"} \
          --json bench-out/search-pred-$tag.json --plot bench-out/search-pred-$tag.png
      done
    done
  done
fi
if [[ $PART == all || $PART == predictors ]]; then
  for ds in $DATASETS; do
    $BIN/nni-effnas bench predictors --space nb201 --dataset $ds --train-sizes 20,50,100,200 --seeds 3 \
      --test-size 1000 --json bench-out/predictors-$ds.json --plot bench-out/predictors-$ds.png --quiet
  done
fi
if [[ $PART == all || $PART == latency ]]; then
  $BIN/nni-effnas bench latency --dataset cifar10 --observations 500 --steps 100 --quiet \
    --strategies predictor_guided,pnas,optuna_tpe,optuna_gp,reinforce,regularized_evolution --json bench-out/latency.json
fi
