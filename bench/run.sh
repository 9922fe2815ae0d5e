#!/usr/bin/env bash
# The stock-movement benchmark: one recordOutbound end to end (HTTP -> GraphQL -> commit ->
# response) at 16 and 64 connections, and the same SQL through pgbench, on one private
# PostgreSQL with fsync on. Usage: bench/run.sh [SECONDS]   (default 15 per run)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-15}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ADDR=127.0.0.1:18089
DATA=$(mktemp -d /tmp/stockroom-bench.XXXXXX)
chmod 755 "$DATA"

cargo build --release --bin stockroom --example loadgen

unset DATABASE_URL
STOCKROOM_DATA_DIR="$DATA" ./target/release/stockroom serve --listen "$ADDR" >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 120); do grep -q "listening" "$DATA/serve.log" && break; sleep 0.5; done
TOKEN=$(grep -o 'sr_[A-Za-z0-9_-]*' "$DATA/serve.log" | head -1)
PSQL=(psql -q -h "$DATA/run" -p 5432 -U postgres stockroom)
"${PSQL[@]}" -f bench/setup.sql
echo "fsync: $("${PSQL[@]}" -Atc 'SHOW fsync')  synchronous_commit: $("${PSQL[@]}" -Atc 'SHOW synchronous_commit')"
lscpu | grep -E '^(Model name|CPU\(s\))'

for C in 16 64; do
  echo "== service, $C connections, ${SECS}s"
  ./target/release/examples/loadgen "http://$ADDR/graphql" "$TOKEN" "$C" "$SECS" 50 3
done
for C in 16 64; do
  echo "== pgbench, $C clients, ${SECS}s"
  "$PGBIN/pgbench" -n -M prepared -h "$DATA/run" -p 5432 -U postgres -c "$C" -j 2 -T "$SECS" \
    -f bench/outbound.sql stockroom | grep -E 'tps|latency average'
done
echo "== ledger reconciles (pairs off):"
"${PSQL[@]}" -Atc "SELECT count(*) FROM (SELECT s.product_id FROM stocks s JOIN inventory_transactions t USING (product_id, store_id) GROUP BY s.product_id, s.store_id, s.quantity HAVING s.quantity <> sum(t.quantity)) x"
