#!/usr/bin/env bash
# The edge-of-reach experiment (Sims et al. 2024, section 4; issue 37): SAC on h-step rollouts without a penalty
# (MOPO with lambda 0, i.e. MBPO-style) and RAVL (EDAC on the same rollouts), each with a learned ensemble and with the
# environment's own dynamics as the model (model: simulator, no model error): pendulum, or the paper's own MuJoCo
# tasks (DATASET=halfcheetah-medium-replay ENV=halfcheetah). The paper's point: the Q-values of the penalty-free method
# run away even with the true model, RAVL's stay bounded. Per run the return and q_data (the critics' mean Q at the
# batch's actions) at every evaluation go into OUT/runs/DATASET-ALGO-MODEL-seedS.csv (the run's metrics.csv); OUT/table.md
# lists them side by side and OUT/DATASET-q_data.png draws q_data per method and model (bench figure). Pendulum's
# rewards are <= 0, so any q_data above 0 there is an overestimate. Resumable: a finished run's file is kept, a stopped
# run goes on from its checkpoint (every EVAL_EVERY updates).
#
#   bash bench/edge-of-reach.sh
#   SEEDS="0 1 2" STEPS=20000 bash bench/edge-of-reach.sh
#   DATASET=halfcheetah-medium-replay ENV=halfcheetah MODELS=simulator STEPS=30000 bash bench/edge-of-reach.sh
#
# Variables: DATASET, ENV, SEEDS, STEPS, EVAL_EVERY, HORIZON, ALGOS ("mopo ravl"), MODELS ("learned simulator"),
# ROLLOUT_STARTS (rollouts a round: 5 000 on pendulum's small data, else OfflineRL-Kit's 50 000), FIT_BATCH (the
# ensemble's batch: 32 on pendulum, else 256), OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-pendulum-medium-replay}
ENV=${ENV:-pendulum}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-10000}
EVAL_EVERY=${EVAL_EVERY:-1000}
HORIZON=${HORIZON:-5}
ALGOS=${ALGOS:-"mopo ravl"}
MODELS=${MODELS:-"learned simulator"}
small=$([[ $ENV == pendulum ]] && echo 1 || echo 0)
ROLLOUT_STARTS=${ROLLOUT_STARTS:-$([[ $small == 1 ]] && echo 5000 || echo 50000)}
FIT_BATCH=${FIT_BATCH:-$([[ $small == 1 ]] && echo 32 || echo 256)}
OUT=${OUT:-bench/results/edge-of-reach}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-edge-of-reach}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
dotnet build -c Release bench/OffRL.Bench -o "$WORK/bench-bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
source bench/core-queues.sh
for seed in $SEEDS; do
  for model in $MODELS; do
    m=simulator
    if [[ $model == learned ]]; then   # the learned ensemble, fitted once per dataset and seed, shared by both methods
      m="$WORK/$DATASET-model-seed$seed"
      [[ -s "$m/dynamics.safetensors" ]] || $OFFRL model fit --dataset "$DATASET" --env "$ENV" --seed "$seed" --out "$m" \
        --overwrite --set batch_size="$FIT_BATCH" >/dev/null
    fi
    for algo in $ALGOS; do
      name="$DATASET-$algo-$model-seed$seed" dir="$WORK/$DATASET-$algo-$model-seed$seed"
      [[ -s "$OUT/runs/$name.csv" ]] && continue
      from=($(resume_args "$dir")); [[ ${#from[@]} -gt 0 ]] || from=(--overwrite)
      extra=(); [[ $algo == mopo ]] && extra=(--set penalty_coef=0)
      echo "$(date +%H:%M:%S) $name ${from[*]}"
      $OFFRL train --algo "$algo" --dataset "$DATASET" --env "$ENV" --seed "$seed" --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes 10 \
        --checkpoint-every "$EVAL_EVERY" --out "$dir" "${from[@]}" --set model="$m" --set rollout_horizon="$HORIZON" \
        --set rollout_starts="$ROLLOUT_STARTS" "${extra[@]}" --json > "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; continue; }
      cp "$dir/metrics.csv" "$OUT/runs/$name.csv.tmp" && mv "$OUT/runs/$name.csv.tmp" "$OUT/runs/$name.csv"
      cp "$dir/run.json" "$OUT/runs/$name.run.json"
    done
  done
done
/usr/bin/python3 - "$OUT" <<'PY'
import csv, glob, os, sys, statistics as st
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.csv"))):
    dataset, algo, model, seed = os.path.basename(f)[:-4].rsplit("-", 3)
    for r in csv.DictReader(open(f)):
        rows.setdefault((dataset, algo, model), {}).setdefault(int(r["step"]), []).append((float(r["return_mean"]), float(r["q_data"])))
lines = ["# Edge of reach (bench/edge-of-reach.sh)", "",
         "Mean over seeds of the evaluation return and of q_data (the critics' mean Q at the batch's state-action pairs) per",
         "evaluation step; mopo is run with penalty_coef 0 (SAC on the rollouts, MBPO-style). Pendulum's rewards are <= 0.", "",
         "| dataset | method | model | step | seeds | return | q_data |", "| --- | --- | --- | --- | --- | --- | --- |"]
for (dataset, algo, model), steps in sorted(rows.items()):
    for step, v in sorted(steps.items()):
        lines.append(f"| {dataset} | {algo} | {model} | {step} | {len(v)} | {st.mean(x[0] for x in v):.1f} | {st.mean(x[1] for x in v):.1f} |")
open(os.path.join(out, "table.md.tmp"), "w").write("\n".join(lines) + "\n")
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
PY
# the figure: q_data against step, one series per method and model, each seed a thin line
series=()
for algo in $ALGOS; do for model in $MODELS; do
  files=("$OUT"/runs/"$DATASET-$algo-$model"-seed*.csv)
  [[ -e ${files[0]} ]] && series+=(--label "$algo ($model model)" "${files[@]}")
done; done
[[ ${#series[@]} -gt 0 ]] && dotnet "$WORK/bench-bin/OffRL.Bench.dll" figure --out "$OUT/$DATASET-q_data.png" --x step --y q_data --zero --legend upper-right \
  --title "Edge of reach, $DATASET: the critics' Q at the data (h $HORIZON)" "${series[@]}" >/dev/null
echo "table: $OUT/table.md"
