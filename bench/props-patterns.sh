#!/usr/bin/env bash
# PROPS's pattern (issue 39, item 3; Corrado and Hanna 2024, fig. 3 and 4): at equal environment steps, PROPS (b = 2
# target batches, behaviour updates every m steps) against PPO-Buffer (the same buffer filled by on-policy sampling:
# props_lr 0) and PPO (one batch, on-policy: props_lr 0, b 1, m = n), the three the authors compare, with the sampling
# error of each one's buffer measured every SE_EVERY target updates. All three run `offrl train --algo props` with the
# authors' Hopper-v4 settings (PropsConfig's defaults), so they differ only where the paper's arms do.
#
#   ENV=hopper STEPS=1000000 SEEDS='0 1 2' bash bench/props-patterns.sh
#
# Writes OUT/runs/ARM-seedS.{json,metrics.csv}, then OUT/table.md (mean of each run's last 3 evaluations, its final one
# and its mean sampling error, over seeds), OUT/return.png and OUT/sampling-error.png. Resumable: a finished run is not
# run again; a stopped one goes on from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
ENV=${ENV:-hopper}
STEPS=${STEPS:-1000000}
EVAL_EVERY=${EVAL_EVERY:-20480}     # the authors' eval_freq: every 10 target updates of n = 2048
EPISODES=${EPISODES:-10}
SE_EVERY=${SE_EVERY:-10}            # target updates between sampling-error measurements
SEEDS=${SEEDS:-"0 1 2"}
ARMS=${ARMS:-"props ppo-buffer ppo"}
OUT=${OUT:-bench/results/props}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-props}
export OUT WORK ENV STEPS EVAL_EVERY EPISODES SE_EVERY
mkdir -p "$OUT/runs" "$WORK"
# KEEP_BIN=1 goes on with the build already in WORK/bin (a campaign resumed after the code changed keeps one build)
[[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
[[ -n ${KEEP_BIN:-} && -f "$WORK/bench-bin/OffRL.Bench.dll" ]] || dotnet build -c Release bench/OffRL.Bench -o "$WORK/bench-bin" >/dev/null
export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
source bench/core-queues.sh

run_one() {
  local arm=$1 seed=$2 core=$3
  local name="$arm-seed$seed" dir="$WORK/$arm-seed$seed"
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  local from=($(resume_args "$dir"))
  [[ ${#from[@]} -gt 0 ]] || rm -rf "$dir" "$dir.log"
  local args=(--algo props --env "$ENV" --seed "$seed" --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES"
    --checkpoint-every "$EVAL_EVERY" --out "$dir" "${from[@]}" --json --set "sampling_error_every=$SE_EVERY")
  case $arm in
    props) ;;
    ppo-buffer) args+=(--set props_lr=0) ;;
    ppo) args+=(--set props_lr=0 --set buffer_batches=1 --set props_num_steps=2048) ;;
    *) echo "ARMS: unknown arm '$arm' (props, ppo-buffer, ppo)" >&2; return 0 ;;
  esac
  echo "$(date +%H:%M:%S) core $core: $name${from:+ (resumed)}"
  OFFRL_THREADS=1 taskset -c "$core" $OFFRL train "${args[@]}" >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
  file_run "$name" "$dir"
}
export -f run_one resume_args file_run

jobs=()
for seed in $SEEDS; do for arm in $ARMS; do jobs+=("$arm $seed"); done; done
run_on_cores run_one "${jobs[@]}"

/usr/bin/python3 - "$OUT" <<'PY'
import csv, glob, os, statistics, sys
out = sys.argv[1]
arms = {}
for f in sorted(glob.glob(os.path.join(out, "runs", "*.metrics.csv"))):
    arm = os.path.basename(f).rsplit("-seed", 1)[0]
    rows = list(csv.DictReader(open(f)))
    ret = [float(r["return_mean"]) for r in rows]
    se = [float(r["sampling_error"]) for r in rows if r.get("sampling_error")]
    arms.setdefault(arm, []).append((ret, se))
fmt = lambda xs, d=1: f"{statistics.mean(xs):.{d}f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.{d}f} ({len(xs)})"
how = {"props": "PROPS (b 2, m 256)", "ppo-buffer": "PPO-Buffer (b 2, on-policy sampling: props_lr 0)",
       "ppo": "PPO (b 1: props_lr 0, buffer_batches 1, props_num_steps 2048)"}
lines = [f"| arm | what | return, last 3 evaluations | final | sampling error, mean over training |", "| --- | --- | ---: | ---: | ---: |"]
for arm in ("props", "ppo-buffer", "ppo"):
    if arm in arms:
        runs = arms[arm]
        lines.append(f"| {arm} | {how[arm]} | {fmt([statistics.mean(r[-3:]) for r, _ in runs])} | {fmt([r[-1] for r, _ in runs])} | "
                     f"{fmt([statistics.mean(s) for _, s in runs if s], 4)} |")
text = "\n".join(lines) + f"\n\n{os.environ['ENV']}, {os.environ['STEPS']} environment steps per run, evaluated every {os.environ['EVAL_EVERY']} " \
       f"({os.environ['EPISODES']} episodes of the mean action); sampling error every {os.environ['SE_EVERY']} target updates on the buffer the " \
       "target is about to learn from. Mean ± sample std over seeds (seeds in brackets). Figures: [return.png](return.png), " \
       "[sampling-error.png](sampling-error.png).\n"
open(os.path.join(out, "table.md.tmp"), "w").write(text)
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
PY
for what in return_mean sampling_error; do
  series=()
  for arm in $ARMS; do
    files=("$OUT"/runs/"$arm"-seed*.metrics.csv)
    [[ -e ${files[0]} ]] && series+=(--label "$arm" "${files[@]}")
  done
  png=$([[ $what == return_mean ]] && echo return.png || echo sampling-error.png)
  [[ ${#series[@]} -gt 0 ]] && dotnet "$WORK/bench-bin/OffRL.Bench.dll" figure --out "$OUT/$png" --x step --y "$what" --zero \
    --legend "$([[ $what == return_mean ]] && echo upper-left || echo upper-right)" --title "PROPS on $ENV: $what" "${series[@]}" >/dev/null
done
echo "table: $OUT/table.md"
