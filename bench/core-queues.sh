# Sourced by the long bench scripts: run_on_cores FUNCTION JOB... deals the jobs (each a string of words) alternately
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
