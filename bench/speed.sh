#!/usr/bin/env bash
# Update rates side by side in one run (issue 28): OffRL's `X-update` benchmarks and PyTorch's
# `../shared/bench/torch_rl_updates.py` (same shapes: obs 17, act 6, batch 256, 256-unit MLPs), on one core pinned with
# taskset (one thread each) and on both cores (OffRL 2 threads; PyTorch at its fastest split of torch and OpenBLAS
# threads, which the script searches). The reference runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (native
# OpenBLAS kernel). Needs Debian's python3-torch and libopenblas0-pthread. CQL's reference is
# bench/reference/offline_rl.py --speed (OffRL's protocol: uniform, pi(.|s) and pi(.|s') action sets; the shared script's
# CQL evaluates two sets and does two thirds of the regularizer's work), searched over the same thread splits.
#
# Ensembles (issue 42): SAC-N with N critics of 3 x 256 (`ensemble-update`, CRITICS=N) against
# bench/reference/ensemble_update.py (CORL's sac_n.py update, its VectorizedLinear as `x @ W + b` or torch.baddbmm,
# searched with the thread splits); the last column is the share of the machine's measured peak (`peak`) that
# OffRL's 2-thread update reaches, counting its matrix products' FLOPs only.
#
# Two-core figures of both sides move by 10-25% from run to run on a 2-core machine: REPEAT=K runs every measurement K
# times, the four measurements of a row interleaved, and prints each side's median (the ratios are of the medians; the
# PyTorch setting shown is its median run's).
#
#   bash bench/speed.sh                    # td3bc iql sac cql, then SAC-N with 10 and 50 critics
#   ALGOS="td3bc iql" ENSEMBLES="" REPEAT=3 bash bench/speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ALGOS=${ALGOS-"td3bc iql sac cql"}
ENSEMBLES=${ENSEMBLES-"10 50"}
REPEAT=${REPEAT:-1}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-speed}
mkdir -p "$WORK"
dotnet build -c Release bench/OffRL.Bench -o "$WORK/bin" >/dev/null
TORCH="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 ../shared/bench/torch_rl_updates.py"
offrl() {   # algo, threads[, field...]: figures of one run of OffRL's X-update benchmark, on one line (CRITICS from the environment)
  local fields=("${@:3}")
  dotnet "$WORK/bin/OffRL.Bench.dll" "$1-update" --threads "$2" --json | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(*(d[k] for k in sys.argv[1:]))' "${fields[@]:-updates_per_s}"
}
CQLREF="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/offline_rl.py"
ENSREF="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/reference/ensemble_update.py"
torch() {   # algo, cores: the best setting's updates/s, then the setting
  if [[ $1 == ensemble ]]; then
    $ENSREF --critics "$CRITICS" --threads "$2" --json | tail -n 1 |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["updates_per_s"], "(" + d["setting"] + ")")'
    return
  fi
  if [[ $1 == cql ]]; then
    $CQLREF --speed cql --threads "$2" --steps 20 | tail -n 1 |
      python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["updates_per_s"], "(" + d["setting"] + ")")'
    return
  fi
  $TORCH --only "$1" --threads "$2" --steps 300 --json | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); a=sys.argv[1]; print(d["updates_per_s"][a], "(" + d["setting"][a] + ")")' "$1"
}
echo "| updates/s | OffRL 1 thread (core 0) | PyTorch 1 thread (core 0) | ratio | OffRL 2 threads | PyTorch 2 cores, best split | ratio | OffRL 2 threads / 1 thread |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
median() {   # "value rest" lines on stdin: the median line by value (the lower middle one for an even count)
  sort -g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}
measure() {   # algo, OffRL's 1-thread fields, its 2-thread fields: OffRL 1 thread and PyTorch 1 thread (core 0), OffRL 2
              # threads, PyTorch 2 cores, REPEAT times interleaved; prints the four medians, one line each
  local -a runs=("" "" "" "")
  for ((r = 0; r < REPEAT; r++)); do
    runs[0]+=$(taskset -c 0 bash -c "$(declare -f offrl); WORK=$WORK CRITICS=${CRITICS:-} offrl $1 1 $2")$'\n'
    runs[1]+=$(taskset -c 0 bash -c "$(declare -f torch); TORCH='$TORCH' CQLREF='$CQLREF' ENSREF='$ENSREF' CRITICS=${CRITICS:-} torch $1 1")$'\n'
    runs[2]+=$(offrl "$1" 2 $3)$'\n'
    runs[3]+=$(torch "$1" 2)$'\n'
  done
  for i in 0 1 2 3; do printf '%s' "${runs[$i]}" | median; done
}
for a in $ALGOS; do
  { read -r o1; read -r t1 s1; read -r o2; read -r t2 s2; } < <(measure "$a" updates_per_s updates_per_s)
  python3 - "$a" "$o1" "$t1" "$o2" "$t2" "$s2" <<'EOF'
import sys
a, o1, t1, o2, t2, s2 = sys.argv[1], *map(float, sys.argv[2:6]), sys.argv[6]
print(f"| {a} | {o1:.1f} | {t1:.1f} | {o1 / t1:.2f}x | {o2:.1f} | {t2:.1f} {s2} | {o2 / t2:.2f}x | {o2 / o1:.2f}x |")
EOF
done
if [[ -n $ENSEMBLES ]]; then
  echo
  echo "| SAC-N updates/s | OffRL 1 thread (core 0) | PyTorch 1 thread (core 0) | ratio | OffRL 2 threads | PyTorch 2 cores, best setting | ratio | OffRL 2 threads / 1 thread | OffRL 2 threads, share of peak |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for n in $ENSEMBLES; do
    export CRITICS=$n
    { read -r o1; read -r t1 s1; read -r o2 p2; read -r t2 s2; } < <(measure ensemble updates_per_s_n$n "updates_per_s_n$n share_of_peak_n$n")
    python3 - "$n" "$o1" "$t1" "$o2" "$t2" "$s2" "$p2" <<'EOF'
import sys
n, o1, t1, o2, t2, s2, p2 = sys.argv[1], *map(float, sys.argv[2:6]), sys.argv[6], float(sys.argv[7])
print(f"| N = {n} | {o1:.2f} | {t1:.2f} | {o1 / t1:.2f}x | {o2:.2f} | {t2:.2f} {s2} | {o2 / t2:.2f}x | {o2 / o1:.2f}x | {p2:.0%} |")
EOF
  done
fi
