#!/usr/bin/env bash
# Issue 10's scale target: one client's p50 latency of W1, W2 and W3 on `gen.py --scale N`
# (default 100: 1M products, 10M stock rows, 20M ledger rows) against `--scale 1`, the same
# build in the same run, each imported into a private PostgreSQL (fsync on) and served.
# The two servers take turns document by document, three rounds; the figure is the median of
# the rounds' p50s. See bench/README.md.
#
# Usage: bench/scale.sh [SCALE] [REQUESTS]   (default 100 and 300 requests per measurement)
# Env: BENCH_CACHE (where gen.py's output is kept), KEEP=1 (keep the clusters).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${1:-100}
REQS=${2:-300}
CACHE=${BENCH_CACHE:-/tmp/stockroom-bench-cache}
GEN_PY=${STOCKROOM_SHARED_DIR:-../shared}/datagen/gen.py
TMP=$(mktemp -d /tmp/stockroom-scale.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach the data directories inside
unset DATABASE_URL
STARTED=()
source bench/lib.sh

cleanup() {
  stop_started
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$TMP"/s*/pgdata
  echo "(logs kept in $TMP)"
}
trap cleanup EXIT

echo "== build"
cargo build --release --bin stockroom --example loadgen
mkdir -p "$TMP/bin"
cp target/release/stockroom target/release/examples/loadgen "$TMP/bin/"
echo "build: $(git describe --always --dirty)"

declare -A URL TOKEN CODE SKU
SIZES=(1 "$SCALE")
port=18400
for s in "${SIZES[@]}"; do
  gen=$(dataset "$s")
  d=$TMP/s$s t=$SECONDS port=$((port + 1))
  serve_imported "$TMP/bin/stockroom" "$d" "$gen" "$port"
  URL[$s]=http://127.0.0.1:$port/graphql TOKEN[$s]=$SERVED_TOKEN
  pick_inputs "$d"
  CODE[$s]=$PICKED_CODE SKU[$s]=$PICKED_SKU
  echo "scale $s: $(grep -o 'imported .*' "$d/import.log"), set up in $((SECONDS - t)) s;" \
    "database $(psql_in "$d" -Atc "SELECT pg_size_pretty(pg_database_size('stockroom'))");" \
    "W2 store ${CODE[$s]}, W3 product ${SKU[$s]}"
done

p50() { # SCALE DOC REQUESTS
  "$TMP/bin/loadgen" "${URL[$1]}" "${TOKEN[$1]}" "$2" --code "${CODE[$1]}" --sku "${SKU[$1]}" \
    --connections 1 --requests "$3" | sed 's/.*p50_ms=\([0-9.]*\).*/\1/'
}

echo "== one client, $REQS requests per measurement, scales alternating, 3 rounds"
declare -A SEEN
for round in 1 2 3; do
  for doc in W1 W2 W3; do
    for s in "${SIZES[@]}"; do
      p50 "$s" "$doc" 50 >/dev/null # warm-up
      SEEN[$doc $s]+="$(p50 "$s" "$doc" "$REQS") "
    done
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | sed -n 2p; }
printf '%-4s %14s %14s %8s %8s\n' doc "p50 scale 1" "p50 scale $SCALE" ratio target
for doc in W1 W2 W3; do
  a=$(median "${SEEN[$doc 1]}") b=$(median "${SEEN[$doc $SCALE]}")
  printf '%-4s %11s ms %11s ms %8s %8s\n' "$doc" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}')" "<= 1.5"
  echo "   rounds: scale 1 [${SEEN[$doc 1]% }]  scale $SCALE [${SEEN[$doc $SCALE]% }]"
done
