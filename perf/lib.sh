# Shared pieces of the perf/*.sh proxy benchmarks (sourced, not run):
#   perf/http1-keepalive.sh, perf/tls.sh
# The caller sets HERE (perf/), ROOT (the repository), and, for measure_wrk,
# DURATION, WARMUP and CONNS. Everything a script starts goes into PIDS and is
# stopped on exit; TMP is removed on exit.
# shellcheck shell=bash

# Node 24: the repo-local toolchain first, else whatever is on PATH. Sets NODE.
perf_node() {
  if [[ -x "$ROOT/.tools/node24/node_modules/.bin/node" ]]; then
    PATH="$ROOT/.tools/node24/node_modules/.bin:$PATH"
  fi
  export PATH
  NODE="$(command -v node)"
  if [[ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 24 ]]; then
    echo "need Node.js 24+ (found $("$NODE" -v))" >&2; exit 1
  fi
}

perf_require() { # tools...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
  done
}

# core 0: the proxy under test; core 1: load generator + upstream (2-core box).
perf_pinning() {
  if command -v taskset >/dev/null; then
    PIN_PROXY=(taskset -c 0); PIN_LOAD=(taskset -c 1); PINNING="proxy on core 0; wrk + upstream on core 1 (taskset)"
  else
    PIN_PROXY=(); PIN_LOAD=(); PINNING="no taskset: unpinned"
  fi
}

# perf_tmpdir NAME: TMP=a fresh temp dir; PIDS stopped (TERM, then KILL after 5 s) and TMP removed on exit.
perf_tmpdir() {
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"
  PIDS=()
  trap perf_cleanup EXIT
  trap 'exit 130' INT TERM
}
perf_cleanup() {
  local rc=$? pid f
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

wait_http() { # url [tries]   (https: certificate not checked)
  local url="$1" tries="${2:-100}"
  for _ in $(seq 1 "$tries"); do
    if [[ "$(curl -sk -o /dev/null -m 1 -w '%{http_code}' "$url" || true)" == 200 ]]; then return 0; fi
    sleep 0.1
  done
  echo "no 200 from $url" >&2; return 1
}

# start_upstream PORT: perf/upstream-server.mjs on the load core; sets UP_PID.
start_upstream() {
  "${PIN_LOAD[@]}" "$NODE" "$HERE/upstream-server.mjs" "$1" >"$TMP/upstream.log" 2>&1 &
  UP_PID=$!; PIDS+=("$UP_PID")
  wait_http "http://127.0.0.1:$1/"
}

# The sidecar's bootstrap pieces: HCM -> router -> STATIC cluster perf_upstream.
# sidecar_hcm STAT_PREFIX: the `filters:` list items of a filter chain (6-space indent).
sidecar_hcm() {
  cat <<EOF
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
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
EOF
}
sidecar_cluster() { # UPSTREAM_PORT: the `clusters:` list (2-space indent)
  cat <<EOF
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
              socket_address: { address: 127.0.0.1, port_value: $1 }
EOF
}
# sidecar_bootstrap LISTEN_PORT ADMIN_PORT UPSTREAM_PORT > bootstrap.yaml: one plain HTTP listener
# (HCM -> router) in front of the STATIC cluster perf_upstream; admin on ADMIN_PORT.
sidecar_bootstrap() {
  cat <<EOF
node: { id: perf-sidecar, cluster: perf }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $2 }
static_resources:
  listeners:
  - name: perf_listener
    address:
      socket_address: { address: 127.0.0.1, port_value: $1 }
    filter_chains:
    - filters:
EOF
  sidecar_hcm perf_http
  sidecar_cluster "$3"
}
# start_sidecar BOOTSTRAP ADMIN_PORT: on the proxy core; sets SC_PID; waits for /ready.
start_sidecar() {
  # shellcheck disable=SC2086
  "${PIN_PROXY[@]}" "$NODE" ${SIDECAR_NODE_FLAGS:-} "$ROOT/bin/themis-sidecar.js" -c "$1" \
    --log-level error --drain-strategy immediate --drain-time-s 1 >"$TMP/sidecar.log" 2>&1 &
  SC_PID=$!; PIDS+=("$SC_PID")
  wait_http "http://127.0.0.1:$2/ready" 150
}
sidecar_pids() { echo "$SC_PID"; }

# nginx_write_conf UPSTREAM_PORT SERVER_BLOCKS > conf: 1 worker, upstream keepalive 64, no access log.
nginx_write_conf() {
  mkdir -p "$TMP/nginx"/{client_body,proxy,fastcgi,uwsgi,scgi}
  chmod 0755 "$TMP"; chmod 1777 "$TMP/nginx"/*   # workers may run as nobody when we are root
  cat <<EOF
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
    server 127.0.0.1:$1;
    keepalive 64;
    keepalive_requests 1000000;
  }
$2
}
EOF
}
nginx_location() { # the proxy_pass location of every server block
  cat <<'EOF'
    location / {
      proxy_pass http://perf_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
EOF
}
# start_nginx CONF URL: on the proxy core; sets NG_PID; waits for a 200 from URL.
start_nginx() {
  "${PIN_PROXY[@]}" "$NGINX_BIN" -p "$TMP/" -e "$TMP/nginx-error.log" -c "$1" >"$TMP/nginx.log" 2>&1 &
  NG_PID=$!; PIDS+=("$NG_PID")
  wait_http "$2"
}
nginx_pids() { # master + its workers
  echo "$NG_PID $(pgrep -P "$NG_PID" | tr '\n' ' ')"
}
nginx_version() { "$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||'; }

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
run_wrk() { # duration url -> output
  timeout $(( $1 + 30 )) "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"$1"s --latency "$2"
}
# latency -> microseconds, e.g. 512.00us 1.23ms 1.02s
to_us() { awk -v v="$1" 'BEGIN { n=v+0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n*1000; else if (v ~ /s$/) print n*1000000; else print n }'; }
fmt_lat() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u/1000; else printf "%.0f us", u }'; }

# measure_wrk NAME URL PIDS-COMMAND|"": WARMUP s of wrk (not measured), then DURATION s measured;
# appends "| name | req/s | p50 | p99 | CPU us/req | RSS MB | non-2xx/3xx |" to ROWS and the
# user/system split to NOTES; wrk's output to $RAW.
ROWS=()
NOTES=()
CPUS=()
measure_wrk() {
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
  CPUS+=("$cpu")
  ROWS+=("| $name | $rps | $(fmt_lat "$p50") | $(fmt_lat "$p99") | $cpu | $rss | $non2xx |")
}

machine_line() { # "- machine: ..." for the report
  local cpu
  cpu="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  [[ -n "$cpu" ]] || cpu="$(awk -F': *' '/^(Hardware|cpu model|uarch)/ {print $2; exit}' /proc/cpuinfo)"
  echo "- machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(uname -sr)"
}

# write_doc_section MARKER TITLE REPORT: replaces the text between <!-- MARKER:begin/end -->
# in docs/performance.md with REPORT (the section "## TITLE" is appended when missing).
write_doc_section() {
  local marker="$1" title="$2" report="$3" doc="$ROOT/docs/performance.md"
  if [[ ! -f "$doc" ]]; then
    cat >"$doc" <<'EOF'
# Performance

Measurements of the sidecar's data path against a direct connection and
nginx on the same machine. Each section is generated by a script under
`perf/`; re-run it with `--write` to refresh the section in place.
EOF
  fi
  if ! grep -q "<!-- $marker:begin -->" "$doc"; then
    printf '\n## %s\n\n<!-- %s:begin -->\n<!-- %s:end -->\n' "$title" "$marker" "$marker" >>"$doc"
  fi
  awk -v rep="$report" -v b="<!-- $marker:begin -->" -v e="<!-- $marker:end -->" '
    index($0, b) { print; while ((getline l < rep) > 0) print l; skip=1; next }
    index($0, e) { skip=0 }
    !skip { print }
  ' "$doc" >"$TMP/doc.md"
  cat "$TMP/doc.md" >"$doc"
  echo "updated $doc" >&2
}
