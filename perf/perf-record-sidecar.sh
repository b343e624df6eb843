#!/usr/bin/env bash
# Where the sidecar's CPU goes under the http1-keepalive load, kernel included:
# Linux `perf record` (cpu-clock sampling, works where hardware counters do not)
# of the sidecar process while wrk drives it, with node --perf-basic-prof so
# JIT-compiled JavaScript has names.
#
#   perf/perf-record-sidecar.sh [SECONDS=5]     (needs: perf (linux-perf), wrk, curl)
#
# Prints the split by where the code lives (kernel, the node binary: V8's
# builtins, runtime and Node's C++ bindings and libuv; JIT code: our
# TypeScript, node's own JS and compiled regular expressions; libc) and the
# top symbols of each. Same bootstrap and pinning as perf/http1-keepalive.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SECS="${1:-5}"
CONNS="${CONNS:-50}"
# shellcheck source=perf/lib.sh
source "$HERE/lib.sh"
perf_node
perf_require perf wrk curl
perf_pinning
perf_tmpdir perf-record-sidecar
read -r UP_PORT SC_PORT SC_ADMIN < <("$NODE" "$HERE/free-port.mjs" 3)
start_upstream "$UP_PORT"
sidecar_bootstrap "$SC_PORT" "$SC_ADMIN" "$UP_PORT" >"$TMP/bootstrap.yaml"
SIDECAR_NODE_FLAGS="--perf-basic-prof --logfile=$TMP/v8.log" start_sidecar "$TMP/bootstrap.yaml" "$SC_ADMIN"
wait_http "http://127.0.0.1:$SC_PORT/"
run_wrk 2 "http://127.0.0.1:$SC_PORT/" >/dev/null          # warm-up: let V8 optimise
run_wrk $(( SECS + 3 )) "http://127.0.0.1:$SC_PORT/" >"$TMP/wrk.txt" &
WRK=$!
sleep 1
perf record -e cpu-clock -F 5000 -p "$SC_PID" -o "$TMP/perf.data" -- sleep "$SECS" 2>"$TMP/perf-record.log" >/dev/null
wait "$WRK"
echo "wrk: $(awk '/^Requests\/sec:/ {print $2 " req/s"}' "$TMP/wrk.txt"); sidecar pid $SC_PID; $SECS s of samples"
set +o pipefail   # head closes the reports' pipes early
echo
echo "split by where the code lives (share of the sidecar's samples):"
perf report -i "$TMP/perf.data" --no-children --sort dso --stdio 2>/dev/null \
  | awk '/%/ && !/^#/ { d=$2; for (i=3;i<=NF;i++) d=d" "$i; sub(/^\[JIT\].*/, "[JIT] (JavaScript and regexps)", d); s[d]+=$1 } END { for (d in s) printf "  %6.2f%%  %s\n", s[d], d }' \
  | sort -rn
for dso in '[kernel.kallsyms]' node; do
  echo
  echo "top symbols in $dso:"
  perf report -i "$TMP/perf.data" --no-children --dso "$dso" --sort sym --stdio 2>/dev/null \
    | awk '/%/ && !/^#/' | head -15 | cut -c1-140
done
echo
echo "top JIT symbols (JS:* optimised, JS:+ baseline; names of code the GC moved can be stale):"
perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null \
  | awk '/%/ && !/^#/ && /\[JIT\]/' | head -25 | sed 's|file://'"$ROOT"'/||' | cut -c1-150
