# Sourced by the benches that file one `offrl train --json` run per result (histories.sh, corruption.sh, q-blowup.sh):
#   train_run NAME ARGS...   trains `offrl train ARGS... --out $WORK/NAME --json` (OFFRL: the command; OFFRL_THREADS,
#   default 1) unless $OUT/runs/NAME.json exists, then files its last line as $OUT/runs/NAME.json and its metrics as
#   $OUT/runs/NAME.metrics.csv, the JSON last and atomically (a run stopped part way is trained again).
train_run() {
  local name=$1; shift
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  echo "$(date +%H:%M:%S) $name"
  rm -rf "${WORK:?}/$name"
  OFFRL_THREADS=${OFFRL_THREADS:-1} $OFFRL train "$@" --out "$WORK/$name" --json > "$WORK/$name.log" 2>&1 || { echo "FAILED $name ($WORK/$name.log)"; return 0; }
  { tail -n 1 "$WORK/$name.log" | tr -d '\n'; echo; } > "$OUT/runs/$name.json.tmp"
  cp "$WORK/$name/metrics.csv" "$OUT/runs/$name.metrics.csv"
  mv "$OUT/runs/$name.json.tmp" "$OUT/runs/$name.json"
}
