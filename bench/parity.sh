#!/usr/bin/env bash
# OffRL with CORL's presets vs an independent PyTorch reference of CORL's protocol (bench/reference/corl_reference.py),
# or, for the methods CORL does not have (PRDC, A2PR, RIQL), the authors' presets against a reference written from the
# authors' code (bench/reference/authors_reference.py for PRDC and A2PR; RIQL's is in corl_reference.py), and for MOPO
# and MOBILE OfflineRL-Kit's suggested settings (--preset offlinerl-kit) against bench/reference/model_based.py,
# written from OfflineRL-Kit's files (a stopped reference run of these starts again; OffRL's resumes),
# side by side on the very same dataset file and evaluated in the same OffRL environment (issues 27 and 34). For each
# dataset, algorithm and seed, each side trains STEPS updates; OffRL (`offrl train --preset corl`) evaluates every
# EVAL_EVERY steps (EPISODES episodes) as `offrl train` does, the reference writes a snapshot at the same steps and
# `offrl eval` evaluates it with the same episode seeds. An optional third side, offrl-default, trains OffRL with its
# own defaults (no preset). Resumable: a finished run's result file is kept and skipped, and a run stopped part way
# (a CQL run is about an hour) goes on from its last checkpoint, every CHECKPOINT_EVERY updates (default EVAL_EVERY), on
# either side: the same updates as a run in one go. Two queues, each pinned to one core (taskset), one thread per
# process.
#
#   bash bench/parity.sh                                              # the issue's grid: results in bench/results/parity-corl
#   DATASETS=halfcheetah-medium-replay ALGOS=cql SEEDS=0 STEPS=10000 bash bench/parity.sh
#   SIDES="offrl torch offrl-default" bash bench/parity.sh            # also OffRL's defaults, as an extra column
#
# Variables: DATASETS (CORL preset names: {hopper,halfcheetah,walker2d}-{medium,medium-replay,medium-expert}), ALGOS
# (td3bc iql cql bc pbc awac sac-n edac), SEEDS, CORES (the cores to queue on, default "0 1"), STEPS, EVAL_EVERY, CHECKPOINT_EVERY,
# EPISODES, SIDES ("offrl torch", optionally offrl-default), DYNAMICS_MAX_EPOCHS (MOPO/MOBILE: cap the ensemble's fit at
# this many epochs on both sides, for a budget; OfflineRL-Kit caps MOBILE at 30 and MOPO not at all), OUT,
# WORK, OFFRL_DATA, and MUJOCO_OUT (also file the offrl runs, CORL's presets, into that MuJoCo table folder, as
# bench/mujoco-offline.sh with its default PRESET=corl would). Issue 27's runs (OffRL's defaults against
# bench/reference/offline_rl.py) stay in bench/results/parity; this campaign's OUT and WORK differ from that one's, so
# a resumed run never picks up the other's results or its (older-recipe) dataset files.
# Needs Debian's python3-torch, python3-h5py and libopenblas0-pthread for the reference side.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=${DATASETS:-"hopper-medium halfcheetah-medium-replay"}
ALGOS=${ALGOS:-"td3bc iql pbc"}
SEEDS=${SEEDS:-"0 1 2 3 4"}
STEPS=${STEPS:-20000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EPISODES=${EPISODES:-10}
CHECKPOINT_EVERY=${CHECKPOINT_EVERY:-$EVAL_EVERY}
SIDES=${SIDES:-"offrl torch"}
OUT=${OUT:-bench/results/parity-corl}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-parity-corl}
for side in $SIDES; do
  [[ $side == offrl || $side == torch || $side == offrl-default ]] || { echo "SIDES: unknown side '$side' (offrl, torch, offrl-default)" >&2; exit 2; }
done
DYNAMICS_MAX_EPOCHS=${DYNAMICS_MAX_EPOCHS:-}
export OUT WORK STEPS EVAL_EVERY EPISODES CHECKPOINT_EVERY DYNAMICS_MAX_EPOCHS
mkdir -p "$OUT/runs" "$WORK"
# KEEP_BIN=1 goes on with the build already in WORK/bin: a campaign resumed after the code changed keeps every run of a
# cell on one build (the tables refuse runs of different builds)
[[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"

# 1. The dataset files both sides read (D4RL-layout HDF5 converted from OffRL's built-in datasets), and their statistics.
for ds in $DATASETS; do
  [[ -s "$WORK/$ds.hdf5" ]] || OFFRL_THREADS=2 $OFFRL dataset convert "$ds" "$WORK/$ds.hdf5" >&2
  [[ -s "$OUT/dataset-$ds.json" ]] || { OFFRL_THREADS=2 $OFFRL dataset info "$WORK/$ds.hdf5" --json | tail -n 1 > "$OUT/dataset-$ds.json.tmp" && mv "$OUT/dataset-$ds.json.tmp" "$OUT/dataset-$ds.json"; }
done

# 2. One run: train one side, evaluate its snapshots, write OUT/runs/SIDE-ALGO-DATASET-seedS.json atomically.
run_one() {
  local side=$1 algo=$2 ds=$3 seed=$4 core=$5
  local name="$side-$algo-$ds-seed$seed" dir="$WORK/$side-$algo-$ds-seed$seed"
  local result="$OUT/runs/$name.json"
  [[ -s "$result" ]] && return 0
  local env=${ds%%-*} evals="$WORK/$name.evals"
  # whose protocol: CORL's where CORL has the method, else the authors' (preset and reference script alike)
  local preset_name=corl reference=bench/reference/corl_reference.py
  case $algo in riql) preset_name=authors ;; prdc|a2pr) preset_name=authors reference=bench/reference/authors_reference.py ;;
    mopo|mobile) preset_name=offlinerl-kit reference=bench/reference/model_based.py ;; esac
  local cap=() refcap=()   # the same fit budget on both sides when DYNAMICS_MAX_EPOCHS is set
  if [[ -n $DYNAMICS_MAX_EPOCHS && ( $algo == mopo || $algo == mobile ) ]]; then
    cap=(--set "dynamics_max_epochs=$DYNAMICS_MAX_EPOCHS"); refcap=(--dynamics-max-epochs "$DYNAMICS_MAX_EPOCHS")
  fi
  # a run stopped part way goes on from its checkpoint (OffRL: DIR/checkpoint; the reference: DIR/resume.pt, or for
  # MOPO/MOBILE from after its fit, DIR/dynamics-fit.pt)
  local from=($(resume_args "$dir"))
  [[ ${#from[@]} -gt 0 || -s "$dir/resume.pt" || -s "$dir/dynamics-fit.pt" ]] || rm -rf "$dir" "$dir.log"
  rm -f "$evals"; mkdir -p "$dir"
  echo "$(date +%H:%M:%S) core $core: $name${from:+ (resumed)}"
  if [[ $side == offrl || $side == offrl-default ]]; then
    # offrl: the per-dataset preset (the dataset file is named after the preset's dataset); offrl-default: none
    local preset=(); [[ $side == offrl ]] && preset=(--preset "$preset_name")
    OFFRL_THREADS=1 taskset -c "$core" $OFFRL train --algo "$algo" --dataset "$WORK/$ds.hdf5" --env "$env" "${preset[@]}" --seed "$seed" \
      --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every "$CHECKPOINT_EVERY" --out "$dir" "${from[@]}" \
      "${cap[@]}" --json >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
    tail -n 1 "$dir.log" > "$dir.train.json"
    # metrics.csv: step,return_mean,return_std,normalized_score,... -> one JSON object per evaluation
    tail -n +2 "$dir/metrics.csv" | awk -F, '{printf "{\"step\": %s, \"return_mean\": %s, \"return_std\": %s, \"normalized_score\": %s}\n", $1, $2, $3, $4}' > "$evals"
  elif [[ $side == torch ]]; then
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 taskset -c "$core" /usr/bin/python3 "$reference" \
      --algo "$algo" --dataset "$WORK/$ds.hdf5" --dataset-name "$ds" --steps "$STEPS" --seed "$seed" --snapshot-every "$EVAL_EVERY" --out "$dir" \
      --checkpoint-every "$CHECKPOINT_EVERY" --resume "${refcap[@]}" >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
    tail -n 1 "$dir.log" > "$dir.train.json"
    for ((step = EVAL_EVERY; step <= STEPS; step += EVAL_EVERY)); do
      OFFRL_THREADS=1 taskset -c "$core" $OFFRL eval --checkpoint "$dir/step-$step" --env "$env" --episodes "$EPISODES" --seed $((1000000 + seed)) --json \
        | tail -n 1 | sed "s/^{/{\"step\": $step, /" >> "$evals"
    done
  else
    echo "FAILED $name (unknown side)"; return 0
  fi
  /usr/bin/python3 - "$side" "$algo" "$ds" "$seed" "$dir.train.json" "$evals" "$result" "$WORK/$ds.hdf5" "$reference" <<'PY'
import hashlib, json, os, sys
side, algo, ds, seed, train, evals, out, data, reference = sys.argv[1:]
r = {"side": side, "algo": algo, "dataset": ds, "seed": int(seed), "train": json.load(open(train)),
     "evaluations": [json.loads(l) for l in open(evals) if l.strip()]}
if side == "torch":   # the reference's provenance: its script, its settings, the data file (OffRL's --json carries its own)
    sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
    r["train"].setdefault("script_sha256", sha(reference))
    r["train"].setdefault("dataset_sha256", sha(data))
    r["train"].setdefault("config", {"algo": algo, "steps": int(os.environ["STEPS"])})
open(out + ".tmp", "w").write(json.dumps(r, indent=1))
os.replace(out + ".tmp", out)
PY
  # OffRL's preset runs also count in the MuJoCo table (bench/mujoco-offline.sh's layout; it trains each cell with
  # PRESET=corl by default) when MUJOCO_OUT is set; the offrl-default runs (no preset) do not belong there
  if [[ $side == offrl && -n ${MUJOCO_OUT:-} ]]; then
    mkdir -p "$MUJOCO_OUT/runs"
    cp "$dir/metrics.csv" "$MUJOCO_OUT/runs/$ds-$algo-seed$seed.metrics.csv"
    sed "s|\"dataset\":\"[^\"]*\"|\"dataset\":\"$ds\"|" "$dir.train.json" > "$MUJOCO_OUT/runs/$ds-$algo-seed$seed.json.tmp"
    mv "$MUJOCO_OUT/runs/$ds-$algo-seed$seed.json.tmp" "$MUJOCO_OUT/runs/$ds-$algo-seed$seed.json"
  fi
}
export -f run_one

# 3. Jobs in dataset / algo / seed / side order, dealt alternately to one queue per core in CORES (default: the first
#    two cores; CORES=1 leaves core 0 to a dataset build running beside it).
jobs=()
for ds in $DATASETS; do for algo in $ALGOS; do for seed in $SEEDS; do for side in $SIDES; do jobs+=("$side $algo $ds $seed"); done; done; done; done
source bench/core-queues.sh
run_on_cores run_one "${jobs[@]}"

# 4. The table.
/usr/bin/python3 bench/reference/parity_table.py "$OUT"
