#!/usr/bin/env bash
# Observation histories on the masked-velocity task (issue 36, item 6; Hong et al. 2024): TD3+BC and IQL (and BC) on
# pendulum-masked (pendulum with its angular velocity hidden, the dataset masked alike) with the last K observations
# as input, K in HISTORIES (stacked) and GRU_HISTORIES (read by a GRU per network; TD3+BC and IQL), against the same
# on full pendulum with K = 1 (what the hidden velocity costs). Each run is
# `offrl train ... --json`; results in $OUT/runs, the table in $OUT/table.md. Resumable: a finished run is skipped.
#
#   bash bench/histories.sh                                   # bench/results/histories
#   ALGOS=iql SEEDS="0 1" STEPS=5000 bash bench/histories.sh
#
# Variables: DATASET (a pendulum dataset), ALGOS, HISTORIES, GRU_HISTORIES, SEEDS, STEPS, EVAL_EVERY, EVAL_EPISODES, OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-pendulum-medium-expert}
ALGOS=${ALGOS:-"bc td3bc iql"}
HISTORIES=${HISTORIES:-"1 4"}
GRU_HISTORIES=${GRU_HISTORIES:-"4"}   # also read by a GRU per network (history_encoder gru)
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-10000}
EVAL_EVERY=${EVAL_EVERY:-2000}
EVAL_EPISODES=${EVAL_EPISODES:-20}
OUT=${OUT:-bench/results/histories}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-histories}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
source bench/train-run.sh
run() {   # env history algo seed [encoder]
  local encoder=${5:-stack}
  train_run "$1-h$2${encoder/stack/}-$3-seed$4" --algo "$3" --dataset "$DATASET" --env "$1" --history "$2" --seed "$4" --steps "$STEPS" \
    --eval-every "$EVAL_EVERY" --eval-episodes "$EVAL_EPISODES" --set "history_encoder=$encoder"
}
for algo in $ALGOS; do
  for seed in $SEEDS; do
    run pendulum 1 "$algo" "$seed"
    for k in $HISTORIES; do run pendulum-masked "$k" "$algo" "$seed"; done
    [[ $algo == bc ]] || for k in $GRU_HISTORIES; do run pendulum-masked "$k" "$algo" "$seed" gru; done   # BC builds no GRU
  done
done
/usr/bin/python3 - "$OUT" "$DATASET" <<'PY'
import csv, glob, json, os, statistics, sys
out, dataset = sys.argv[1:]
cells = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    r = json.load(open(f))
    rows = list(csv.DictReader(open(f[:-5] + ".metrics.csv")))
    last3 = statistics.mean(float(x["return_mean"]) for x in rows[-3:])
    key = (r["algo"], r["env"], r["config"]["History"], str(r["config"].get("HistoryEncoder", "stack")).lower())
    cells.setdefault(key, []).append((r["return_mean"], last3, r["seed"], r["commit"]))
fmt = lambda v: f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f} ({len(v)})" if len(v) > 1 else f"{v[0]:.1f} (1)"
lines = [f"Dataset {dataset}; return (mean ± sample std over seeds, number of seeds).", "",
         "| algorithm | environment | history | encoder | final return | mean of the last 3 evaluations | commits |", "| --- | --- | ---: | --- | ---: | ---: | --- |"]
for (algo, env, k, enc), v in sorted(cells.items()):
    lines.append(f"| {algo} | {env} | {k} | {enc} | {fmt([x[0] for x in v])} | {fmt([x[1] for x in v])} | {', '.join(sorted({x[3][:8] for x in v}))} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
