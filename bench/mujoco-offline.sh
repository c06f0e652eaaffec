#!/usr/bin/env bash
# D4RL-style offline benchmark on OffRL's own MuJoCo datasets (issue 4): for each ENV-KIND dataset, each algorithm and
# each seed, `offrl train ... --json`; then a table of normalized scores (mean ± std over seeds) next to the dataset's
# own average, in $OUT/table.md. Resumable: a run whose result file exists is skipped.
#
#   bash bench/mujoco-offline.sh                       # the full protocol: 1M steps, 3 seeds (days on 2 cores)
#   ENVS=hopper STEPS=20000 ALGOS="bc td3bc iql" JOBS=1 THREADS=1 bash bench/mujoco-offline.sh   # bench/results/mujoco (see its README)
#
# Each cell runs with its dataset's preset (PRESET, default corl: CORL's config for that dataset; PRESET= for OffRL's
# defaults). Variables: PRESET, ENVS, KINDS, ALGOS, SEEDS, STEPS, EVAL_EVERY, EVAL_EPISODES, JOBS (parallel runs; each gets
# OFFRL_THREADS=THREADS, default cores/JOBS), OUT (results), WORK (agents and logs; not kept), OFFRL_DATA (dataset cache).
set -euo pipefail
cd "$(dirname "$0")/.."
ENVS=${ENVS:-"hopper halfcheetah walker2d"}
KINDS=${KINDS:-"medium medium-replay"}
ALGOS=${ALGOS:-"bc td3bc iql cql"}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-1000000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EVAL_EPISODES=${EVAL_EPISODES:-10}
PRESET=${PRESET-corl}
JOBS=${JOBS:-1}
OUT=${OUT:-bench/results/mujoco}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-mujoco-runs}
THREADS=${THREADS:-$(( $(nproc) / JOBS ))}; (( THREADS < 1 )) && THREADS=1
export OUT WORK STEPS EVAL_EVERY EVAL_EPISODES PRESET
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"

# 1. Datasets: built on first use (SAC, dataset seed 0), one env per job; their statistics for the table.
for env in $ENVS; do echo "$env"; done | xargs -P "$JOBS" -I{} bash -c '
  for kind in '"$KINDS"'; do
    f="$OUT/dataset-{}-$kind.json"
    [[ -s "$f" ]] && continue
    OFFRL_THREADS='"$THREADS"' $OFFRL dataset info "{}-$kind" --json > "$WORK/dataset-{}-$kind.log" 2>&1 \
      || { echo "FAILED dataset {}-$kind (log: $WORK/dataset-{}-$kind.log)"; exit 0; }
    tail -n 1 "$WORK/dataset-{}-$kind.log" > "$f.tmp" && mv "$f.tmp" "$f"
  done'

# 2. Runs, JOBS at a time, in env / kind / seed / algo order so that a stopped run leaves whole rows.
for env in $ENVS; do for kind in $KINDS; do for seed in $SEEDS; do for algo in $ALGOS; do
  echo "$env-$kind $algo $seed"
done; done; done; done | xargs -P "$JOBS" -L 1 bash -c '
  name="$0-$1-seed$2"
  f="$OUT/runs/$name.json"
  [[ -s "$f" ]] && exit 0
  echo "$(date +%H:%M:%S) $name"
  OFFRL_THREADS='"$THREADS"' $OFFRL train --algo "$1" --dataset "$0" --seed "$2" --steps "$STEPS" \
    --eval-every "$EVAL_EVERY" --eval-episodes "$EVAL_EPISODES" ${PRESET:+--preset "$PRESET"} --out "$WORK/$name" --overwrite --json > "$WORK/$name.log" 2>&1 \
    || { echo "FAILED $name (log: $WORK/$name.log)"; exit 0; }
  cp "$WORK/$name/metrics.csv" "$OUT/runs/$name.metrics.csv"
  tail -n 1 "$WORK/$name.log" > "$f.tmp" && mv "$f.tmp" "$f"'

# 3. The table.
dotnet run -c Release --project bench/OffRL.Bench -- offline-table
