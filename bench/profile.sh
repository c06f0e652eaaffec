#!/usr/bin/env bash
# Where one update's time goes (issue 28): the engine's Profiler over `X-profile` (batches drawn from a 1M-transition
# replay buffer), milliseconds per update in each part, as a markdown table with one column per algorithm.
# One thread is pinned to core 0; two threads use both cores.
#
#   bash bench/profile.sh                   # td3bc iql cql, 1 and 2 threads
#   ALGOS="td3bc" THREADS="1" bash bench/profile.sh
#   BIN=/path/to/OffRL.Bench.dll bash bench/profile.sh    # an already built bench (e.g. another commit's)
set -euo pipefail
cd "$(dirname "$0")/.."
ALGOS=${ALGOS:-"td3bc iql cql"}
THREADS=${THREADS:-"1 2"}
if [[ -z ${BIN:-} ]]; then
  WORK=${WORK:-${TMPDIR:-/tmp}/offrl-profile}
  dotnet build -c Release bench/OffRL.Bench -o "$WORK/bin" >/dev/null
  BIN="$WORK/bin/OffRL.Bench.dll"
fi
for t in $THREADS; do
  pin=""; [[ $t == 1 ]] && pin="taskset -c 0"
  for a in $ALGOS; do $pin dotnet "$BIN" "$a-profile" --threads "$t" --json | tail -n 1 > "${TMPDIR:-/tmp}/offrl-profile-$a-$t.json"; done
  python3 - "$t" $ALGOS <<'PY'
import json, os, sys
t, algos = sys.argv[1], sys.argv[2:]
tmp = os.environ.get("TMPDIR", "/tmp")
d = {a: json.load(open(f"{tmp}/offrl-profile-{a}-{t}.json")) for a in algos}
parts = [("Gemm", "matrix products"), ("Forward", "forward ops, losses, graph recording"), ("BackwardOps", "backward elementwise ops"),
         ("Autograd", "graph walk"), ("Optimizer", "Adam, zeroing gradients"), ("Targets", "target (Polyak) updates"),
         ("Sampling", "minibatch sampling"), ("ThreadHandOff", "thread hand-offs (ensemble members)")]
print(f"\n{t} thread{'s' if t != '1' else ''}: ms per update\n")
print("| part | " + " | ".join(algos) + " |")
print("| --- |" + " ---: |" * len(algos))
for key, label in parts:
    print(f"| {label} | " + " | ".join(f"{d[a]['ms_' + key]:.3f}" for a in algos) + " |")
print("| total (profiled) | " + " | ".join(f"{d[a]['ms_total_profiled']:.2f}" for a in algos) + " |")
print("| total (not profiled) | " + " | ".join(f"{d[a]['ms_total_unprofiled']:.2f}" for a in algos) + " |")
PY
done
