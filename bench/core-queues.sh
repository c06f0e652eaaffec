# Sourced by the long bench scripts.
#
# build_bins: the CLI and the bench tool built into WORK/bin and WORK/bench-bin ($OFFRL set to the CLI); KEEP_BIN=1 goes
# on with the builds already there (a campaign resumed after the code changed keeps every run of a cell on one build).
build_bins() {
  [[ -n ${KEEP_BIN:-} && -f "$WORK/bin/OffRL.Cli.dll" ]] || dotnet build -c Release src/OffRL.Cli -o "$WORK/bin" >/dev/null
  [[ -n ${KEEP_BIN:-} && -f "$WORK/bench-bin/OffRL.Bench.dll" ]] || dotnet build -c Release bench/OffRL.Bench -o "$WORK/bench-bin" >/dev/null
  export OFFRL="dotnet $WORK/bin/OffRL.Cli.dll"
}

# resume_args DIR: prints "--resume DIR" when an earlier session left a checkpoint in the run folder DIR.
# file_run NAME DIR: files a finished run in OUT/runs, each file atomically: NAME.metrics.csv (DIR/metrics.csv) and
# NAME.json (the last line of DIR.log, the run's --json line).
resume_args() {
  [[ -d "$1/checkpoint" || -d "$1/checkpoint.old" ]] && echo --resume "$1"
  return 0
}

file_run() {
  local name=$1 dir=$2
  cp "$dir/metrics.csv" "$OUT/runs/$name.metrics.csv.tmp" && mv "$OUT/runs/$name.metrics.csv.tmp" "$OUT/runs/$name.metrics.csv"
  tail -n 1 "$dir.log" > "$OUT/runs/$name.json.tmp" && mv "$OUT/runs/$name.json.tmp" "$OUT/runs/$name.json"
}

# run_on_cores FUNCTION JOB... deals the jobs (each a string of words) alternately
# to one queue per core in CORES (default: the first two cores, or core 0 on one), runs each queue in the background
# calling FUNCTION WORDS... CORE for its jobs in order, and waits for all. A script pins its processes to CORE itself.
run_on_cores() {
  local fn=$1; shift
  local jobs=("$@") default_cores="0 1"
  [[ $(nproc) -gt 1 ]] || default_cores=0
  local queues=(${CORES:-$default_cores})
  local nq=${#queues[@]} nj=${#jobs[@]} q i
  for ((q = 0; q < nq; q++)); do
    ( for ((i = q; i < nj; i += nq)); do $fn ${jobs[$i]} "${queues[$q]}"; done ) &
  done
  wait
}

# train_run NAME CORE ARGS...: `offrl train ARGS --out WORK/NAME --json` pinned to CORE ($OFFRL, one engine thread),
# its log in WORK/NAME.log; resumed from its checkpoint when an earlier session left one (ARGS should checkpoint);
# filed in OUT/runs when it finishes; a run already filed is not run again. cli_run NAME CORE COMMAND ARGS...: the same
# for another command (finetune).
train_run() {
  local name=$1 core=$2; shift 2
  cli_run "$name" "$core" train "$@"
}

cli_run() {
  local name=$1 core=$2 command=$3; shift 3
  local dir="$WORK/$name"
  [[ -s "$OUT/runs/$name.json" ]] && return 0
  local from=($(resume_args "$dir"))
  [[ ${#from[@]} -gt 0 ]] || rm -rf "$dir" "$dir.log"
  echo "$(date +%H:%M:%S) core $core: $name${from:+ (resumed)}"
  OFFRL_THREADS=1 taskset -c "$core" $OFFRL "$command" "$@" --out "$dir" "${from[@]}" --json >> "$dir.log" 2>&1 || { echo "FAILED $name ($dir.log)"; return 0; }
  file_run "$name" "$dir"
}
