#!/usr/bin/env bash
# Full-budget runs (issue 34): CORL's protocol, 1M gradient steps with an evaluation (10 episodes) every 5 000, OffRL
# with `--preset corl` on each CELL (ALGO:DATASET) and SEED. Long (about an hour and a half a run on one core): run it in
# the background. Resumable across sessions: each run checkpoints every CHECKPOINT_EVERY steps into WORK (outside the
# repository) and a rerun continues from there; a finished run's curve (metrics.csv) and its --json line are filed in
# OUT/runs, and OUT/table.md is written from them.
#
#   nohup bash bench/full-budget.sh > full-budget.log 2>&1 &
#   CELLS="td3bc:hopper-medium" CORES=1 bash bench/full-budget.sh
#
# Variables: CELLS, SEEDS, STEPS, EVAL_EVERY, EPISODES, CHECKPOINT_EVERY, CORES (one queue per core, pinned, one thread
# per run), OUT, WORK, OFFRL_DATA (the built-in datasets' cache).
set -euo pipefail
cd "$(dirname "$0")/.."
CELLS=${CELLS:-"td3bc:hopper-medium iql:hopper-medium td3bc:halfcheetah-medium-replay iql:halfcheetah-medium-replay"}
SEEDS=${SEEDS:-0}
STEPS=${STEPS:-1000000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EPISODES=${EPISODES:-10}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-25000}
OUT=${OUT:-bench/results/full-budget}
WORK=${WORK:-$HOME/.cache/offrl/full-budget}
export OUT WORK STEPS EVAL_EVERY EPISODES CHECKPOINT_EVERY
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"

run_one() {
  local algo=$1 ds=$2 seed=$3 core=$4
  local name="$algo-$ds-seed$seed" dir="$WORK/$algo-$ds-seed$seed"
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  # a checkpoint from an earlier session: continue from it (its metrics after the checkpoint's step are dropped)
  local from=($(resume_args "$dir"))
  echo "$(date +%H:%M:%S) core $core: $name${from:+ (resumed)}"
  OFFRL_THREADS=1 taskset -c "$core" $OFFRL train --algo "$algo" --dataset "$ds" --preset corl --seed "$seed" --steps "$STEPS" \
    --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every "$CHECKPOINT_EVERY" --out "$dir" "${from[@]}" --json \
    >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
  file_run "$name" "$dir"
  echo "$(date +%H:%M:%S) done $name"
}
export -f run_one

jobs=()
for cell in $CELLS; do for seed in $SEEDS; do jobs+=("${cell%%:*} ${cell#*:} $seed"); done; done
source bench/core-queues.sh
run_on_cores run_one "${jobs[@]}"
/usr/bin/python3 bench/reference/full_budget_table.py "$OUT"
