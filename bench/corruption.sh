#!/usr/bin/env bash
# RIQL against IQL on corrupted data (issue 36; Yang et al. 2024, "Towards Robust Offline RL under Diverse Data
# Corruption"): a dataset with 30% of its transitions corrupted at random (`offrl dataset corrupt`, scale 1:
# observations, actions, rewards, next observations = dynamics, in turn), IQL with CORL's preset and RIQL with the
# authors' preset plus RIQL_config.py's (huber_sigma, quantile, num_critics) for that corruption of that environment,
# SEEDS seeds each, and the clean data as the baseline. Results in $OUT/runs, the table (each score also as a share
# of the algorithm's clean score) in $OUT/table.md. Resumable: a finished run is skipped.
#
#   bash bench/corruption.sh                                                 # bench/results/corruption
#   DATASET_FILE=/tmp/offrl-parity-corl/halfcheetah-medium-replay.hdf5 TARGETS=Rewards SEEDS=0 STEPS=5000 bash bench/corruption.sh
#
# Variables: DATASET (preset name), DATASET_FILE (a D4RL-layout file of it: bench/parity.sh's), ENV, ALGOS, TARGETS,
# SEEDS, STEPS, EVAL_EVERY, EVAL_EPISODES, FRACTION, SCALE, OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-halfcheetah-medium-replay}
DATASET_FILE=${DATASET_FILE:-${TMPDIR:-/tmp}/offrl-parity-corl/$DATASET.hdf5}
ENV=${ENV:-${DATASET%%-*}}
ALGOS=${ALGOS:-"iql riql"}
TARGETS=${TARGETS:-"Observations Actions Rewards NextObservations"}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-20000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EVAL_EPISODES=${EVAL_EPISODES:-10}
FRACTION=${FRACTION:-0.3}
SCALE=${SCALE:-1}
OUT=${OUT:-bench/results/corruption}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-corruption}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
[[ -s $DATASET_FILE ]] || OFFRL_THREADS=2 $OFFRL dataset convert "$DATASET" "$DATASET_FILE"
# RIQL_config.py (YangRui2015/RIQL @cc07d81) L7-61, random corruption: huber_sigma quantile num_critics per environment
source bench/train-run.sh
riql_settings() {   # env target
  case "$1:$2" in
    halfcheetah:Observations) echo "0.1 0.1 5" ;; halfcheetah:Actions) echo "0.5 0.25 3" ;; halfcheetah:Rewards) echo "3.0 0.25 5" ;; halfcheetah:NextObservations) echo "3.0 0.25 5" ;;
    walker2d:Observations) echo "0.1 0.25 5" ;; walker2d:Actions) echo "0.5 0.1 5" ;; walker2d:Rewards) echo "3.0 0.1 5" ;; walker2d:NextObservations) echo "1.0 0.25 3" ;;
    hopper:Observations) echo "0.1 0.25 3" ;; hopper:Actions) echo "0.1 0.25 5" ;; hopper:Rewards) echo "1.0 0.25 3" ;; hopper:NextObservations) echo "1.0 0.5 5" ;;
    *) echo "1.0 0.25 5" ;;   # clean (RIQL.py L74-77)
  esac
}
run() {   # target algo seed
  local target=$1 algo=$2 seed=$3 name="$1-$2-seed$3" file
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  if [[ $target == clean ]]; then file=$DATASET_FILE; else
    file="$WORK/$target/$DATASET.parquet"   # named after the dataset: the presets key on it
    [[ -s $file ]] || { mkdir -p "$WORK/$target"; $OFFRL dataset corrupt "$DATASET_FILE" --target "$target" --fraction "$FRACTION" --scale "$SCALE" --seed 7 --out "$file" >&2; }
  fi
  local preset=corl extra=()
  if [[ $algo == riql ]]; then
    preset=authors
    read -r sigma quantile critics <<< "$(riql_settings "$ENV" "$target")"
    extra=(--set "huber_sigma=$sigma" --set "quantile=$quantile" --set "num_critics=$critics")
  fi
  train_run "$name" --algo "$algo" --dataset "$file" --env "$ENV" --preset "$preset" "${extra[@]}" --seed "$seed" \
    --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EVAL_EPISODES"
}
for seed in $SEEDS; do
  for target in clean $TARGETS; do for algo in $ALGOS; do run "$target" "$algo" "$seed"; done; done
done
/usr/bin/python3 - "$OUT" "$DATASET" "$FRACTION" "$SCALE" <<'PY'
import csv, glob, json, os, statistics, sys
out, dataset, fraction, scale = sys.argv[1:]
cells = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    r = json.load(open(f))
    target = os.path.basename(f).split("-")[0]
    rows = list(csv.DictReader(open(f[:-5] + ".metrics.csv")))
    last3 = statistics.mean(float(x["normalized_score"]) for x in rows[-3:])
    cells.setdefault((target, r["algo"]), []).append((r["normalized_score"], last3, r["commit"]))
fmt = lambda v: f"{statistics.mean(v):.1f} ± {statistics.stdev(v):.1f} ({len(v)})" if len(v) > 1 else f"{v[0]:.1f} (1)"
clean = {a: statistics.mean(x[1] for x in v) for (t, a), v in cells.items() if t == "clean"}
lines = [f"{dataset}, {float(fraction):.0%} of the transitions corrupted at random with scale {scale}; normalized score, mean ± sample std over seeds (seeds).", "",
         "| corrupted | algorithm | final | mean of the last 3 evaluations | share of its clean score (last 3) | commits |", "| --- | --- | ---: | ---: | ---: | --- |"]
order = ["clean", "Observations", "Actions", "Rewards", "NextObservations"]
for (t, a), v in sorted(cells.items(), key=lambda kv: (order.index(kv[0][0]) if kv[0][0] in order else 9, kv[0][1])):
    share = f"{statistics.mean(x[1] for x in v) / clean[a]:.0%}" if a in clean and clean[a] else "–"
    lines.append(f"| {t} | {a} | {fmt([x[0] for x in v])} | {fmt([x[1] for x in v])} | {share} | {', '.join(sorted({x[2][:8] for x in v}))} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
