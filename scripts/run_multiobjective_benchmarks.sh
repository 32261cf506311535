#!/usr/bin/env bash
# The hardware-aware benchmarks of BENCHMARKS.md (issue 6). Writes bench-out/mo-*.json/png.
#   PART=pareto|constrained|all (default all)   DATASET=cifar10   SEEDS=30   BUDGET=0.1
#   OFFSET=0 (first seed; a run with OFFSET=10 SEEDS=20 adds seeds 10-29 to a 10-seed run: pool the two with
#   scripts/merge_multiobjective_reports.py)
#   DEVICES="..." (default: all 22 NB201 device settings, split over JOBS parallel processes)
#   JOBS=2   BOUND=MEDIAN (constrained mode)   CDEVICES="pixel2 fpga gold_6226 1080ti_1 samsung_a50"
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PART=${PART:-all}
DATASET=${DATASET:-cifar10}
SEEDS=${SEEDS:-30}
BUDGET=${BUDGET:-0.1}
OFFSET=${OFFSET:-0}
TAG=$DATASET-$BUDGET
[[ $OFFSET == 0 ]] || TAG+="-from$OFFSET"
JOBS=${JOBS:-2}
BOUND=${BOUND:-MEDIAN}
ALL="1080ti_1 1080ti_256 1080ti_32 2080ti_1 2080ti_256 2080ti_32 essential_ph_1 fpga gold_6226 gold_6240 pixel2 samsung_a50 samsung_s7 silver_4114 titan_rtx_1 titan_rtx_32 titanx_1 titanx_256 titanx_32 titanxp_1 titanxp_256 titanxp_32"
DEVICES=${DEVICES:-$ALL}
CDEVICES=${CDEVICES:-pixel2 fpga gold_6226 1080ti_1 samsung_a50}
export OMP_NUM_THREADS=1
mkdir -p bench-out
if [[ $PART == all || $PART == pareto ]]; then
  read -r -a devs <<< "$DEVICES"
  pids=()
  for ((j = 0; j < JOBS; j++)); do
    part=()
    for ((i = j; i < ${#devs[@]}; i += JOBS)); do part+=("${devs[i]}"); done
    list=$(IFS=,; echo "${part[*]}")
    $BIN/nni-effnas bench multiobjective --space nb201 --dataset "$DATASET" --device "$list" --seeds "$SEEDS" \
      --seed-offset "$OFFSET" --budget-frac "$BUDGET" --quiet --json "bench-out/mo-$TAG-part$j.json" \
      --plot "bench-out/mo-$TAG-part$j.png" > "bench-out/mo-$TAG-part$j.txt" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  $BIN/python scripts/merge_multiobjective_reports.py bench-out/mo-$TAG-part*.json \
    --json "bench-out/mo-$TAG.json" --plot "bench-out/mo-$TAG.png"
fi
if [[ $PART == all || $PART == constrained ]]; then
  list=$(echo $CDEVICES | tr ' ' ,)
  $BIN/nni-effnas bench multiobjective --space nb201 --dataset "$DATASET" --device "$list" --seeds "$SEEDS" \
    --seed-offset "$OFFSET" --budget-frac "$BUDGET" --latency-bound "$BOUND" --quiet \
    --json "bench-out/mo-constrained-$TAG.json" --plot "bench-out/mo-constrained-$TAG.png"
fi
