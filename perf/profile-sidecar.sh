#!/usr/bin/env bash
# CPU-profile the sidecar under the http1-keepalive load: runs
# perf/http1-keepalive.sh with SIDECAR_NODE_FLAGS="--cpu-prof ..." and aggregates the profile.
#   perf/profile-sidecar.sh [OUTDIR=/tmp/prof]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-/tmp/prof}"
mkdir -p "$OUT"
[[ -x "$HERE/../.tools/node24/node_modules/.bin/node" ]] && PATH="$HERE/../.tools/node24/node_modules/.bin:$PATH"
before="$(ls "$OUT"/*.cpuprofile 2>/dev/null || true)"
SIDECAR_NODE_FLAGS="--cpu-prof --cpu-prof-dir=$OUT --cpu-prof-interval=${INTERVAL_US:-250}" \
  DURATION="${DURATION:-10}" "$HERE/http1-keepalive.sh"
prof="$(ls -t "$OUT"/*.cpuprofile | head -1)"
grep -qxF "$prof" <<<"$before" && { echo "no new profile in $OUT" >&2; exit 1; }
cd "$HERE/.." && node "$HERE/cpuprofile-top.mjs" "$prof" 15 --inclusive
