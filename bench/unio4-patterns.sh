#!/usr/bin/env bash
# Uni-O4's pattern (issue 39): `offrl finetune --algo uni-o4` on a dataset, 3 seeds, one evaluation curve across the
# phases. The table answers the issue's two questions from each run's own curve: is the offline phase's policy above
# behaviour cloning (the evaluation where the fits end and the improvement starts: ensemble member 0, cloned only,
# against the last offline one: the member AM-Q chose), and does the online phase dip at the switch (the lowest of the
# first DIP_EVALS online evaluations against the last offline one)?
#
#   DATASET=pendulum-medium-replay ENV=pendulum ONLINE_STEPS=100000 SET='--set value_steps=20000 ...' bash bench/unio4-patterns.sh
#
# Writes OUT/runs/uni-o4-seedS.{json,metrics.csv}, OUT/table.md and OUT/return.png. Resumable: a finished run is not
# run again; a stopped one goes on from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-pendulum-medium-replay}
ENV=${ENV:-pendulum}
ONLINE_STEPS=${ONLINE_STEPS:-100000}
EVAL_EVERY=${EVAL_EVERY:-1000}
EPISODES=${EPISODES:-10}
DIP_EVALS=${DIP_EVALS:-5}
SEEDS=${SEEDS:-"0 1 2"}
SET=${SET:-}
OUT=${OUT:-bench/results/uni-o4}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-uni-o4}
export OUT WORK DATASET ENV ONLINE_STEPS EVAL_EVERY EPISODES DIP_EVALS SET
mkdir -p "$OUT/runs" "$WORK"
source bench/core-queues.sh
build_bins

run_one() {
  local seed=$1 core=$2
  cli_run "uni-o4-seed$seed" "$core" finetune --algo uni-o4 --dataset "$DATASET" --env "$ENV" --online-steps "$ONLINE_STEPS" $SET \
    --seed "$seed" --eval-every "$EVAL_EVERY" --eval-episodes "$EPISODES" --checkpoint-every "$EVAL_EVERY"
}
export -f run_one resume_args file_run cli_run

jobs=()
for seed in $SEEDS; do jobs+=("$seed"); done
run_on_cores run_one "${jobs[@]}"

/usr/bin/python3 - "$OUT" <<'PY'
import csv, glob, json, os, statistics, sys
out = sys.argv[1]
dip = int(os.environ["DIP_EVALS"])
rows, fits_end, switch = [], None, None
for f in sorted(glob.glob(os.path.join(out, "runs", "uni-o4-seed*.metrics.csv"))):
    run = list(csv.DictReader(open(f)))
    offline = [r for r in run if r["phase"] == "offline"]
    online = [r for r in run if r["phase"] == "online"]
    # the fits end where the improvement's first metrics appear: the last row without them is the cloned policy's
    cloned = [r for r in offline if not r.get("improvement_loss")]
    if not cloned or not offline or not online: continue
    seed = os.path.basename(f).split("-seed")[1].split(".")[0]
    bc, off = float(cloned[-1]["return_mean"]), float(offline[-1]["return_mean"])
    first = [float(r["return_mean"]) for r in online[:dip]]
    rows.append((seed, int(cloned[-1]["step"]), bc, int(offline[-1]["step"]), off, min(first), float(online[-1]["return_mean"]), int(online[-1]["step"])))
    switch = int(offline[-1]["step"])
fmt = lambda xs: f"{statistics.mean(xs):.1f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.1f}"
lines = ["| seed | cloned (member 0, step) | end of offline (AM-Q's choice, step) | lowest of the first online evaluations | final (step) |",
         "| --- | ---: | ---: | ---: | ---: |"]
lines += [f"| {s} | {bc:.1f} ({bs}) | {off:.1f} ({os_}) | {low:.1f} | {fin:.1f} ({fs}) |" for s, bs, bc, os_, off, low, fin, fs in rows]
if rows:
    lines.append(f"| mean ± std ({len(rows)}) | {fmt([r[2] for r in rows])} | {fmt([r[4] for r in rows])} | {fmt([r[5] for r in rows])} | {fmt([r[6] for r in rows])} |")
text = "\n".join(lines) + f"\n\n`offrl finetune --algo uni-o4 --dataset {os.environ['DATASET']} --env {os.environ['ENV']} --online-steps {os.environ['ONLINE_STEPS']} {os.environ['SET']}`, " \
       f"evaluated every {os.environ['EVAL_EVERY']} steps ({os.environ['EPISODES']} episodes); the lowest online value is over the first {dip} online evaluations. " \
       "Curves: [return.png](return.png) (the dotted line: the switch).\n"
open(os.path.join(out, "table.md.tmp"), "w").write(text)
os.replace(os.path.join(out, "table.md.tmp"), os.path.join(out, "table.md"))
open(os.path.join(out, "switch.txt"), "w").write(str(switch or 0))
PY
files=("$OUT"/runs/uni-o4-seed*.metrics.csv)
[[ -e ${files[0]} ]] && dotnet "$WORK/bench-bin/OffRL.Bench.dll" figure --out "$OUT/return.png" --x step --y return_mean --legend lower-right \
  --vline "$(cat "$OUT/switch.txt")" --title "Uni-O4 on $DATASET: return" --label uni-o4 "${files[@]}" >/dev/null
echo "table: $OUT/table.md"
