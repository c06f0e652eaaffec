#!/usr/bin/env bash
# kill -9 campaign (issue 26, out of CI): N kills at random moments of `offrl train --checkpoint-every` (offline TD3+BC
# and online SAC), `offrl collect` and `offrl dataset convert`; after each kill it checks that every file the run left is
# whole (metrics rows complete, datasets readable, checkpoints loadable), resumes or reruns the command, and counts:
#   half-written files (must be 0), temp files left after the next start (must be 0),
#   resumed runs whose final return differs from an uninterrupted run (must be 0).
#
#   bash bench/kill-campaign.sh            # N=10 kills per command
#   N=30 bash bench/kill-campaign.sh
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-kill}
rm -rf "$WORK"; mkdir -p "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null || exit 1
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
export OFFRL_THREADS=1
half=0; leftover=0; differ=0; kills=0; resumed=0; restarted=0; checked=0

# A kill moment: uniform in (0.2 s, 95% of the command's uninterrupted wall time), from bash's RANDOM seeded for
# reproducible choices; `timed` measures that wall time once per command.
RANDOM=26
delay() { awk -v r=$RANDOM -v m="$1" 'BEGIN { printf "%.2f", 0.2 + (0.95 * m - 0.2) * r / 32767 }'; }
timed() { local t0; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }

# Whole-file checks: every metrics row has the header's field count, every JSON line parses, datasets open.
check_metrics() {
  local dir=$1
  [[ -f "$dir/metrics.csv" ]] || return 0
  checked=$((checked + 1))
  awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad }' "$dir/metrics.csv" || { echo "half-written: $dir/metrics.csv"; half=$((half + 1)); }
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]' "$dir/metrics.jsonl" 2>/dev/null || { echo "half-written: $dir/metrics.jsonl"; half=$((half + 1)); }
}
check_dataset() {
  [[ -e "$1" ]] || return 0
  checked=$((checked + 1))
  $OFFRL dataset info "$1" >/dev/null 2>&1 || { echo "half-written: $1"; half=$((half + 1)); }
}
check_checkpoint() {
  local d=$1
  for c in "$d/checkpoint" "$d/checkpoint.old"; do
    [[ -f "$c/agent.json" ]] || continue
    checked=$((checked + 1))
    $OFFRL eval --checkpoint "$c" --env pendulum --episodes 1 >/dev/null 2>&1 || { echo "unloadable: $c"; half=$((half + 1)); }
  done
}
count_temps() {
  local n
  n=$(find "$1" -maxdepth 2 \( -name '.*.tmp' -o -name 'checkpoint.tmp' \) 2>/dev/null | wc -l)
  [[ $n -gt 0 ]] && { echo "leftover temp files in $1:"; find "$1" -maxdepth 2 \( -name '.*.tmp' -o -name 'checkpoint.tmp' \); }
  leftover=$((leftover + n))
}
final_return() { tail -n 1 "$1" | python3 -c 'import json,sys; print(repr(json.loads(sys.stdin.read())["return_mean"]))'; }

$OFFRL collect --env pendulum --steps 4000 --seed 3 --out "$WORK/data.parquet" >/dev/null
$OFFRL collect --env pendulum --steps 1500000 --seed 4 --out "$WORK/big.parquet" >/dev/null
declare -A ARGS=(
  [offline]="--algo td3bc --dataset $WORK/data.parquet --env pendulum --steps 4000 --eval-every 1000 --eval-episodes 2 --checkpoint-every 500 --set hidden=[64,64]"
  [online]="--algo sac --env pendulum --steps 8000 --eval-every 2000 --eval-episodes 2 --checkpoint-every 1000 --set hidden=[64,64]"
)
declare -A MAX
for kind in offline online; do
  # The uninterrupted run every resumed one must equal (and its wall time, which bounds the kill moments).
  t0=$(date +%s.%N)
  $OFFRL train ${ARGS[$kind]} --out "$WORK/$kind-ref" --json > "$WORK/$kind-ref.log" 2>&1 || { echo "reference run failed"; cat "$WORK/$kind-ref.log"; exit 1; }
  MAX[$kind]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  ref=$(final_return "$WORK/$kind-ref.log")
  for i in $(seq 1 "$N"); do
    out="$WORK/$kind-$i"
    $OFFRL train ${ARGS[$kind]} --out "$out" > "$out.log" 2>&1 &
    pid=$!
    sleep "$(delay "${MAX[$kind]}")"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null
    check_metrics "$out"; check_checkpoint "$out"
    if $OFFRL train ${ARGS[$kind]} --out "$out" --resume "$out" --json > "$out.resume.log" 2>&1; then
      resumed=$((resumed + 1))
    else
      # Killed before its first checkpoint: nothing to resume; the same command with --overwrite starts it again.
      grep -q "no checkpoint" "$out.resume.log" || { echo "resume failed:"; tail -n 3 "$out.resume.log"; }
      $OFFRL train ${ARGS[$kind]} --out "$out" --overwrite --json > "$out.resume.log" 2>&1 && restarted=$((restarted + 1))
    fi
    got=$(final_return "$out.resume.log" 2>/dev/null || echo none)
    [[ "$got" == "$ref" ]] || { echo "$kind run $i: final return $got, uninterrupted $ref"; differ=$((differ + 1)); }
    count_temps "$out"
  done
done

# collect and dataset convert: a killed writer leaves no half file; its temp file is removed at the next write.
collect_time=$(timed $OFFRL collect --env pendulum --steps 1500000 --seed 0 --out "$WORK/collect-ref.parquet")
convert_time=$(timed $OFFRL dataset convert "$WORK/big.parquet" "$WORK/convert-ref.hdf5")
echo "uninterrupted wall times (s): offline train ${MAX[offline]}, online train ${MAX[online]}, collect $collect_time, convert $convert_time"
for i in $(seq 1 "$N"); do
  target="$WORK/collect-$i.parquet"
  $OFFRL collect --env pendulum --steps 1500000 --seed "$i" --out "$target" >/dev/null 2>&1 &
  pid=$!; sleep "$(delay "$collect_time")"; kill -9 "$pid" 2>/dev/null && kills=$((kills + 1)); wait "$pid" 2>/dev/null
  check_dataset "$target"
  $OFFRL collect --env pendulum --steps 500 --seed "$i" --out "$target" >/dev/null 2>&1
  check_dataset "$target"

  conv="$WORK/convert-$i.hdf5"
  $OFFRL dataset convert "$WORK/big.parquet" "$conv" >/dev/null 2>&1 &
  pid=$!; sleep "$(delay "$convert_time")"; kill -9 "$pid" 2>/dev/null && kills=$((kills + 1)); wait "$pid" 2>/dev/null
  check_dataset "$conv"
  $OFFRL dataset convert "$WORK/data.parquet" "$conv" >/dev/null 2>&1
  check_dataset "$conv"
done
count_temps "$WORK"

echo "kill -9 campaign: $kills kills ($N per command: offline train, online train, collect, dataset convert); $checked files checked"
echo "  half-written or unloadable files: $half"
echo "  temp files left after the next start: $leftover"
echo "  runs resumed from a checkpoint: $resumed; restarted (killed before the first checkpoint): $restarted"
echo "  final returns different from the uninterrupted run: $differ"
[[ $half -eq 0 && $leftover -eq 0 && $differ -eq 0 ]]
