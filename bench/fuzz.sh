#!/usr/bin/env bash
# Fuzz campaign (issue 26, out of CI): the property tests of tests/OffRL.Tests/Data/FuzzTests.cs with many more cases.
# FsCheck corrupts valid CSV, Parquet, HDF5 (D4RL), safetensors, YAML config and bandit-policy files (truncate, flip
# header bytes, drop or retype a column, null a cell, change a width, duplicate a name, alias chains, NaN, out of range)
# and each reader must answer with a clear error naming the file or exactly the valid file's values.
#
#   bash bench/fuzz.sh            # 3000 cases per format
#   RUNS=20000 bash bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3000}
REPORT=$(mktemp)
trap 'rm -f "$REPORT"' EXIT
OFFRL_FUZZ_RUNS=$RUNS OFFRL_FUZZ_REPORT=$REPORT dotnet test tests/OffRL.Tests -c Release --filter "FullyQualifiedName~FuzzTests" \
  --logger "console;verbosity=minimal" | grep -E "^(silent|unhandled|unclear)|Passed!|Failed!" || true
echo "fuzz campaign, $RUNS cases per format:"
cat "$REPORT"
awk '{ for (i = 1; i <= NF; i++) { if ($(i+1) == "inputs,") t += $i; if ($(i+1) == "clear") c += $i; if ($(i+1) == "same") s += $i; if ($(i+1) == "unhandled,") u += $i; if ($(i+1) == "silent") d += $i } }
     END { printf "total: %d inputs, %d clear errors, %d same values, %d stack traces or unclear errors, %d silent differences\n", t, c, s, u, d; exit (u + d > 0) }' "$REPORT"
