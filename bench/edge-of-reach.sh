#!/usr/bin/env bash
# The edge-of-reach experiment (Sims et al. 2024, section 4; issue 37): SAC on h-step rollouts without a penalty
# (MOPO with lambda 0, i.e. MBPO-style) and RAVL (EDAC on the same rollouts), each with a learned ensemble and with the
# environment's own dynamics as the model (model: simulator, no model error), on one small task. The paper's point:
# the Q-values of the penalty-free method run away even with the true model, RAVL's stay bounded. Per run the return
# and q_data (the critics' mean Q at the batch's actions) at every evaluation go into OUT/runs/*.csv (the run's
# metrics.csv); OUT/table.md lists them side by side. Pendulum's rewards are <= 0, so any q_data above 0 is an
# overestimate. Resumable: a finished run's file is kept.
#
#   bash bench/edge-of-reach.sh
#   SEEDS="0 1 2" STEPS=20000 bash bench/edge-of-reach.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-pendulum-medium-replay}
ENV=${ENV:-pendulum}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-10000}
EVAL_EVERY=${EVAL_EVERY:-1000}
HORIZON=${HORIZON:-5}
OUT=${OUT:-bench/results/edge-of-reach}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-edge-of-reach}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
# the learned ensemble, fitted once per seed and shared by both methods (batches of 32: the dataset is small)
for seed in $SEEDS; do
  [[ -s "$WORK/model-seed$seed/dynamics.safetensors" ]] || $OFFRL model fit --dataset "$DATASET" --env "$ENV" --seed "$seed" --out "$WORK/model-seed$seed" \
    --overwrite --set batch_size=32 >/dev/null
done
for seed in $SEEDS; do
  for model in learned simulator; do
    for algo in mopo ravl; do
      name="$algo-$model-seed$seed"
      [[ -s "$OUT/runs/$name.csv" ]] && continue
      m="$WORK/model-seed$seed"; [[ $model == simulator ]] && m=simulator
      extra=(); [[ $algo == mopo ]] && extra=(--set penalty_coef=0)
      echo "$(date +%H:%M:%S) $name"
      $OFFRL train --algo "$algo" --dataset "$DATASET" --env "$ENV" --seed "$seed" --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes 10 \
        --out "$WORK/$name" --overwrite --set model="$m" --set rollout_horizon="$HORIZON" --set rollout_starts=5000 "${extra[@]}" --json > "$WORK/$name.log" 2>&1 \
        || { echo "FAILED $name ($WORK/$name.log)"; continue; }
      cp "$WORK/$name/metrics.csv" "$OUT/runs/$name.csv.tmp" && mv "$OUT/runs/$name.csv.tmp" "$OUT/runs/$name.csv"
      cp "$WORK/$name/run.json" "$OUT/runs/$name.run.json"
    done
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import csv, glob, os, sys, statistics as st
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.csv"))):
    algo, model, seed = os.path.basename(f)[:-4].rsplit("-", 2)
    for r in csv.DictReader(open(f)):
        rows.setdefault((algo, model), {}).setdefault(int(r["step"]), []).append((float(r["return_mean"]), float(r["q_data"])))
lines = ["# Edge of reach (bench/edge-of-reach.sh)", "",
         "Mean over seeds of the evaluation return and of q_data (the critics' mean Q at the batch's state-action pairs) per",
         "evaluation step; mopo is run with penalty_coef 0 (SAC on the rollouts, MBPO-style). The task's rewards are <= 0.", "",
         "| method | model | step | seeds | return | q_data |", "| --- | --- | --- | --- | --- | --- |"]
for (algo, model), steps in sorted(rows.items()):
    for step, v in sorted(steps.items()):
        lines.append(f"| {algo} | {model} | {step} | {len(v)} | {st.mean(x[0] for x in v):.1f} | {st.mean(x[1] for x in v):.1f} |")
open(os.path.join(out, "table.md.tmp"), "w").write("\n".join(lines) + "\n")
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
PY
echo "table: $OUT/table.md"
