#!/usr/bin/env bash
# H2O's pattern (issue 38): with a limited real dataset and a simulator whose dynamics differ, H2O (both) against the
# simulator alone (SAC trained in SIM_ENV, judged in the real ENV: --eval-env) and the real data alone (an offline
# method on the dataset, REAL_ALGO, default IQL). Every arm evaluated in the real environment on the same episode seeds.
#
#   DATASET=pendulum-medium-replay ENV=pendulum SIM_ENV=pendulum:g=2 STEPS=20000 SEEDS='0 1 2' bash bench/h2o-patterns.sh
#
# Writes OUT/runs/ARM-seedS.json (the run's --json line) and OUT/runs/ARM-seedS.metrics.csv, then OUT/table.md (the mean
# of each run's last 3 evaluations and its final one, over seeds) and OUT/curves.svg. Resumable: a finished run is not
# run again; a stopped one goes on from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-pendulum-medium-replay}
ENV=${ENV:-pendulum}
SIM_ENV=${SIM_ENV:-pendulum:g=2}
REAL_ALGO=${REAL_ALGO:-iql}
STEPS=${STEPS:-20000}
EVAL_EVERY=${EVAL_EVERY:-2000}
EPISODES=${EPISODES:-10}
SEEDS=${SEEDS:-"0 1 2"}
ARMS=${ARMS:-"h2o sim-only real-only"}
OUT=${OUT:-bench/results/h2o}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-h2o}
export OUT WORK DATASET ENV SIM_ENV REAL_ALGO STEPS EVAL_EVERY EPISODES
mkdir -p "$OUT/runs" "$WORK"
# KEEP_BIN=1 goes on with the build already in WORK/bin: a campaign resumed after the code changed keeps every run of a
# cell on one build (the tables refuse runs of different builds)
[[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
source bench/core-queues.sh

run_one() {
  local arm=$1 seed=$2 core=$3
  local args
  case $arm in
    h2o) args=(--algo h2o --dataset "$DATASET" --env "$ENV" --sim-env "$SIM_ENV") ;;
    sim-only) args=(--algo sac --env "$SIM_ENV" --eval-env "$ENV") ;;
    real-only) args=(--algo "$REAL_ALGO" --dataset "$DATASET" --env "$ENV") ;;
    *) echo "ARMS: unknown arm '$arm' (h2o, sim-only, real-only)" >&2; return 0 ;;
  esac
  train_run "$arm-seed$seed" "$core" "${args[@]}" --seed "$seed" --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" \
    --checkpoint-every "$EVAL_EVERY"
}
export -f run_one resume_args file_run train_run cli_run

jobs=()
for seed in $SEEDS; do for arm in $ARMS; do jobs+=("$arm $seed"); done; done
run_on_cores run_one "${jobs[@]}"

/usr/bin/python3 - "$OUT" <<'PY'
import csv, glob, json, os, statistics, sys
sys.path.insert(0, "bench/reference")
import svg_curves
out = sys.argv[1]
arms = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.metrics.csv"))):
    arm = os.path.basename(f).rsplit("-seed", 1)[0]
    rows = list(csv.DictReader(open(f)))
    steps, ret = [int(r["step"]) for r in rows], [float(r["return_mean"]) for r in rows]
    arms.setdefault(arm, []).append((steps, ret))
fmt = lambda xs: f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.1f} ({len(xs)})"
env, sim = os.environ["ENV"], os.environ["SIM_ENV"]
lines = [f"| arm | how | return in {env}, last 3 evaluations | final |", "| --- | --- | ---: | ---: |"]
how = {"h2o": f"`offrl train --algo h2o --dataset {os.environ['DATASET']} --env {env} --sim-env {sim}`",
       "sim-only": f"`offrl train --algo sac --env {sim} --eval-env {env}`",
       "real-only": f"`offrl train --algo {os.environ['REAL_ALGO']} --dataset {os.environ['DATASET']} --env {env}`"}
for arm in ("h2o", "sim-only", "real-only"):
    if arm in arms:
        runs = arms[arm]
        lines.append(f"| {arm} | {how[arm]} | {fmt([statistics.mean(r[-3:]) for _, r in runs])} | {fmt([r[-1] for _, r in runs])} |")
text = "\n".join(lines) + f"\n\nReturn in the real environment ({env}), mean ± sample std over seeds (seeds in brackets); {os.environ['STEPS']} steps " \
       "each (H2O and SAC: simulator steps, one update each; the offline arm: updates). Curves: [curves.svg](curves.svg).\n"
svg_curves.write(os.path.join(out, "curves.svg"), f"return in {env}", [(arm, arms[arm]) for arm in ("h2o", "sim-only", "real-only") if arm in arms])
open(os.path.join(out, "table.md.tmp"), "w").write(text)
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
print(text)
PY
