#!/usr/bin/env bash
# HTTP/1.1 keep-alive proxy benchmark: direct upstream vs themis-sidecar vs nginx.
#
#   perf/http1-keepalive.sh [--write]        (DURATION=10 by default, seconds per measured run)
#
# One run starts (all on 127.0.0.1, free ports, everything in a temp dir):
#   - upstream: perf/upstream-server.mjs (node:http, 200 + 100-byte body, keep-alive)
#   - themis-sidecar (Node 24) with a generated bootstrap: HCM listener -> STATIC cluster
#   - nginx (worker_processes 1, upstream keepalive 64, proxy_http_version 1.1)
# Pinning on a 2-core box (when taskset exists):
#   core 0: the proxy under test (sidecar, nginx) -- only one of them is loaded at a time
#   core 1: wrk (-t1 -c50) and the upstream (both targets pay the same load generator/upstream cost)
# For each target: 2 s warm-up wrk run (not measured), then the measured run. For the proxies,
# CPU time (utime+stime from /proc/<pid>/stat, all threads; nginx master+worker) is sampled
# around the measured run and divided by wrk's request count; VmRSS is read after the run.
# --write replaces the section between the http1-keepalive markers in docs/performance.md.
# Everything started here is stopped on exit (trap).
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
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
CMDLINE="DURATION=$DURATION perf/http1-keepalive.sh${*:+ $*}"

# Node 24: the repo-local toolchain first, else whatever is on PATH.
if [[ -x "$ROOT/.tools/node24/node_modules/.bin/node" ]]; then
  PATH="$ROOT/.tools/node24/node_modules/.bin:$PATH"
fi
export PATH
NODE="$(command -v node)"
for tool in wrk nginx curl getconf; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
if [[ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 24 ]]; then
  echo "need Node.js 24+ (found $("$NODE" -v))" >&2; exit 1
fi

NGINX_BIN="$(command -v nginx)"
if command -v taskset >/dev/null; then
  PIN_PROXY=(taskset -c 0); PIN_LOAD=(taskset -c 1); PINNING="proxy on core 0; wrk + upstream on core 1 (taskset)"
else
  PIN_PROXY=(); PIN_LOAD=(); PINNING="no taskset: unpinned"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/http1-keepalive.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [[ $rc -ne 0 ]]; then
    for f in "$TMP"/*.log; do [[ -s "$f" ]] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r UP_PORT SC_PORT SC_ADMIN NG_PORT < <("$NODE" "$HERE/free-port.mjs" 4)

wait_http() { # url [tries]
  local url="$1" tries="${2:-100}"
  for _ in $(seq 1 "$tries"); do
    if [[ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" || true)" == 200 ]]; then return 0; fi
    sleep 0.1
  done
  echo "no 200 from $url" >&2; return 1
}

# ---- upstream ---------------------------------------------------------------
"${PIN_LOAD[@]}" "$NODE" "$HERE/upstream-server.mjs" "$UP_PORT" >"$TMP/upstream.log" 2>&1 &
UP_PID=$!; PIDS+=("$UP_PID")
wait_http "http://127.0.0.1:$UP_PORT/"

# ---- sidecar ----------------------------------------------------------------
cat >"$TMP/bootstrap.yaml" <<EOF
node: { id: perf-sidecar, cluster: perf }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $SC_ADMIN }
static_resources:
  listeners:
  - name: perf_listener
    address:
      socket_address: { address: 127.0.0.1, port_value: $SC_PORT }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: perf_http
          codec_type: AUTO
          route_config:
            name: perf_route
            virtual_hosts:
            - name: perf
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: perf_upstream, timeout: 15s }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: perf_upstream
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: perf_upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: $UP_PORT }
EOF
"${PIN_PROXY[@]}" "$NODE" ${SIDECAR_NODE_FLAGS:-} "$ROOT/bin/themis-sidecar.js" -c "$TMP/bootstrap.yaml" \
  --log-level error --drain-strategy immediate --drain-time-s 1 >"$TMP/sidecar.log" 2>&1 &
SC_PID=$!; PIDS+=("$SC_PID")
wait_http "http://127.0.0.1:$SC_ADMIN/ready" 150
wait_http "http://127.0.0.1:$SC_PORT/"

# ---- nginx ------------------------------------------------------------------
mkdir -p "$TMP/nginx"/{client_body,proxy,fastcgi,uwsgi,scgi}
chmod 0755 "$TMP"; chmod 1777 "$TMP/nginx"/*   # workers may run as nobody when we are root
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/client_body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream perf_upstream {
    server 127.0.0.1:$UP_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
      proxy_pass http://perf_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
"${PIN_PROXY[@]}" "$NGINX_BIN" -p "$TMP/" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" >"$TMP/nginx.log" 2>&1 &
NG_PID=$!; PIDS+=("$NG_PID")
wait_http "http://127.0.0.1:$NG_PORT/"

# ---- measurement helpers ----------------------------------------------------
TCK="$(getconf CLK_TCK)"
cpu_ticks() { # pids... -> "utime stime" summed (clock ticks)
  local ut=0 st=0 pid rest
  for pid in "$@"; do
    rest="$(cat "/proc/$pid/stat")"; rest="${rest##*) }"   # fields after "(comm) "
    # shellcheck disable=SC2086
    set -- $rest   # $1 = state (field 3) ... utime = field 14 -> $12, stime = field 15 -> $13
    ut=$(( ut + ${12} )); st=$(( st + ${13} ))
  done
  echo "$ut $st"
}
rss_kb() { # pids... -> VmRSS summed (kB)
  local total=0 pid v
  for pid in "$@"; do
    v="$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")"
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}
nginx_pids() { # master + its workers
  echo "$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')"
}
run_wrk() { # duration url -> output
  timeout $(( $1 + 30 )) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$1"s --latency "$2"
}
# latency -> microseconds, e.g. 512.00us 1.23ms 1.02s
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'; }
fmt_lat() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u/1000; else printf "%.0f us", u }'; }

ROWS=()
NOTES=()
RAW="$TMP/wrk-raw.txt"; : >"$RAW"
measure() { # name url pids-command|""
  local name="$1" url="$2" pidcmd="$3" pids="" out before after reqs rps p50 p99 non2xx errs cpu rss
  echo ">> $name: warm-up ${WARMUP}s" >&2
  run_wrk "$WARMUP" "$url" >/dev/null
  [[ -n "$pidcmd" ]] && pids="$($pidcmd)"
  # shellcheck disable=SC2086
  [[ -n "$pids" ]] && before="$(cpu_ticks $pids)"
  echo ">> $name: measuring ${DURATION}s ($url)" >&2
  out="$(run_wrk "$DURATION" "$url")"
  # shellcheck disable=SC2086
  [[ -n "$pids" ]] && after="$(cpu_ticks $pids)"
  { echo "### $name"; echo "$out"; } >>"$RAW"
  reqs="$(awk '/requests in/ {print $1; exit}' <<<"$out")"
  rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")"
  p50="$(to_us "$(awk '$1=="50%" {print $2}' <<<"$out")")"
  p99="$(to_us "$(awk '$1=="99%" {print $2}' <<<"$out")")"
  non2xx="$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' <<<"$out")"; non2xx="${non2xx:-0}"
  errs="$(awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print}' <<<"$out")"
  echo "   $name: requests=$reqs req/s=$rps non-2xx/3xx=$non2xx${errs:+ socket errors: $errs}" >&2
  if [[ "$non2xx" != 0 ]]; then echo "!! $name: $non2xx non-2xx/3xx responses" >&2; fi
  if [[ -n "$pids" ]]; then
    local du ds
    du=$(( ${after% *} - ${before% *} )); ds=$(( ${after#* } - ${before#* } ))
    cpu="$(awk -v d=$(( du + ds )) -v t="$TCK" -v r="$reqs" 'BEGIN { printf "%.1f", d / t * 1e6 / r }')"
    NOTES+=("$name: $(awk -v u=$du -v s=$ds -v t="$TCK" -v r="$reqs" -v d="$DURATION" 'BEGIN { printf "%.1f user + %.1f system us/req; %.0f%% of one core over the run", u/t*1e6/r, s/t*1e6/r, (u+s)/t/d*100 }')")
    # shellcheck disable=SC2086
    rss="$(awk -v k="$(rss_kb $pids)" 'BEGIN { printf "%.1f", k/1024 }')"
  else
    cpu="-"; rss="-"
  fi
  ROWS+=("| $name | $rps | $(fmt_lat "$p50") | $(fmt_lat "$p99") | $cpu | $rss | $non2xx |")
}
sidecar_pids() { echo "$SC_PID"; }

measure "direct upstream (node:http)" "http://127.0.0.1:$UP_PORT/" ""
measure "themis-sidecar" "http://127.0.0.1:$SC_PORT/" sidecar_pids
measure "nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||')" "http://127.0.0.1:$NG_PORT/" nginx_pids

# ---- report -----------------------------------------------------------------
CPU_MODEL="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
[[ -n "$CPU_MODEL" ]] || CPU_MODEL="$(awk -F': *' '/^(Hardware|cpu model|uarch)/ {print $2; exit}' /proc/cpuinfo)"
REPORT="$TMP/report.md"
{
  echo "Command: \`$CMDLINE\` ($(date -u +%Y-%m-%d)), \`wrk -t1 -c$CONNS -d${DURATION}s --latency\` after a ${WARMUP} s warm-up,"
  echo "GET / answered 200 with a 100-byte body by a keep-alive node:http upstream."
  echo
  echo "| target | req/s | p50 | p99 | CPU us/req | RSS MB | non-2xx/3xx |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "- machine: $(nproc) CPUs, ${CPU_MODEL:-unknown CPU}, $(uname -sr)"
  echo "- node $("$NODE" -v), $("$NGINX_BIN" -v 2>&1 | sed 's|^nginx version: ||'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
  echo "- pinning: $PINNING"
  for n in "${NOTES[@]}"; do echo "- CPU split, $n"; done
  echo "- CPU us/req: (utime+stime of the proxy process, all threads; nginx master+worker, 1 worker) over the measured run / requests wrk completed; RSS after the run"
  echo "- sidecar: \`--log-level error\`, HCM -> router -> STATIC cluster (1 endpoint), no health checks; nginx: upstream keepalive 64, proxy_http_version 1.1, access_log off"
} >"$REPORT"
echo
cat "$REPORT"
if [[ -n "${RAW_OUT:-}" ]]; then cp "$RAW" "$RAW_OUT"; fi

if [[ $WRITE -eq 1 ]]; then
  DOC="$ROOT/docs/performance.md"
  if [[ ! -f "$DOC" ]]; then
    cat >"$DOC" <<'EOF'
# Performance

Measurements of the sidecar's data path against a direct connection and
nginx on the same machine. Each section is generated by a script under
`perf/`; re-run it with `--write` to refresh the section in place.

## HTTP/1.1 keep-alive proxying

<!-- http1-keepalive:begin -->
<!-- http1-keepalive:end -->
EOF
  fi
  if ! grep -q '<!-- http1-keepalive:begin -->' "$DOC"; then
    printf '\n## HTTP/1.1 keep-alive proxying\n\n<!-- http1-keepalive:begin -->\n<!-- http1-keepalive:end -->\n' >>"$DOC"
  fi
  awk -v rep="$REPORT" '
    /<!-- http1-keepalive:begin -->/ { print; while ((getline l < rep) > 0) print l; skip=1; next }
    /<!-- http1-keepalive:end -->/ { skip=0 }
    !skip { print }
  ' "$DOC" >"$TMP/doc.md"
  cat "$TMP/doc.md" >"$DOC"
  echo "updated $DOC" >&2
fi
