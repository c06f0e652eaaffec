#!/usr/bin/env bash
# The dynamics ensemble (issue 37) beside OfflineRL-Kit's, on the very same dataset file: for each dataset and seed,
# `offrl model fit` and bench/reference/dynamics_reference.py (written from OfflineRL-Kit's files) each fit 7 members
# of 4 x 200 with OfflineRL-Kit's procedure, at most MAX_EPOCHS epochs (MOBILE's cap, 30, by default: the same on both
# sides), one thread pinned to a core. Each side's hold-out MSE per member, elites and epochs land in
# $OUT/runs/SIDE-DATASET-seedS.json; the table ($OUT/table.md) compares the sides' elite hold-out MSE and mean member
# hold-out MSE over the seeds with Welch's t-test. Resumable: a finished run is skipped.
#
#   bash bench/dynamics-parity.sh                                   # halfcheetah-medium-replay, seeds 0 1 2
#   DATASETS="hopper-medium-replay" SEEDS="0 1 2" CORE=1 bash bench/dynamics-parity.sh
#
# Variables: DATASETS (recipe names; each converted once to $WORK/NAME.hdf5), SEEDS, MAX_EPOCHS, CORE, OUT, WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASETS=${DATASETS:-halfcheetah-medium-replay}
SEEDS=${SEEDS:-"0 1 2"}
MAX_EPOCHS=${MAX_EPOCHS:-30}
CORE=${CORE:-0}
OUT=${OUT:-bench/results/dynamics}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-dynamics}
mkdir -p "$OUT/runs" "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
for ds in $DATASETS; do
  file="$WORK/$ds.hdf5"
  [[ -s "$file" ]] || OFFRL_THREADS=2 $OFFRL dataset convert "$ds" "$file" >&2
  env=${ds%%-*}
  for seed in $SEEDS; do
    res="$OUT/runs/offrl-$ds-seed$seed.json"
    if [[ ! -s "$res" ]]; then
      echo "$(date +%H:%M:%S) offrl $ds seed $seed"
      rm -rf "$WORK/offrl-$ds-seed$seed"
      OFFRL_THREADS=1 taskset -c "$CORE" $OFFRL model fit --dataset "$file" --env "$env" --out "$WORK/offrl-$ds-seed$seed" --seed "$seed" \
        --set "max_epochs=$MAX_EPOCHS" --json 2> "$WORK/offrl-$ds-seed$seed.log" | tail -n 1 > "$res.tmp" && mv "$res.tmp" "$res"
    fi
    res="$OUT/runs/torch-$ds-seed$seed.json"
    if [[ ! -s "$res" ]]; then
      echo "$(date +%H:%M:%S) torch $ds seed $seed"
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 taskset -c "$CORE" /usr/bin/python3 bench/reference/dynamics_reference.py \
        --dataset "$file" --seed "$seed" --max-epochs "$MAX_EPOCHS" 2> "$WORK/torch-$ds-seed$seed.log" | tail -n 1 > "$res.tmp" && mv "$res.tmp" "$res"
    fi
  done
done

/usr/bin/python3 - "$OUT" <<'PY'
import glob, json, os, statistics as st, sys
from scipy.stats import ttest_ind
out = sys.argv[1]
runs = {}
for f in sorted(glob.glob(f"{out}/runs/*.json")):
    side, rest = os.path.basename(f)[:-5].split("-", 1)
    ds = rest.rsplit("-seed", 1)[0]
    runs.setdefault(ds, {}).setdefault(side, []).append(json.load(open(f)))
def cell(v):
    return f"{st.mean(v):.4g} ± {st.stdev(v):.2g} ({len(v)})" if len(v) > 1 else (f"{v[0]:.4g} (1)" if v else "-")
lines = ["| dataset | measure | OffRL | PyTorch (OfflineRL-Kit's procedure) | Welch p |", "| --- | --- | ---: | ---: | ---: |"]
for ds, sides in runs.items():
    for name, get in (("elite hold-out MSE", lambda r: r["elite_holdout_mse"]),
                      ("mean member hold-out MSE", lambda r: st.mean(r["holdout_mse"])),
                      ("epochs", lambda r: r["epochs"]), ("seconds (1 thread, pinned)", lambda r: r["seconds"])):
        a = [get(r) for r in sides.get("offrl", [])]; b = [get(r) for r in sides.get("torch", [])]
        p = f"{ttest_ind(a, b, equal_var=False).pvalue:.2f}" if len(a) > 1 and len(b) > 1 and name != "seconds (1 thread, pinned)" else ""
        lines.append(f"| {ds} | {name} | {cell(a)} | {cell(b)} | {p} |")
    c = [r["constant_mse"] for r in sides.get("offrl", [])]
    if c:
        lines.append(f"| {ds} | a constant prediction's hold-out MSE | {cell(c)} | | |")
text = "\n".join(lines) + "\n"
open(f"{out}/table.md.tmp", "w").write(text); os.replace(f"{out}/table.md.tmp", f"{out}/table.md")
print(text)
PY
