#!/usr/bin/env bash
# TLS 1.3 benchmark: themis-sidecar vs nginx terminating TLS with the same certificate and key.
#
#   perf/tls.sh [--write]      (DURATION=10 by default, seconds per measured run)
#
# One run starts (all on 127.0.0.1, free ports, everything in a temp dir):
#   - a dev PKI (`themis-sidecar certs`): root CA + workload certificate, ECDSA P-256 (KEY_TYPE=rsa: RSA-2048)
#   - upstream: perf/upstream-server.mjs (node:http, 200 + 100-byte body, keep-alive), shared by both proxies
#   - themis-sidecar: an HTTPS listener (envoy.transport_sockets.tls, DownstreamTlsContext, ALPN
#     http/1.1, default params: TLS 1.3 only) and a plain HTTP listener, both HCM -> STATIC cluster
#   - nginx (1 worker): the same two servers, `ssl_protocols TLSv1.3`, the same chain.pem/key.pem,
#     TLS 1.3 suites and groups in the sidecar's order (AES-128-GCM first, X25519 first)
# Pinning as perf/http1-keepalive.sh: the proxy on core 0; clients and upstream on core 1.
# Measured per proxy:
#   1. full handshakes: HS_CLIENTS (4) parallel `openssl s_time -new -tls1_3` clients for DURATION s
#      (a new connection and full TLS 1.3 handshake each time, no resumption, no request);
#      handshakes/s = completed handshakes / wall time; proxy CPU us per handshake from /proc stat.
#   2. HTTPS keep-alive: `wrk -t1 -c50` over TLS (WARMUP s warm-up, then DURATION s), CPU us/request
#      of the proxy as in perf/http1-keepalive.sh; the same over plain HTTP as the reference.
# --write replaces the section between the tls markers in docs/performance.md.
# Everything started here is stopped on exit (trap). Shared pieces: perf/lib.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-50}"
HS_CLIENTS="${HS_CLIENTS:-4}"
KEY_TYPE="${KEY_TYPE:-ec}"
WRITE=0
for a in "$@"; do
  case "$a" in
    --write) WRITE=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
CMDLINE="DURATION=$DURATION perf/tls.sh${*:+ $*}"
LOAD_BEFORE="$(cut -d" " -f1-3 /proc/loadavg)"

# shellcheck source=perf/lib.sh
source "$HERE/lib.sh"
perf_node
perf_require wrk nginx curl openssl getconf
NGINX_BIN="$(command -v nginx)"
perf_pinning
perf_tmpdir tls-bench

read -r UP_PORT SC_TLS SC_PLAIN SC_ADMIN NG_TLS NG_PLAIN < <("$NODE" "$HERE/free-port.mjs" 6)

# ---- certificates -----------------------------------------------------------
PKI="$TMP/pki"
"$NODE" "$ROOT/bin/themis-sidecar.js" certs ca --out "$PKI/ca" --key-type "$KEY_TYPE" >"$TMP/certs.log" 2>&1
"$NODE" "$ROOT/bin/themis-sidecar.js" certs workload --ca "$PKI/ca" --out "$PKI/server" --key-type "$KEY_TYPE" \
  --dns localhost --ip 127.0.0.1 >>"$TMP/certs.log" 2>&1
CHAIN="$PKI/server/chain.pem"; KEY="$PKI/server/key.pem"; CA="$PKI/server/ca.pem"
chmod 0755 "$PKI" "$PKI/server"; chmod 0644 "$KEY"   # a throwaway key; nginx reads it as root anyway

# ---- upstream ---------------------------------------------------------------
start_upstream "$UP_PORT"

# ---- sidecar ----------------------------------------------------------------
{
  cat <<EOF
node: { id: perf-sidecar, cluster: perf }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $SC_ADMIN }
static_resources:
  listeners:
  - name: perf_https
    address:
      socket_address: { address: 127.0.0.1, port_value: $SC_TLS }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [http/1.1]
            tls_certificates:
            - certificate_chain: { filename: $CHAIN }
              private_key: { filename: $KEY }
      filters:
EOF
  sidecar_hcm perf_https
  cat <<EOF
  - name: perf_http
    address:
      socket_address: { address: 127.0.0.1, port_value: $SC_PLAIN }
    filter_chains:
    - filters:
EOF
  sidecar_hcm perf_http
  sidecar_cluster "$UP_PORT"
} >"$TMP/bootstrap.yaml"
start_sidecar "$TMP/bootstrap.yaml" "$SC_ADMIN"
wait_http "https://127.0.0.1:$SC_TLS/"
wait_http "http://127.0.0.1:$SC_PLAIN/"

# ---- nginx ------------------------------------------------------------------
nginx_write_conf "$UP_PORT" "  server {
    listen 127.0.0.1:$NG_TLS ssl;
    ssl_certificate $CHAIN;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.3;
    ssl_prefer_server_ciphers on;
    ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
    ssl_ecdh_curve X25519:prime256v1;
$(nginx_location)
  }
  server {
    listen 127.0.0.1:$NG_PLAIN;
$(nginx_location)
  }" >"$TMP/nginx.conf"
start_nginx "$TMP/nginx.conf" "https://127.0.0.1:$NG_TLS/"
wait_http "http://127.0.0.1:$NG_PLAIN/"

# ---- what each proxy negotiates ----------------------------------------------
negotiated() { # port -> "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 session tickets, verify: 0 (ok)"
  local out   # stdin held open 1 s: Node writes its session tickets a turn after the handshake
  out="$( (sleep 1) | openssl s_client -connect "127.0.0.1:$1" -CAfile "$CA" -servername localhost -msg 2>&1 || true)"
  awk '
    /^New, TLS/ { sub(/,$/, "", $2); p=$2; c=$NF } /^Server Temp Key:/ { sub(/^Server Temp Key: /, ""); sub(/,.*/, ""); g=$0 }
    /<<< .*NewSessionTicket/ { t++ }
    /^Verify return code:/ { sub(/^Verify return code: /, ""); v=$0 }
    END { printf "%s %s %s, %d session tickets, verify: %s", p, c, g, t, v }' <<<"$out"
}
NEG_SC="$(negotiated "$SC_TLS")"; NEG_NG="$(negotiated "$NG_TLS")"
echo "negotiated: sidecar $NEG_SC; nginx $NEG_NG" >&2

# ---- handshakes -------------------------------------------------------------
s_time() { # port seconds outfile
  timeout $(( $2 + 30 )) "${PIN_LOAD[@]}" openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 \
    -CAfile "$CA" -no-CApath -time "$2" >"$3" 2>&1
}
now() { date +%s.%N; }
HS_ROWS=()
HS_NOTES=()
measure_hs() { # name port pids-command
  local name="$1" port="$2" pids before after t0 t1 i n cu fail=0 hpids=()
  echo ">> $name: handshake warm-up 1s" >&2
  s_time "$port" 1 "$TMP/hs-warm.txt" || { cat "$TMP/hs-warm.txt" >&2; return 1; }
  pids="$($3)"
  # shellcheck disable=SC2086
  before="$(cpu_ticks $pids)"; t0="$(now)"
  echo ">> $name: handshakes, $HS_CLIENTS x openssl s_time -new for ${DURATION}s" >&2
  for i in $(seq 1 "$HS_CLIENTS"); do
    s_time "$port" "$DURATION" "$TMP/hs-$i.txt" &
    hpids+=($!)
  done
  for i in "${hpids[@]}"; do wait "$i" || fail=$(( fail + 1 )); done
  # shellcheck disable=SC2086
  after="$(cpu_ticks $pids)"; t1="$(now)"
  # "N connections in U.UUs; R connections/user sec" (U = the client's user CPU seconds)
  read -r n cu < <(cat "$TMP"/hs-[0-9]*.txt | awk '/connections in .*user sec/ { n += $1; u += $4 + 0 } END { print n+0, u+0 }')
  rm -f "$TMP"/hs-[0-9]*.txt
  [[ $fail -eq 0 ]] || echo "!! $name: $fail of $HS_CLIENTS s_time clients failed" >&2
  local du=$(( ${after% *} - ${before% *} )) ds=$(( ${after#* } - ${before#* } ))
  local d=$(( du + ds ))
  HS_NOTES+=("$name: $(awk -v u=$du -v s=$ds -v t="$TCK" -v n="$n" 'BEGIN { printf "%.0f user + %.0f system us/handshake", u/t*1e6/n, s/t*1e6/n }')")
  HS_ROWS+=("$(awk -v name="$name" -v n="$n" -v d="$d" -v t="$TCK" -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v cu="$cu" -v f="$fail" '
    BEGIN { us = d / t * 1e6 / n
      printf "| %s | %.0f | %.0f | %.0f | %.0f%% | %.0f%% | %d |", name, n / w, us, 1e6 / us, d / t / w * 100, cu / w * 100, f }')")
  echo "   ${HS_ROWS[-1]}" >&2
}

# Handshakes first (each proxy alone on core 0), then keep-alive.
measure_hs "themis-sidecar" "$SC_TLS" sidecar_pids
measure_hs "nginx $(nginx_version)" "$NG_TLS" nginx_pids

RAW="$TMP/wrk-raw.txt"; : >"$RAW"
measure_wrk "themis-sidecar, https" "https://127.0.0.1:$SC_TLS/" sidecar_pids
measure_wrk "nginx $(nginx_version), https" "https://127.0.0.1:$NG_TLS/" nginx_pids
measure_wrk "themis-sidecar, http (reference)" "http://127.0.0.1:$SC_PLAIN/" sidecar_pids
measure_wrk "nginx $(nginx_version), http (reference)" "http://127.0.0.1:$NG_PLAIN/" nginx_pids

# ---- report -----------------------------------------------------------------
REPORT="$TMP/report.md"
{
  echo "Command: \`$CMDLINE\` ($(date -u +%Y-%m-%d)); load average before the run: $LOAD_BEFORE."
  echo "Server certificate: dev PKI (\`themis-sidecar certs\`), $([[ $KEY_TYPE == rsa ]] && echo RSA-2048 || echo ECDSA P-256) leaf signed by a root CA, the same chain.pem/key.pem for both proxies."
  echo
  echo "Full TLS 1.3 handshakes: $HS_CLIENTS parallel \`openssl s_time -connect 127.0.0.1:PORT -new -tls1_3 -time $DURATION\` clients"
  echo "(new TCP connection and full handshake each time, no resumption, no HTTP request), after a 1 s warm-up."
  echo
  echo "| target | handshakes/s | proxy CPU us/handshake | one proxy core's worth (1e6 / us) | proxy CPU, % of a core | clients' user CPU, % of a core | failed clients |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${HS_ROWS[@]}"
  echo
  echo "HTTPS keep-alive: \`wrk -t1 -c$CONNS -d${DURATION}s --latency\` after a ${WARMUP} s warm-up (handshakes only at connect), GET / answered 200"
  echo "with a 100-byte body by the shared node:http upstream (plain HTTP from the proxy); the plain-HTTP rows are the same proxies"
  echo "and upstream without TLS, measured in the same run."
  echo
  echo "| target | req/s | p50 | p99 | CPU us/req | RSS MB | non-2xx/3xx |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  machine_line
  echo "- node $("$NODE" -v) (OpenSSL $("$NODE" -p process.versions.openssl)), $("$NGINX_BIN" -v 2>&1 | sed 's|^nginx version: ||') ($("$NGINX_BIN" -V 2>&1 | sed -n 's|^built with ||p' | awk '{print $1, $2}')), client $(openssl version | awk '{print $1, $2}'), $(wrk -v 2>&1 | head -1 | awk '{print "wrk " $2}')"
  echo "- negotiated (openssl s_client): sidecar $NEG_SC; nginx $NEG_NG"
  echo "- pinning: $PINNING (the handshake clients on core 1 too)"
  for n in "${HS_NOTES[@]}" "${NOTES[@]}"; do echo "- CPU split, $n"; done
  echo "- CPU us: utime+stime of the proxy process (all threads; nginx master+worker, 1 worker) over the measured run, / handshakes completed or / requests wrk completed; RSS after the run"
  echo "- handshakes/s is what the clients reached: when the clients' core is the limit (clients' CPU near 100 %, proxy well below), the proxy's capacity is the 1e6 / us column"
  echo "- sidecar: \`--log-level error\`, DownstreamTlsContext with tls_certificates (filename) and alpn_protocols [http/1.1], nothing else (TLS 1.3 only by default); nginx: \`ssl_protocols TLSv1.3\`, default session tickets, no session cache, upstream keepalive 64, access_log off"
} >"$REPORT"
echo
cat "$REPORT"
if [[ -n "${RAW_OUT:-}" ]]; then cp "$RAW" "$RAW_OUT"; fi

if [[ $WRITE -eq 1 ]]; then
  write_doc_section tls "TLS 1.3 termination: handshakes and HTTPS keep-alive" "$REPORT"
fi
