#!/usr/bin/env bash
# kill -9 campaign (issue 26, out of CI): N kills at random moments of `offrl train --checkpoint-every` (offline TD3+BC
# and online SAC), `offrl collect` and `offrl dataset convert`; after each kill it checks that every file the run left is
# whole (metrics rows complete, datasets readable, checkpoints loadable), resumes or reruns the command, and counts:
#   half-written files (must be 0), temp files left after the next start (must be 0),
#   resumed runs whose final return differs from an uninterrupted run (must be 0).
# Part "serve": `offrl serve` of a trained policy written to by curl clients (POST /act, POST /reward) while
# `offrl bandit export` (.parquet and .csv) and `offrl dataset convert` read its LIVE decision log; serve is killed -9
# at a random moment, then it counts acknowledged decisions and rewards missing from the log (must be 0) and exports
# that cannot be read (must be 0). Each round restarts serve on the same log.
#
#   bash bench/kill-campaign.sh            # N=10 kills per command
#   N=30 bash bench/kill-campaign.sh
#   PARTS=serve N=3 bash bench/kill-campaign.sh   # only the parts named (train, collect, serve)
set -uo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
PARTS=${PARTS:-"train collect serve"}
has() { [[ " $PARTS " == *" $1 "* ]]; }
WORK=${WORK:-${TMPDIR:-/tmp}/offrl-kill}
rm -rf "$WORK"; mkdir -p "$WORK"
dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null || exit 1
OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
export OFFRL_THREADS=1
half=0; leftover=0; differ=0; kills=0; resumed=0; restarted=0; checked=0; missing=0; unreadable=0; exports=0

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
if has train || has collect; then $OFFRL collect --env pendulum --steps 1500000 --seed 4 --out "$WORK/big.parquet" >/dev/null; fi
declare -A ARGS=(
  [offline]="--algo td3bc --dataset $WORK/data.parquet --env pendulum --steps 4000 --eval-every 1000 --eval-episodes 2 --checkpoint-every 500 --set hidden=[64,64]"
  [online]="--algo sac --env pendulum --steps 8000 --eval-every 2000 --eval-episodes 2 --checkpoint-every 1000 --set hidden=[64,64]"
)
declare -A MAX
MAX[offline]=-; MAX[online]=-
for kind in $(has train && echo offline online); do
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
if has collect; then
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
fi

# serve: a client posting steps of its episodes and their rewards until the service goes; every answered decision
# ("decision ID") and acknowledged reward ("reward ID") is appended to $ACKED.
ACKED="$WORK/acked.txt"
client() {
  local url=$1 ep=$2 t=0 body id code terminal
  while :; do
    body=$(curl -sf -m 5 -X POST -H 'Content-Type: application/json' \
      -d "{\"observation\":[0.$((RANDOM % 10)),0.2,-0.3],\"episode_id\":\"$ep-$((t / 25))\"}" "$url/act") || return 0
    id=$(sed -n 's/.*"event_id":"\([0-9a-f]*\)".*/\1/p' <<<"$body")
    [[ -n $id ]] || return 0
    echo "decision $id" >> "$ACKED"
    t=$((t + 1)); terminal=false; [[ $((t % 25)) -eq 0 ]] && terminal=true
    code=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'Content-Type: application/json' \
      -d "{\"event_id\":\"$id\",\"reward\":-1.5,\"terminal\":$terminal}" "$url/reward") || return 0
    [[ $code == 200 ]] && echo "reward $id" >> "$ACKED"
  done
}
# An export of the live log must read back: the dataset through offrl, the Parquet file whole (PAR1 at both ends),
# the CSV with one field count.
check_export() {
  local f=$1
  [[ -s $f ]] || { echo "export missing: $f"; unreadable=$((unreadable + 1)); return; }
  exports=$((exports + 1))
  case $f in
    *-steps.parquet) $OFFRL dataset info "$f" >/dev/null 2>&1 || { echo "unreadable: $f"; unreadable=$((unreadable + 1)); } ;;
    *.parquet) [[ $(head -c 4 "$f") == PAR1 && $(tail -c 4 "$f") == PAR1 ]] || { echo "unreadable: $f"; unreadable=$((unreadable + 1)); } ;;
    *.csv) awk -F, 'NR == 1 { n = NF } NF != n { bad = 1 } END { exit bad || NR < 2 }' "$f" || { echo "unreadable: $f"; unreadable=$((unreadable + 1)); } ;;
  esac
}
if has serve; then
  $OFFRL train --algo td3bc --dataset "$WORK/data.parquet" --env pendulum --steps 300 --eval-every 300 --eval-episodes 1 \
    --set hidden=[32,32] --out "$WORK/served" >"$WORK/served.log" 2>&1 || { echo "training the served policy failed"; tail -n 3 "$WORK/served.log"; exit 1; }
  DB="$WORK/live.db"; : > "$ACKED"
  for i in $(seq 1 "$N"); do
    port=$((20000 + RANDOM % 20000)); url="http://127.0.0.1:$port"
    $OFFRL serve --policy "$WORK/served" --log "$DB" --urls "$url" --sync full > "$WORK/serve-$i.log" 2>&1 &
    spid=$!
    for _ in $(seq 1 300); do curl -sf -m 1 "$url/health" >/dev/null && break; sleep 0.1; done
    cpids=()
    for c in 1 2 3; do client "$url" "r$i-c$c" & cpids+=($!); done
    sleep 1
    # Readers of the live log while serve writes it.
    $OFFRL bandit export --log "$DB" --out "$WORK/live-$i.parquet" > "$WORK/export-$i.log" 2>&1 || { echo "export (parquet) of the live log failed:"; tail -n 2 "$WORK/export-$i.log"; unreadable=$((unreadable + 1)); }
    $OFFRL bandit export --log "$DB" --out "$WORK/live-$i.csv" >> "$WORK/export-$i.log" 2>&1 || { echo "export (csv) of the live log failed:"; tail -n 2 "$WORK/export-$i.log"; unreadable=$((unreadable + 1)); }
    $OFFRL dataset convert "$DB" "$WORK/live-$i-steps.parquet" >> "$WORK/export-$i.log" 2>&1 || { echo "dataset convert of the live log failed:"; tail -n 2 "$WORK/export-$i.log"; unreadable=$((unreadable + 1)); }
    sleep "$(delay 3)"
    kill -9 "$spid" 2>/dev/null && kills=$((kills + 1))
    wait "$spid" 2>/dev/null
    wait "${cpids[@]}" 2>/dev/null
    for f in "$WORK/live-$i.parquet" "$WORK/live-$i.csv" "$WORK/live-$i-steps.parquet"; do check_export "$f"; done
  done
  # Every acknowledged decision and reward is in the log after the kills.
  lost=$(python3 - "$DB" "$ACKED" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
decisions = {r[0] for r in db.execute("SELECT event_id FROM decisions")}
rewards = {r[0] for r in db.execute("SELECT event_id FROM rewards")}
lost = 0
acked = 0
for line in open(sys.argv[2]):
    kind, _, eid = line.strip().partition(" ")
    if not eid: continue
    acked += 1
    if eid not in (decisions if kind == "decision" else rewards):
        lost += 1
        print(f"lost: {kind} {eid}", file=sys.stderr)
print(lost, acked, len(decisions), len(rewards))
PY
  )
  read -r missing acked_n logged_d logged_r <<<"$lost"
  echo "serve: $acked_n acknowledged (decisions and rewards), log holds $logged_d decisions and $logged_r rewards; $exports exports of the live log"
fi
count_temps "$WORK"

echo "kill -9 campaign ($PARTS): $kills kills ($N per command); $checked files checked"
echo "  half-written or unloadable files: $half"
echo "  temp files left after the next start: $leftover"
echo "  runs resumed from a checkpoint: $resumed; restarted (killed before the first checkpoint): $restarted"
echo "  final returns different from the uninterrupted run: $differ"
echo "  acknowledged decisions or rewards missing from the decision log: ${missing:-?}"
echo "  exports of the live decision log that failed or cannot be read: $unreadable"
[[ $half -eq 0 && $leftover -eq 0 && $differ -eq 0 && ${missing:-1} -eq 0 && $unreadable -eq 0 ]]
