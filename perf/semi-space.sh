#!/usr/bin/env bash
# The sidecar's CPU per request and RSS under the http1-keepalive load for several
# V8 young-generation caps (node --max-semi-space-size=MB; 0 = V8's default).
#
#   perf/semi-space.sh [ROUNDS=3] [SIZES="0 16 8 4"]     (DURATION=8 s per run)
#
# Rounds alternate the sizes (the VM's speed drifts over minutes); the sidecar is restarted
# for each run (2 s wrk warm-up, then DURATION s measured). Prints one line per run and the
# median per size. Same bootstrap, upstream and pinning as perf/http1-keepalive.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ROUNDS="${1:-3}"
SIZES="${2:-0 16 8 4}"
DURATION="${DURATION:-8}"
CONNS="${CONNS:-50}"
# shellcheck source=perf/lib.sh
source "$HERE/lib.sh"
perf_node
perf_require wrk curl getconf
perf_pinning
perf_tmpdir semi-space
read -r UP_PORT SC_PORT SC_ADMIN < <("$NODE" "$HERE/free-port.mjs" 3)
start_upstream "$UP_PORT"
sidecar_bootstrap "$SC_PORT" "$SC_ADMIN" "$UP_PORT" >"$TMP/bootstrap.yaml"
declare -A RESULTS
for round in $(seq 1 "$ROUNDS"); do
  for mb in $SIZES; do
    flags=""; [[ "$mb" != 0 ]] && flags="--max-semi-space-size=$mb"
    SIDECAR_NODE_FLAGS="$flags" start_sidecar "$TMP/bootstrap.yaml" "$SC_ADMIN"
    run_wrk 2 "http://127.0.0.1:$SC_PORT/" >/dev/null
    before="$(cpu_ticks "$SC_PID")"
    reqs="$(run_wrk "$DURATION" "http://127.0.0.1:$SC_PORT/" | awk '/requests in/ {print $1; exit}')"
    after="$(cpu_ticks "$SC_PID")"
    rss="$(awk -v k="$(rss_kb "$SC_PID")" 'BEGIN { printf "%.0f", k/1024 }')"
    us="$(awk -v b="$before" -v a="$after" -v t="$TCK" -v r="$reqs" 'BEGIN { split(b, x, " "); split(a, y, " "); printf "%.1f", (y[1]+y[2]-x[1]-x[2]) / t * 1e6 / r }')"
    echo "round $round, semi-space ${mb:-0} MB: $us us/request, RSS $rss MB, $reqs requests"
    RESULTS[$mb]+="$us $rss "
    kill -TERM "$SC_PID"; wait "$SC_PID" 2>/dev/null || true
  done
done
echo
echo "| --max-semi-space-size | CPU us/request, median (runs) | RSS MB after the run, median |"
echo "|---|---:|---:|"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for mb in $SIZES; do
  label="$mb MB"; [[ "$mb" == 0 ]] && label="V8 default"
  read -r -a vals <<<"${RESULTS[$mb]}"
  cpus=(); rsss=()
  for ((i = 0; i < ${#vals[@]}; i += 2)); do cpus+=("${vals[i]}"); rsss+=("${vals[i+1]}"); done
  runs="$(IFS=,; echo "${cpus[*]}" | sed 's/,/, /g')"
  echo "| $label | $(printf '%s\n' "${cpus[@]}" | median) ($runs) | $(printf '%s\n' "${rsss[@]}" | median) |"
done
