#!/usr/bin/env bash
# Online runs of several arms side by side at the same budget, 3 seeds each, for a method's pattern or a sanity run
# against a known learner (issue 39: off-policy MDPO beside SAC). Each arm is "NAME: ARGS" (ARGS passed to `offrl
# train` after --env and the budget), arms separated by ';'; an arm whose ARGS start with `finetune` runs `offrl
# finetune ARGS` with STEPS as its online phase (its curve's steps count its offline updates first). EVAL_ENV: the
# environment every arm is judged in (unseen levels: ENV=gridworld:levels=100 EVAL_ENV=gridworld).
#
#   ENV=pendulum STEPS=10000 START_STEPS=1000 ARMS='mdpo-off: --algo mdpo-off; sac: --algo sac' OUT=bench/results/mdpo-off \
#     bash bench/online-arms.sh
#
# Writes OUT/runs/NAME-seedS.{json,metrics.csv}, OUT/table.md (mean of each run's last 3 evaluations and its final one,
# over seeds) and OUT/return.png. Resumable: a finished run is not run again; a stopped one goes on from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=${ENV:-pendulum}
STEPS=${STEPS:-10000}
EVAL_ENV=${EVAL_ENV:-}
START_STEPS=${START_STEPS:-}       # online off-policy learners' uniform warm-up (--start-steps); unset for on-policy and hybrid arms
EVAL_EVERY=${EVAL_EVERY:-1000}
EPISODES=${EPISODES:-10}
SEEDS=${SEEDS:-"0 1 2"}
ARMS=${ARMS:?'ARMS="NAME: ARGS; NAME: ARGS"'}
OUT=${OUT:?OUT=bench/results/FOLDER}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-$(basename "$OUT")}
export OUT WORK ENV EVAL_ENV STEPS START_STEPS EVAL_EVERY EPISODES ARMS
mkdir -p "$OUT/runs" "$WORK"
source bench/core-queues.sh
build_bins

arm_args() {   # the ARGS of arm NAME
  local spec
  IFS=';' read -ra specs <<< "$ARMS"
  for spec in "${specs[@]}"; do
    spec=${spec#"${spec%%[![:space:]]*}"}
    [[ ${spec%%:*} == "$1" ]] && { echo "${spec#*:}"; return 0; }
  done
}
arm_names() { local s; IFS=';' read -ra specs <<< "$ARMS"; for s in "${specs[@]}"; do s=${s#"${s%%[![:space:]]*}"}; echo "${s%%:*}"; done; }

run_one() {
  local arm=$1 seed=$2 core=$3
  local args=($(arm_args "$arm"))
  local common=(--env "$ENV" --seed "$seed" ${EVAL_ENV:+--eval-env "$EVAL_ENV"} --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every "$EVAL_EVERY")
  if [[ ${args[0]} == finetune ]]; then   # an arm that starts offline: its online phase is the budget
    cli_run "$arm-seed$seed" "$core" finetune "${args[@]:1}" "${common[@]}" --online-steps "$STEPS"
  else
    train_run "$arm-seed$seed" "$core" "${args[@]}" "${common[@]}" --steps "$STEPS" ${START_STEPS:+--start-steps "$START_STEPS"}
  fi
}
export -f run_one resume_args file_run train_run cli_run arm_args

jobs=()
for seed in $SEEDS; do for arm in $(arm_names); do jobs+=("$arm $seed"); done; done
run_on_cores run_one "${jobs[@]}"

/usr/bin/python3 - "$OUT" $(arm_names) <<'PY'
import csv, glob, os, statistics, sys
out, names = sys.argv[1], sys.argv[2:]
arms = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.metrics.csv"))):
    arms.setdefault(os.path.basename(f).rsplit("-seed", 1)[0], []).append([float(r["return_mean"]) for r in csv.DictReader(open(f))])
fmt = lambda xs: f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.1f} ({len(xs)})"
specs = dict(s.strip().split(":", 1) for s in os.environ["ARMS"].split(";"))
lines = ["| arm | `offrl train` | return, last 3 evaluations | final |", "| --- | --- | ---: | ---: |"]
lines += [f"| {n} | `{specs[n].strip()}` | {fmt([statistics.mean(r[-3:]) for r in arms[n]])} | {fmt([r[-1] for r in arms[n]])} |" for n in names if n in arms]
warmup = f" (the first {os.environ['START_STEPS']} uniform)" if os.environ.get("START_STEPS") else ""
judged = f", judged in {os.environ['EVAL_ENV']}" if os.environ.get("EVAL_ENV") else ""
text = "\n".join(lines) + f"\n\n{os.environ['ENV']}{judged}, {os.environ['STEPS']} environment steps per run{warmup}, " \
       f"evaluated every {os.environ['EVAL_EVERY']} ({os.environ['EPISODES']} episodes). Mean ± sample std over seeds (seeds in brackets). " \
       "Curves: [return.png](return.png).\n"
open(os.path.join(out, "table.md.tmp"), "w").write(text)
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
PY
series=()
for arm in $(arm_names); do
  files=("$OUT"/runs/"$arm"-seed*.metrics.csv)
  [[ -e ${files[0]} ]] && series+=(--label "$arm" "${files[@]}")
done
[[ ${#series[@]} -gt 0 ]] && dotnet "$WORK/bench-bin/OffRL.Bench.dll" figure --out "$OUT/return.png" --x step --y return_mean \
  --legend lower-right --title "$ENV: return" "${series[@]}" >/dev/null
echo "table: $OUT/table.md"
