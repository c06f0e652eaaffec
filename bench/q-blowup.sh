#!/usr/bin/env bash
# The pattern behind SAC-N and EDAC (An et al. 2021, fig. 1; issue 36): with 2 critics, SAC-N's Q values on hopper grow
# past any discounted return the data supports, while EDAC with 10 critics (eta from CORL's config) stays bounded.
# Both with CORL's hopper preset except num_critics, SEEDS seeds, STEPS updates; the critics' mean Q at the batch's
# actions (q_data) is logged at every evaluation. The table in $OUT/table.md sets each run's last q_data beside the
# largest discounted return-to-go of the dataset (gamma 0.99). Resumable: a finished run is skipped.
#
#   bash bench/q-blowup.sh                       # bench/results/q-blowup
#   SEEDS=0 STEPS=2000 bash bench/q-blowup.sh
#
# Variables: DATASET (preset name), DATASET_FILE (a D4RL-layout file of it: bench/parity.sh's), SEEDS, STEPS, EVAL_EVERY,
# EVAL_EPISODES, OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${DATASET:-hopper-medium}
DATASET_FILE=${DATASET_FILE:-${TMPDIR:-/tmp}/offrl-parity-corl/$DATASET.hdf5}
SEEDS=${SEEDS:-"0 1 2"}
STEPS=${STEPS:-50000}
EVAL_EVERY=${EVAL_EVERY:-5000}
EVAL_EPISODES=${EVAL_EPISODES:-5}
OUT=${OUT:-bench/results/q-blowup}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-q-blowup}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
[[ -s $DATASET_FILE ]] || OFFRL_THREADS=2 $OFFRL dataset convert "$DATASET" "$DATASET_FILE"
source bench/train-run.sh
run() {   # algo critics seed
  train_run "$1-n$2-seed$3" --algo "$1" --dataset "$DATASET_FILE" --env "${DATASET%%-*}" --preset corl --set "num_critics=$2" --seed "$3" \
    --steps "$STEPS" --eval-every "$EVAL_EVERY" --eval-episodes "$EVAL_EPISODES"
}
for seed in $SEEDS; do run sac-n 2 "$seed"; run edac 10 "$seed"; done
/usr/bin/python3 - "$OUT" "$DATASET_FILE" <<'PY'
import csv, glob, json, os, statistics, sys
import h5py, numpy as np
out, data = sys.argv[1:]
with h5py.File(data, "r") as f:
    r, ends = f["rewards"][:].astype(np.float64), np.logical_or(f["terminals"][:], f["timeouts"][:])
g, best = 0.0, -np.inf
for t in range(len(r) - 1, -1, -1):   # discounted return-to-go within each episode
    g = r[t] + (0.0 if ends[t] else 0.99 * g)
    best = max(best, g)
rows = ["| run | q_data at each evaluation | last q_data / largest return-to-go | final normalized score |", "| --- | --- | ---: | ---: |"]
for f in sorted(glob.glob(os.path.join(out, "runs", "*.json"))):
    run = json.load(open(f))
    ev = list(csv.DictReader(open(f[:-5] + ".metrics.csv")))
    q = [float(e["q_data"]) for e in ev]
    rows.append(f"| {os.path.basename(f)[:-5]} | {', '.join(f'{v:.0f}' for v in q)} | {q[-1] / best:.2f} | {run['normalized_score']:.1f} |")
text = f"{os.path.basename(data)}: largest discounted return-to-go (gamma 0.99) {best:.1f}.\n\n" + "\n".join(rows) + "\n"
open(os.path.join(out, "table.md"), "w").write(text)
print(text)
PY
