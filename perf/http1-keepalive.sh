#!/usr/bin/env bash
# HTTP/1.1 keep-alive proxy benchmark: direct upstream vs themis-sidecar vs nginx.
#
#   perf/http1-keepalive.sh [--write]        (DURATION=10 by default, seconds per measured run)
#
# One run starts (all on 127.0.0.1, free ports, everything in a temp dir):
#   - upstream: perf/upstream-server.mjs (node:http, 200 + 100-byte body, keep-alive)
#   - themis-sidecar (Node 24) with a generated bootstrap: HCM listener -> STATIC cluster
#   - nginx (worker_processes 1, upstream keepalive 64, proxy_http_version 1.1)
#   - perf/naive-proxy.mjs: node:http server piped to node:http with a keep-alive Agent, the
#     issue's "naive Node proxy" reference, so machines of different speed can be compared
#   - perf/relay-floor.mjs: a Node byte relay with no HTTP (each client connection paired with an
#     upstream one): the CPU any Node proxy spends per request in node:net and the kernel
# Pinning on a 2-core box (when taskset exists):
#   core 0: the proxy under test (sidecar, nginx) -- only one of them is loaded at a time
#   core 1: wrk (-t1 -c50) and the upstream (both targets pay the same load generator/upstream cost)
# For each target: 2 s warm-up wrk run (not measured), then the measured run. For the proxies,
# CPU time (utime+stime from /proc/<pid>/stat, all threads; nginx master+worker) is sampled
# around the measured run and divided by wrk's request count; VmRSS is read after the run.
# --write replaces the section between the http1-keepalive markers in docs/performance.md.
# Everything started here is stopped on exit (trap). Shared pieces: perf/lib.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-50}"
WRITE=0
for a in "$@"; do
  case "$a" in
    --write) WRITE=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
CMDLINE="DURATION=$DURATION perf/http1-keepalive.sh${*:+ $*}"

# shellcheck source=perf/lib.sh
source "$HERE/lib.sh"
perf_node
perf_require wrk nginx curl getconf
NGINX_BIN="$(command -v nginx)"
perf_pinning
perf_tmpdir http1-keepalive

read -r UP_PORT SC_PORT SC_ADMIN NG_PORT NV_PORT RF_PORT < <("$NODE" "$HERE/free-port.mjs" 6)

# ---- upstream ---------------------------------------------------------------
start_upstream "$UP_PORT"

# ---- sidecar ----------------------------------------------------------------
sidecar_bootstrap "$SC_PORT" "$SC_ADMIN" "$UP_PORT" >"$TMP/bootstrap.yaml"
start_sidecar "$TMP/bootstrap.yaml" "$SC_ADMIN"
wait_http "http://127.0.0.1:$SC_PORT/"

# ---- nginx ------------------------------------------------------------------
nginx_write_conf "$UP_PORT" "  server {
    listen 127.0.0.1:$NG_PORT;
$(nginx_location)
  }" >"$TMP/nginx.conf"
start_nginx "$TMP/nginx.conf" "http://127.0.0.1:$NG_PORT/"

# ---- naive Node proxy (the issue's reference point) -------------------------
"${PIN_PROXY[@]}" "$NODE" "$HERE/naive-proxy.mjs" "$NV_PORT" "$UP_PORT" >"$TMP/naive.log" 2>&1 &
NV_PID=$!; PIDS+=("$NV_PID")
wait_http "http://127.0.0.1:$NV_PORT/"
naive_pids() { echo "$NV_PID"; }

# ---- the floor: a Node byte relay with no HTTP (perf/relay-floor.mjs) ----------
"${PIN_PROXY[@]}" "$NODE" "$HERE/relay-floor.mjs" "$RF_PORT" "$UP_PORT" >"$TMP/relay.log" 2>&1 &
RF_PID=$!; PIDS+=("$RF_PID")
wait_http "http://127.0.0.1:$RF_PORT/"
relay_pids() { echo "$RF_PID"; }

# ---- measurements (perf/lib.sh) -------------------------------------------
RAW="$TMP/wrk-raw.txt"; : >"$RAW"
measure_wrk "direct upstream (node:http)" "http://127.0.0.1:$UP_PORT/" ""
measure_wrk "themis-sidecar" "http://127.0.0.1:$SC_PORT/" sidecar_pids
measure_wrk "nginx $(nginx_version)" "http://127.0.0.1:$NG_PORT/" nginx_pids
measure_wrk "naive Node proxy (node:http + keep-alive Agent)" "http://127.0.0.1:$NV_PORT/" naive_pids
measure_wrk "floor: Node byte relay, no HTTP (node:net, 1:1 connections)" "http://127.0.0.1:$RF_PORT/" relay_pids

# ---- report -----------------------------------------------------------------
REPORT="$TMP/report.md"
{
  echo "Command: \`$CMDLINE\` ($(date -u +%Y-%m-%d)), \`wrk -t1 -c$CONNS -d${DURATION}s --latency\` after a ${WARMUP} s warm-up,"
  echo "GET / answered 200 with a 100-byte body by a keep-alive node:http upstream."
  echo
  echo "| target | req/s | p50 | p99 | CPU us/req | RSS MB | non-2xx/3xx |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  machine_line
  echo "- node $("$NODE" -v), $("$NGINX_BIN" -v 2>&1 | sed 's|^nginx version: ||'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
  echo "- pinning: $PINNING"
  for n in "${NOTES[@]}"; do echo "- CPU split, $n"; done
  echo "- CPU us/req: (utime+stime of the proxy process, all threads; nginx master+worker, 1 worker) over the measured run / requests wrk completed; RSS after the run"
  awk -v s="${CPUS[1]}" -v n="${CPUS[2]}" -v v="${CPUS[3]}" 'BEGIN {
    printf "- same run, CPU per request: sidecar = %.2f x nginx = %.2f x the naive Node proxy", s/n, s/v
    printf " (issue 2 set 25 us where nginx cost ~10 us and a naive Node proxy ~45 us: 2.5 x nginx, 0.56 x naive;"
    printf " this run: nginx %.1f us, naive %.1f us)\n", n, v }'
  awk -v s="${CPUS[1]}" -v f="${CPUS[4]}" 'BEGIN {
    printf "- the floor (a Node byte relay: node:net reads and writes and the kernel, no HTTP) is %.1f us of the sidecar'"'"'s %.1f us; HTTP, routing, headers and stats add %.1f us\n", f, s, s-f }'
  echo "- sidecar: \`--log-level error\`, HCM -> router -> STATIC cluster (1 endpoint), no health checks; nginx: upstream keepalive 64, proxy_http_version 1.1, access_log off"
} >"$REPORT"
echo
cat "$REPORT"
if [[ -n "${RAW_OUT:-}" ]]; then cp "$RAW" "$RAW_OUT"; fi

if [[ $WRITE -eq 1 ]]; then
  write_doc_section http1-keepalive "HTTP/1.1 keep-alive proxying" "$REPORT"
fi
