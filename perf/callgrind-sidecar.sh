#!/usr/bin/env bash
# User-space instructions per proxied request of the sidecar, counted by
# valgrind's callgrind: repeatable (~0.5 %) where the wall-clock CPU figures of
# perf/http1-keepalive.sh move +-15 % with whatever else runs on the machine.
#
#   perf/callgrind-sidecar.sh [ROOT=this repository]     (N=5000 W=5000 C=20; CG_KEEP=DIR keeps the profile)
#
# Starts perf/upstream-server.mjs and the sidecar (bootstrap of
# perf/http1-keepalive.sh) under callgrind, sends W warm-up requests
# (perf/keepalive-client.mjs, C keep-alive connections), zeroes the counters,
# sends N requests, dumps, and prints total instructions (all threads, user
# space; system calls are not counted) / N, and the main thread's share (the event
# loop; the rest is V8's compiler and GC threads). Takes a few minutes: the sidecar
# runs ~50x slower under valgrind. ROOT may be another checkout (an A/B).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SIDECAR_ROOT="${1:-$ROOT}"
N="${N:-5000}"; W="${W:-5000}"; C="${C:-20}"
# shellcheck source=perf/lib.sh
source "$HERE/lib.sh"
perf_node
perf_require valgrind callgrind_control curl
PIN_PROXY=(); PIN_LOAD=()
perf_tmpdir callgrind-sidecar
read -r UP_PORT SC_PORT SC_ADMIN < <("$NODE" "$HERE/free-port.mjs" 3)
start_upstream "$UP_PORT"
sidecar_bootstrap "$SC_PORT" "$SC_ADMIN" "$UP_PORT" >"$TMP/bootstrap.yaml"
valgrind --tool=callgrind --smc-check=all-non-file --separate-threads=yes --callgrind-out-file="$TMP/cg.out" \
  "$(readlink -f "$NODE")" "$SIDECAR_ROOT/bin/themis-sidecar.js" -c "$TMP/bootstrap.yaml" \
  --log-level error >"$TMP/sidecar.log" 2>&1 &
VG_PID=$!; PIDS+=("$VG_PID")
wait_http "http://127.0.0.1:$SC_PORT/" 1200
"$NODE" "$HERE/keepalive-client.mjs" "$SC_PORT" "$W" "$C"
callgrind_control -z "$VG_PID" >/dev/null 2>&1
"$NODE" "$HERE/keepalive-client.mjs" "$SC_PORT" "$N" "$C"
callgrind_control -d "$VG_PID" >/dev/null 2>&1
for _ in $(seq 1 50); do compgen -G "$TMP/cg.out.*" >/dev/null && break; sleep 0.2; done
sleep 1
# One file per thread: -01 is the main thread (the event loop: the per-request work); the others
# are V8's compiler and GC helpers and libuv's pool, whose share falls as the warm-up grows.
total="$(grep -h '^summary:' "$TMP"/cg.out.* | awk '{s += $2} END {print s}')"
main="$(grep -h '^summary:' "$TMP"/cg.out.*-01 | awk '{s += $2} END {print s}')"
echo "sidecar $SIDECAR_ROOT: $N requests, $total instructions, $(( total / N )) per request (main thread $(( main / N )))"
if [[ -n "${CG_KEEP:-}" ]]; then mkdir -p "$CG_KEEP" && cp "$TMP"/cg.out.* "$CG_KEEP"/ && echo "callgrind output kept in $CG_KEEP (callgrind_annotate)"; fi
