#!/usr/bin/env bash
# Engine benchmarks side by side with the PyTorch / NumPy reference on this machine, as a markdown table. The
# reference runs OpenBLAS in its native kernel and PyTorch at its fastest thread split (bench/reference/torch_engine.py).
#   bash bench/run-engine.sh            (needs: apt-get install -y python3-torch python3-numpy libopenblas0-pthread)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build bench/OffRL.Bench -c Release -v q -nologo >/dev/null
run() { dotnet bench/OffRL.Bench/bin/Release/net10.0/OffRL.Bench.dll "$1" --json | tail -1; }
gemm=$(run gemm); mlp=$(run mlp-step); ens=$(run ensemble-step); tr=$(run transformer-step)
ref=$(/usr/bin/python3 bench/reference/torch_engine.py --threads 2 --json | tail -1)
python3 - "$gemm" "$mlp" "$ens" "$tr" "$ref" <<'PY'
import json, sys
g, m, e, t, r = (json.loads(a) for a in sys.argv[1:])
print(f"| figure | OffRL | reference ({'NumPy/OpenBLAS' }, torch {r['torch']}) | ratio |")
print("| --- | ---: | ---: | ---: |")
for k in ("gflops_256_t1", "gflops_256_t2", "gflops_1024_t1", "gflops_1024_t2"):
    print(f"| gemm {k} (GFLOP/s) | {g[k]} | {r['numpy_gemm'][k]} | {g[k] / r['numpy_gemm'][k]:.2f} |")
for name, d in (("mlp-step", m), ("ensemble-step", e), ("transformer-step", t)):
    ref = r["torch_steps_per_s"][name]
    print(f"| {name} steps_per_s (2 threads; reference at {r['setting'][name]}) | {d['steps_per_s']} | {ref} | {d['steps_per_s'] / ref:.2f} |")
PY
