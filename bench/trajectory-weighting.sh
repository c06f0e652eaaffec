#!/usr/bin/env bash
# Trajectory weighting on a mixed dataset (issue 35, item 6; Hong et al. 2023, "Harnessing Mixed Offline RL Datasets
# via Trajectory Weighting"): FRACTION of hopper-medium's transitions (whole episodes) among all of hopper-random
# (`offrl dataset mix`), then TD3+BC and IQL with the uniform sampler and with the return-weighted one (the paper's
# temperature 0.1), SEEDS each. The paper's claim: on such data uniform sampling holds the policy near the random
# majority, weighted sampling exploits the few good episodes. Resumable across sessions like bench/full-budget.sh
# (checkpoints in WORK); finished runs are filed in OUT/runs and OUT/table.md is written from them.
#
#   CORES="0 1" nohup bash bench/trajectory-weighting.sh > weighting.log 2>&1 &
#
# Variables: ALGOS, SAMPLERS, SEEDS, STEPS, EVAL_EVERY, EPISODES, FRACTION, HIGH, LOW, CORES, OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
ALGOS=${ALGOS:-"td3bc iql"}
SAMPLERS=${SAMPLERS:-"uniform return_weighted"}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-50000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EPISODES=${EPISODES:-10}
FRACTION=${FRACTION:-0.05}
HIGH=${HIGH:-hopper-medium}
LOW=${LOW:-hopper-random}
OUT=${OUT:-bench/results/trajectory-weighting}
WORK=${WORK:-$HOME/.cache/offrl/trajectory-weighting}
export OUT WORK STEPS EVAL_EVERY EPISODES
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
export MIX="$WORK/$HIGH-${FRACTION}-$LOW.parquet"
[[ -s "$MIX" ]] || $OFFRL dataset mix "$HIGH" "$LOW" --fraction "$FRACTION" --seed 0 --out "$MIX"
$OFFRL dataset info "$MIX" | head -4

run_one() {
  local algo=$1 sampler=$2 seed=$3 core=$4
  local name="$algo-$sampler-seed$seed" dir="$WORK/$algo-$sampler-seed$seed"
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  local from=($(resume_args "$dir")) extra=()
  # IQL's locomotion protocol scales rewards by the dataset's return range (the authors' code)
  [[ $algo == iql ]] && extra=(--set reward_normalization=return_range)
  echo "$(date +%H:%M:%S) core $core: $name${from:+ (resumed)}"
  OFFRL_THREADS=1 taskset -c "$core" $OFFRL train --algo "$algo" --dataset "$MIX" --env hopper --set "sampler=$sampler" "${extra[@]}" \
    --seed "$seed" --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every 10000 \
    --out "$dir" "${from[@]}" --json >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
  file_run "$name" "$dir"
  echo "$(date +%H:%M:%S) done $name"
}
export -f run_one

jobs=()
for seed in $SEEDS; do for algo in $ALGOS; do for s in $SAMPLERS; do jobs+=("$algo $s $seed"); done; done; done
source bench/core-queues.sh
run_on_cores run_one "${jobs[@]}"
/usr/bin/python3 bench/reference/weighting_table.py "$OUT" "$HIGH" "$LOW" "$FRACTION"
