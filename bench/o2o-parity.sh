#!/usr/bin/env bash
# Offline-to-online and hybrid methods side by side (issue 38), each against a PyTorch reference written from its
# authors' code, on the same dataset file, both acting in OffRL's environment (the reference through `offrl env serve`),
# evaluated on the same episode seeds; then the parity table (bench/reference/parity_table.py: Welch's t-test per cell,
# both sides' curves).
#   ALGO=rlpd: `offrl train --algo rlpd` against bench/reference/rlpd_reference.py, the authors' settings but the budget:
#     STEPS environment steps, the first START of them random (the authors' locomotion: 250 000 and 5 000).
#   ALGO=famo2o: `offrl finetune --algo famo2o` against bench/reference/famo2o_reference.py: OFFLINE updates, then
#     ONLINE environment steps with one update each, one buffer (--ratio proportional), the authors' IQL learner settings
#     (raw observations, D4RL's qlearning rows, actions clipped to 1 - 1e-5) with expectile EXPECTILE (default 0.7).
#
#   ALGO=cal-ql (or cql): `offrl finetune --algo cal-ql` against bench/reference/calql_reference.py (CORL's cal_ql.py;
#     cql: the same without the bound, --no-calibration), OFFLINE updates then ONLINE environment steps with one update
#     each, half of each online batch from the dataset; OffRL with CORL's TrainConfig values (CORL ships no locomotion
#     config for Cal-QL) set by --set, but the actor's and temperature's rate POLICY_LR (default 1e-4, every shipped
#     Cal-QL config's; TrainConfig's 3e-5 barely moves the actor in a short budget).
#
#   ALGO=rlpd DATASET=pendulum-medium-replay STEPS=3000 START=1000 EVAL_EVERY=250 SEEDS='0 1 2' bash bench/o2o-parity.sh
#   ALGO=famo2o DATASET=pendulum-medium-replay OFFLINE=3000 ONLINE=3000 EVAL_EVERY=500 bash bench/o2o-parity.sh
#   ALGO=cal-ql DATASET=pendulum-medium-replay OFFLINE=5000 ONLINE=5000 EVAL_EVERY=500 bash bench/o2o-parity.sh
#
# Resumable: a stopped run goes on from its checkpoint (OffRL: DIR/checkpoint; the reference: DIR.json.resume.pt); a
# finished run is filed in OUT/runs and not run again. One process per core (CORES, default the first two).
set -euo pipefail
cd "$(dirname "$0")/.."
ALGO=${ALGO:-rlpd}
DATASET=${DATASET:-pendulum-medium-replay}
STEPS=${STEPS:-3000}
START=${START:-1000}
OFFLINE=${OFFLINE:-3000}
ONLINE=${ONLINE:-3000}
EXPECTILE=${EXPECTILE:-0.7}
POLICY_LR=${POLICY_LR:-1e-4}
EVAL_EVERY=${EVAL_EVERY:-250}
EPISODES=${EPISODES:-10}
SEEDS=${SEEDS:-"0 1 2"}
SIDES=${SIDES:-"offrl torch"}
OUT=${OUT:-bench/results/$ALGO}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-$ALGO}
export ALGO OUT WORK STEPS START OFFLINE ONLINE EXPECTILE POLICY_LR EVAL_EVERY EPISODES DATASET
mkdir -p "$OUT/runs" "$WORK"
# KEEP_BIN=1 goes on with the build already in WORK/bin: a campaign resumed after the code changed keeps every run of a
# cell on one build (the tables refuse runs of different builds)
[[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
[[ -s "$WORK/$DATASET.hdf5" ]] || OFFRL_THREADS=2 $OFFRL dataset convert "$DATASET" "$WORK/$DATASET.hdf5" >&2

run_one() {
  local REF_ARGS=(--steps "$STEPS" --start-training "$START")
  local REF=bench/reference/${ALGO}_reference.py
  [[ $ALGO == famo2o ]] && REF_ARGS=(--offline-steps "$OFFLINE" --online-steps "$ONLINE" --expectile "$EXPECTILE")
  [[ $ALGO == cal-ql || $ALGO == cql ]] && REF=bench/reference/calql_reference.py REF_ARGS=(--offline-steps "$OFFLINE" --online-steps "$ONLINE" --policy-lr "$POLICY_LR")
  [[ $ALGO == cql ]] && REF_ARGS+=(--no-calibration)
  local side=$1 seed=$2 core=$3
  local name="$side-$ALGO-$DATASET-seed$seed" dir="$WORK/$side-$ALGO-$DATASET-seed$seed" env=${DATASET%%-*}
  local result="$OUT/runs/$name.json"
  [[ -s "$result" ]] && return 0
  echo "$(date +%H:%M:%S) core $core: $name"
  if [[ $side == offrl ]]; then
    local from=(); [[ -d "$dir/checkpoint" || -d "$dir/checkpoint.old" ]] && from=(--resume "$dir")
    [[ ${#from[@]} -gt 0 ]] || rm -rf "$dir" "$dir.log"
    local how=(train --algo rlpd --steps "$STEPS" --set random_steps="$START")
    [[ $ALGO == famo2o ]] && how=(finetune --algo famo2o --offline-steps "$OFFLINE" --online-steps "$ONLINE" --ratio proportional
      --set normalize_observations=false --set qlearning_rows=true --set action_clip=0.99999 --set expectile="$EXPECTILE")
    [[ $ALGO == cal-ql || $ALGO == cql ]] && how=(finetune --algo "$ALGO" --offline-steps "$OFFLINE" --online-steps "$ONLINE" --ratio 0.5
      --set 'hidden=[256, 256, 256]' --set 'critic_hidden=[256, 256]' --set cql_alpha=10 --set sampled_actions=10 --set bc_steps=0
      --set actor_lr="$POLICY_LR" --set alpha_lr="$POLICY_LR" --set critic_lr=3e-4 --set log_std_min=-20 --set log_std_offset=-1
      --set orthogonal_critic_init=true --set actor_before_critic=true --set backup_entropy=false --set normalize_observations=true
      --set qlearning_rows=true --set reward_normalization=none)
    OFFRL_THREADS=1 taskset -c "$core" $OFFRL "${how[@]}" --dataset "$WORK/$DATASET.hdf5" --env "$env" --seed "$seed" \
      --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every "$EVAL_EVERY" --out "$dir" "${from[@]}" \
      --json >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
    /usr/bin/python3 bench/reference/offrl_result.py "$ALGO" "$DATASET" "$seed" "$dir" "$result"
  else
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 OFFRL_THREADS=1 taskset -c "$core" \
      /usr/bin/python3 "$REF" --dataset "$WORK/$DATASET.hdf5" --dataset-name "$DATASET" --env "$env" --seed "$seed" \
      "${REF_ARGS[@]}" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --out "$dir.json" >> "$dir.log" 2>&1 \
      || { echo "FAILED $name ($dir.log)"; return 0; }
    cp "$dir.json" "$result.tmp" && mv "$result.tmp" "$result"
  fi
}
export -f run_one

jobs=()
for seed in $SEEDS; do for side in $SIDES; do jobs+=("$side $seed"); done; done
source bench/core-queues.sh
run_on_cores run_one "${jobs[@]}"
/usr/bin/python3 bench/reference/parity_table.py "$OUT"
