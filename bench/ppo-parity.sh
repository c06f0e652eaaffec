#!/usr/bin/env bash
# PPO side by side (issue 39): `offrl train --algo ppo-continuous` against bench/reference/ppo_reference.py (CleanRL's
# ppo_continuous_action.py in PyTorch), both acting in OffRL's environment (the reference through `offrl env serve`),
# evaluated on the same episode seeds, with the same settings (default: rl-baselines3-zoo's Pendulum-v1 rollout and
# rates, CleanRL's normalization and annealing); then the table (bench/reference/parity_table.py: Welch's t-test on the
# last evaluations and the final one, both sides' curves).
#   ENV=pendulum STEPS=100000 EVAL_EVERY=20000 SEEDS='0 1 2' bash bench/ppo-parity.sh
# RESCALE=1 runs the reference with its actions in [-1, 1] mapped to the env's bounds, as OffRL acts (CleanRL acts in the
# env's units: on pendulum's [-2, 2] its Gaussian is half as wide), into its own OUT.
# A finished run is filed in OUT/runs and not run again. One process per core (CORES, default the first two).
# CKPT=K checkpoints both sides every K rollouts (each side's episodes end there alike) and resumes a stopped run from
# its checkpoint: hopper's reference steps its env through the bridge at a few hundred steps/s, an hour per million.
#   ENV=hopper STEPS=1000000 NUM_ENVS=1 NUM_STEPS=2048 GAMMA=0.99 LR=3e-4 MINIBATCHES=32 EVAL_EVERY=20480 CKPT=10 bash bench/ppo-parity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=${ENV:-pendulum}
STEPS=${STEPS:-100000}
NUM_ENVS=${NUM_ENVS:-4}
NUM_STEPS=${NUM_STEPS:-1024}
GAMMA=${GAMMA:-0.9}
LR=${LR:-1e-3}
MINIBATCHES=${MINIBATCHES:-64}
EVAL_EVERY=${EVAL_EVERY:-20000}
EPISODES=${EPISODES:-10}
CKPT=${CKPT:-0}
SEEDS=${SEEDS:-"0 1 2"}
SIDES=${SIDES:-"offrl torch"}
OUT=${OUT:-bench/results/ppo}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-ppo}
export ENV STEPS NUM_ENVS NUM_STEPS GAMMA LR MINIBATCHES EVAL_EVERY EPISODES CKPT OUT WORK
mkdir -p "$OUT/runs" "$WORK"
[[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"

run_one() {
  local side=$1 seed=$2 core=$3
  local name="$side-ppo-continuous-$ENV-seed$seed" dir="$WORK/$side-ppo-continuous-$ENV-seed$seed"
  local result="$OUT/runs/$name.json"
  [[ -s "$result" ]] && return 0
  echo "$(date +%H:%M:%S) core $core: $name"
  if [[ $side == offrl ]]; then
    local from=($(resume_args "$dir"))
    [[ ${#from[@]} -gt 0 ]] || rm -rf "$dir" "$dir.log"
    OFFRL_THREADS=1 taskset -c "$core" $OFFRL train --algo ppo-continuous --env "$ENV" --steps "$STEPS" --seed "$seed" \
      --set num_envs="$NUM_ENVS" --set num_steps="$NUM_STEPS" --set gamma="$GAMMA" --set lr="$LR" --set num_minibatches="$MINIBATCHES" \
      --checkpoint-every $((CKPT * NUM_ENVS * NUM_STEPS)) "${from[@]}" \
      --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --out "$dir" --json >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
    /usr/bin/python3 bench/reference/offrl_result.py ppo-continuous "$ENV" "$seed" "$dir" "$result"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OFFRL_THREADS=1 taskset -c "$core" \
      /usr/bin/python3 bench/reference/ppo_reference.py --env "$ENV" --total-timesteps "$STEPS" --num-envs "$NUM_ENVS" --num-steps "$NUM_STEPS" \
      --gamma "$GAMMA" --learning-rate "$LR" --num-minibatches "$MINIBATCHES" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" \
      --seed "$seed" ${RESCALE:+--rescale-action} --checkpoint-every "$CKPT" --out "$dir.json" >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
    cp "$dir.json" "$result.tmp" && mv "$result.tmp" "$result"
  fi
}
source bench/core-queues.sh
export -f run_one resume_args

jobs=()
for seed in $SEEDS; do for side in $SIDES; do jobs+=("$side $seed"); done; done
run_on_cores run_one "${jobs[@]}"
/usr/bin/python3 bench/reference/parity_table.py "$OUT"
