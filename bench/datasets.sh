#!/usr/bin/env bash
# Recipe datasets beside D4RL v2's (issue 34): builds the named datasets (OffRL's SAC; long: run it in the background;
# it skips what the cache holds, and a recipe with search checkpoints (walker2d) goes on from its last one) and writes
# bench/results/datasets/table.md with, per dataset, transitions, episodes, return mean/std, mean length and the
# normalized score of the mean return, next to D4RL v2's.
#
#   nohup bash bench/datasets.sh > datasets.log 2>&1 &
#   DATASETS="hopper-medium hopper-medium-replay" bash bench/datasets.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=${DATASETS:-"hopper-medium hopper-medium-replay halfcheetah-medium halfcheetah-medium-replay walker2d-medium walker2d-medium-replay"}
OUT=${OUT:-bench/results/datasets}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-datasets}
mkdir -p "$OUT/info" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
for ds in $DATASETS; do
  [[ -s "$OUT/info/$ds.json" ]] && continue
  echo "$(date +%H:%M:%S) $ds"
  $OFFRL dataset info "$ds" --json 2>>"$WORK/$ds.build.log" | tail -n 1 > "$OUT/info/$ds.json.tmp" && mv "$OUT/info/$ds.json.tmp" "$OUT/info/$ds.json"
  cp "$WORK/$ds.build.log" "$OUT/info/$ds.build.log" 2>/dev/null || true
done
/usr/bin/python3 bench/reference/dataset_table.py "$OUT"
