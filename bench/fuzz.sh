#!/usr/bin/env bash
# Fuzz and hostile-input campaign (issues 26 and 41, out of CI).
#
# 1. The property tests of tests/OffRL.Tests/Data/FuzzTests.cs with many more cases: FsCheck corrupts valid CSV,
#    Parquet, HDF5 (D4RL), safetensors, YAML config and bandit-policy files (truncate, flip header bytes, drop or retype
#    a column, null a cell, change a width, duplicate a name, alias chains, NaN, out of range) and generates well-formed
#    but wrong inputs (bounds, spaces, ids, generator states); each reader must answer with a clear error naming the
#    file, or exactly the valid file's values.
# 2. The hostile-input suite, class by class (outputs aimed at inputs for every command that writes, semantic
#    mismatches, option edges, duplicate keys, sizes, damaged checkpoints, service bodies): each case must end in one
#    clear error with nothing the user had changed. Counted per class from the test results.
#
#   bash bench/fuzz.sh            # 3000 cases per format
#   RUNS=20000 bash bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPORT=$WORK/report.txt
dotnet build OffRL.sln -c Release >/dev/null
OFFRL_FUZZ_RUNS=$RUNS OFFRL_FUZZ_REPORT=$REPORT dotnet test tests/OffRL.Tests -c Release --no-build --filter "FullyQualifiedName~FuzzTests" \
  --logger "console;verbosity=minimal" | grep -E "^(silent|unhandled|unclear)|Passed!|Failed!" || true
echo "fuzz campaign, $RUNS cases per format:"
cat "$REPORT"
awk '{ for (i = 1; i <= NF; i++) { if ($(i+1) == "inputs,") t += $i; if ($(i+1) == "clear") c += $i; if ($(i+1) == "same") s += $i; if ($(i+1) == "unhandled,") u += $i; if ($(i+1) == "silent") d += $i } }
     END { printf "total: %d inputs, %d clear errors, %d same values, %d stack traces or unclear errors, %d silent differences\n", t, c, s, u, d; exit (u + d > 0) }' "$REPORT"
fuzz=$?

CLASSES="HostileCliTests HostileBanditInputTests CheckpointSafetyTests SweepPlanSafetyTests SemanticCheckTests DuplicateKeyTests"
FILTER=$(for c in $CLASSES; do printf 'FullyQualifiedName~%s|' "$c"; done); FILTER=${FILTER%|}
dotnet test tests/OffRL.Tests -c Release --no-build --filter "$FILTER" --logger "trx;LogFileName=hostile.trx" --results-directory "$WORK" >/dev/null || true
echo "hostile-input suite (each case: one clear error, exit 2, nothing changed):"
python3 - "$WORK/hostile.trx" <<'PY'
import sys, collections, xml.etree.ElementTree as ET
ns = {'t': 'http://microsoft.com/schemas/VisualStudio/TeamTest/2010'}
root = ET.parse(sys.argv[1]).getroot()
counts = collections.defaultdict(lambda: [0, 0])
for r in root.iter('{%s}UnitTestResult' % ns['t']):
    name = r.get('testName')
    cls = name.split('(')[0].rsplit('.', 2)[-2]
    counts[cls][0 if r.get('outcome') == 'Passed' else 1] += 1
tp = tf = 0
for cls, (p, f) in sorted(counts.items()):
    print(f"  {cls}: {p + f} cases, {p} held, {f} failed")
    tp += p; tf += f
print(f"  total: {tp + tf} cases, {tp} held, {tf} failed (stack traces, silent acceptances, losses or hangs)")
sys.exit(1 if tf else 0)
PY
hostile=$?
exit $((fuzz + hostile))
