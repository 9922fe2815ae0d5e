#!/usr/bin/env bash
# The request-path benchmark of issue 10: the documents W1, W2, W3 (reads) and M1 (one
# outbound movement), and W0 (`{ __typename }`, the floor of any request), on
# `gen.py --scale 1` imported into a private PostgreSQL with fsync on;
# CPU per request of stockroom and of PostgreSQL, rates, latencies, statements and round trips
# per request, one-client latency against pgbench running the same statements, memory; for the
# build of this working tree and, when BASELINE_BIN names another stockroom binary, for that
# one in the same run (runs interleaved). See bench/README.md.
#
# Usage: [BASELINE_BIN=/path/to/stockroom] bench/run.sh [SECONDS]   (default 10 per run)
# Env: PGBIN (PostgreSQL binaries), BENCH_CACHE (where gen.py's output is kept between runs),
#      DELAY_MS (one-way delay of the round-trip proxy, default 20), KEEP=1 (keep the clusters),
#      SCALE=N (also run bench/scale.sh N: one client's p50 on --scale N against --scale 1).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
PGB_SECS=$(((SECS + 1) / 2))
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CACHE=${BENCH_CACHE:-/tmp/stockroom-bench-cache}
GEN_PY=${STOCKROOM_SHARED_DIR:-../shared}/datagen/gen.py
DELAY_MS=${DELAY_MS:-20}
CLK_TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d /tmp/stockroom-bench.XXXXXX)
chmod 755 "$TMP" # the postgres user must reach the data directories inside
RESULTS=$TMP/results
: >"$RESULTS"
unset DATABASE_URL
T0=$SECONDS
source bench/lib.sh

declare -A BIN URL TOKEN DIR PID PORT NAME=([cur]=current [base]=baseline)
SIDES=(cur)
[[ -n ${BASELINE_BIN:-} ]] && SIDES+=(base)
STARTED=() # every process this script started, stopped on exit

cleanup() {
  stop_started
  if [[ ${KEEP:-0} != 1 ]]; then
    for side in "${SIDES[@]}"; do rm -rf "${DIR[$side]:-/nonexistent}/pgdata"; done
    rm -rf "$TMP/bin"
  fi
  echo "(logs, results and pgbench scripts kept in $TMP)"
}
trap cleanup EXIT

echo "== build"
cargo build --release --bin stockroom --example loadgen
BUILD_SECS=$((SECONDS - T0))
mkdir -p "$TMP/bin" # copies, so that a rebuild during the run changes nothing
cp target/release/stockroom "$TMP/bin/stockroom-cur"
cp target/release/examples/loadgen "$TMP/bin/loadgen"
BIN[cur]=$TMP/bin/stockroom-cur
LOADGEN=$TMP/bin/loadgen
if [[ -n ${BASELINE_BIN:-} ]]; then
  cp "$BASELINE_BIN" "$TMP/bin/stockroom-base"
  BIN[base]=$TMP/bin/stockroom-base
fi
echo "current: $(git describe --always --dirty) ($(git status --porcelain -- src Cargo.toml | wc -l) changed files in src/ and Cargo.toml); baseline: ${BASELINE_BIN:-none}"
lscpu | grep -E '^(Model name|CPU\(s\))' | tr -s ' '

GEN=$(dataset 1)

psql_() { psql_in "${DIR[$1]}" "${@:2}"; }


# utime+stime of a process in clock ticks; with `all`, also cutime+cstime (reaped children).
ticks() {
  local f
  f=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  read -r -a f <<<"$f" # f[0] is field 3 (state): utime is f[11], stime f[12], cutime f[13], cstime f[14]
  if [[ ${2:-} == all ]]; then echo $((f[11] + f[12] + f[13] + f[14])); else echo $((f[11] + f[12])); fi
}
svc_ticks() { ticks "${PID[$1]}"; }
pg_ticks() { # the postmaster (with the backends it has reaped) plus every live backend
  local pm total c
  pm=$(head -1 "${DIR[$1]}/pgdata/postmaster.pid")
  total=$(ticks "$pm" all)
  for c in $(cat /proc/"$pm"/task/*/children); do total=$((total + $(ticks "$c"))); done
  echo "$total"
}

start_side() { # SIDE PORT: fresh cluster, import, serve, admin token, M1's pairs
  local side=$1 d="$TMP/$1"
  DIR[$side]=$d PORT[$side]=$2 URL[$side]=http://127.0.0.1:$2/graphql
  local t=$SECONDS
  serve_imported "${BIN[$side]}" "$d" "$GEN" "$2"
  PID[$side]=$SERVED_PID TOKEN[$side]=$SERVED_TOKEN
  psql_ "$side" -f bench/pairs.sql
  psql_ "$side" -At -F ' ' -c "SELECT product_id, store_id FROM bench.pairs ORDER BY k" >"$d/pairs.txt"
  echo "${NAME[$side]}: $(grep -o 'imported .*' "$d/import.log"); serving on :$2 (pid ${PID[$side]}), set up in $((SECONDS - t)) s"
}

echo "== setup: a cluster per build, gen.py --scale 1 imported"
start_side cur 18089
[[ -n ${BIN[base]:-} ]] && start_side base 18090
echo "fsync: $(psql_ cur -Atc 'SHOW fsync')  synchronous_commit: $(psql_ cur -Atc 'SHOW synchronous_commit')"
pick_inputs "${DIR[cur]}"
CODE=$PICKED_CODE SKU=$PICKED_SKU
echo "W2 store: $CODE   W3 product: $SKU   M1: $(wc -l <"$TMP/cur/pairs.txt") pairs"

load() { # SIDE DOC LOADGEN-ARGS…
  "$LOADGEN" "${URL[$1]}" "${TOKEN[$1]}" "$2" --code "$CODE" --sku "$SKU" --pairs "${DIR[$1]}/pairs.txt" "${@:3}"
}

record() { # SIDE DOC CLIENTS "key=value …": the loadgen figures into RESULTS
  local kv
  for kv in $4; do
    case ${kv%%=*} in requests | errors | rate | p50_ms | p99_ms) echo "$1 $2 $3 ${kv%%=*} ${kv#*=}" >>"$RESULTS" ;; esac
  done
}

# One measured run: a 1 s warm-up, then SECS seconds with CPU counters read before and after.
measure() { # SIDE DOC CLIENTS
  local side=$1 doc=$2 n=$3 s0 p0 s1 p1 out rss=0 hwm=0 lg v
  load "$side" "$doc" --connections "$n" --seconds 1 >/dev/null
  s0=$(svc_ticks "$side") p0=$(pg_ticks "$side")
  if [[ $doc == W1 && $n == 64 ]]; then # sample the resident size while it runs
    load "$side" "$doc" --connections "$n" --seconds "$SECS" >"$TMP/out" &
    lg=$!
    while kill -0 "$lg" 2>/dev/null; do
      v=$(awk '/^VmRSS/ {print $2}' "/proc/${PID[$side]}/status")
      ((v > rss)) && rss=$v
      sleep 0.2
    done
    wait "$lg"
    out=$(cat "$TMP/out")
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/${PID[$side]}/status")
    echo "$side $doc $n rss_max_kb $rss" >>"$RESULTS"
    echo "$side $doc $n hwm_kb $hwm" >>"$RESULTS"
  else
    out=$(load "$side" "$doc" --connections "$n" --seconds "$SECS")
  fi
  s1=$(svc_ticks "$side") p1=$(pg_ticks "$side")
  record "$side" "$doc" "$n" "$out"
  echo "$side $doc $n svc_ticks $((s1 - s0))" >>"$RESULTS"
  echo "$side $doc $n pg_ticks $((p1 - p0))" >>"$RESULTS"
  local req=${out#*requests=}
  req=${req%% *}
  printf '  %-8s %s  cpu/req_ms: stockroom=%s postgres=%s%s\n' "${NAME[$side]}" "$out" \
    "$(awk -v t=$((s1 - s0)) -v n="$req" -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", n ? t * 1000 / hz / n : 0}')" \
    "$(awk -v t=$((p1 - p0)) -v n="$req" -v hz="$CLK_TCK" 'BEGIN {printf "%.3f", n ? t * 1000 / hz / n : 0}')" \
    "$( ((rss)) && echo "  VmRSS max ${rss} kB, VmHWM ${hwm} kB")"
}

echo "== load runs, ${SECS}s each (after a 1 s warm-up), builds interleaved"
for run in "W1 64" "W1 8" "W1 1" "W2 8" "W2 64" "W2 1" "W3 8" "W3 64" "W3 1" "W0 1" "M1 8" "M1 16" "M1 64"; do
  read -r doc n <<<"$run"
  echo "-- $doc, $n client(s)"
  for side in "${SIDES[@]}"; do measure "$side" "$doc" "$n"; done
done

echo "== statements per request (log_statement = all around one request of each document)"
for side in "${SIDES[@]}"; do
  log=${DIR[$side]}/postgres.log
  offset=$(stat -c %s "$log")
  psql_ "$side" -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 1 # every backend takes the new setting before its next command
  for doc in W0 W1 W2 W3 M1; do
    psql_ "$side" -c "SELECT 'bench-capture $doc'" >/dev/null
    load "$side" "$doc" --connections 1 --requests 1 >/dev/null
  done
  psql_ "$side" -c "SELECT 'bench-capture end'" -c "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null
  echo "${NAME[$side]}:"
  python3 bench/sqllog.py "$log" "$offset" "$TMP" "$side" "$RESULTS"
done

# One client against pgbench, paired: the machine's speed moves by a third within minutes, so
# each round runs the service (one client) and pgbench (the same statements) back to back,
# and the figure is the median of the rounds' ratios (with the medians of both sides).
ROUNDS=3
echo "== one client against pgbench -M prepared running the captured statements in sequence: $ROUNDS rounds of ${PGB_SECS}s + ${PGB_SECS}s, back to back"
median() { python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.3f}")' "$@"; }
for doc in W0 W1 W2 W3; do
  for side in "${SIDES[@]}"; do
    p50s=() pgbs=() ratios=() line="  $doc ${NAME[$side]}:"
    load "$side" "$doc" --connections 1 --seconds 1 >/dev/null
    for ((round = 1; round <= ROUNDS; round++)); do
      p50=$(load "$side" "$doc" --connections 1 --seconds "$PGB_SECS" | sed 's/.*p50_ms=\([0-9.]*\).*/\1/')
      if ! out=$("$PGBIN/pgbench" -n -M prepared -h "${DIR[$side]}/run" -p 5432 -U postgres -c 1 \
        -T "$PGB_SECS" -f "$TMP/$side-$doc.sql" stockroom 2>&1); then
        echo "$line pgbench failed:"
        tail -5 <<<"$out" | sed 's/^/    /'
        continue 2
      fi
      v=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
      p50s+=("$p50") pgbs+=("$v")
      ratios+=("$(awk -v a="$p50" -v b="$v" 'BEGIN {printf "%.3f", a / b}')")
      line+="  p50 $p50 / pgbench $v ms = ${ratios[-1]}"
    done
    echo "$line"
    echo "$side $doc - pair_p50_ms $(median "${p50s[@]}")" >>"$RESULTS"
    echo "$side $doc - pgbench_ms $(median "${pgbs[@]}")" >>"$RESULTS"
    echo "$side $doc - pair_ratio $(median "${ratios[@]}")" >>"$RESULTS"
  done
done

echo "== sequential round trips: a second server reaching the cluster through a proxy that delays each way by ${DELAY_MS} ms"
# round trips = (p50 through the proxy - p50 direct) / (2 × delay), one client, 10 requests,
# after 16 clients × 8 requests have filled the proxied server's pool and prepared its statements
for side in "${SIDES[@]}"; do
  pport=$((${PORT[$side]} + 100)) sport=$((${PORT[$side]} + 200))
  python3 bench/delay_proxy.py "$pport" "${DIR[$side]}/run/.s.PGSQL.5432" "$DELAY_MS" &
  proxy=$!
  STARTED+=($proxy)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$pport") 2>/dev/null && break; sleep 0.1; done
  DATABASE_URL=postgres://postgres@127.0.0.1:$pport/stockroom STOCKROOM_DATA_DIR=${DIR[$side]}/unused \
    "${BIN[$side]}" serve --listen "127.0.0.1:$sport" >"${DIR[$side]}/serve-proxy.log" 2>&1 &
  server=$!
  STARTED+=($server)
  wait_listening "${DIR[$side]}/serve-proxy.log" "$server"
  line="  ${NAME[$side]}:"
  for doc in W1 W2 W3 M1; do
    direct=$(load "$side" "$doc" --connections 1 --requests 10 | sed 's/.*p50_ms=\([0-9.]*\).*/\1/')
    URL[proxy]=http://127.0.0.1:$sport/graphql
    "$LOADGEN" "${URL[proxy]}" "${TOKEN[$side]}" "$doc" --code "$CODE" --sku "$SKU" \
      --pairs "${DIR[$side]}/pairs.txt" --connections 16 --requests 8 >/dev/null
    slow=$("$LOADGEN" "${URL[proxy]}" "${TOKEN[$side]}" "$doc" --code "$CODE" --sku "$SKU" \
      --pairs "${DIR[$side]}/pairs.txt" --connections 1 --requests 10 | sed 's/.*p50_ms=\([0-9.]*\).*/\1/')
    rt=$(awk -v s="$slow" -v d="$direct" -v ms="$DELAY_MS" 'BEGIN {printf "%.2f", (s - d) / (2 * ms)}')
    echo "$side $doc - roundtrips $rt" >>"$RESULTS"
    line+="  $doc $rt (p50 ${direct} -> ${slow} ms)"
  done
  echo "$line"
  kill "$server" && wait "$server" || true
  kill "$proxy" && wait "$proxy" 2>/dev/null || true
done

echo "== pgbench on bench/outbound.sql (a58212d's movement statement), ${SECS}s"
for n in 16 64; do
  for side in "${SIDES[@]}"; do
    out=$("$PGBIN/pgbench" -n -M prepared -h "${DIR[$side]}/run" -p 5432 -U postgres -c "$n" -j 2 \
      -T "$SECS" -f bench/outbound.sql stockroom 2>&1) || { echo "$out" | tail -5; continue; }
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
    echo "$side PGB $n tps $tps" >>"$RESULTS"
    echo "$side PGB $n lat_ms $lat" >>"$RESULTS"
    echo "  ${NAME[$side]} cluster, $n clients: $tps tps, latency average $lat ms"
  done
done

echo "== movement announcements (issue 10 §4), pgbench on the current cluster, ${SECS}s each"
# The same movement announced in its transaction (today's triggers), not at all, and after its
# commit in an asynchronous-commit transaction of its own (bench/announce-after.sql appended).
cat bench/outbound.sql bench/announce-after.sql >"$TMP/outbound-announce-after.sql"
pgb_tps() { # CLIENTS SCRIPT
  "$PGBIN/pgbench" -n -M prepared -h "${DIR[cur]}/run" -p 5432 -U postgres -c "$1" -j 2 \
    -T "$SECS" -f "$2" stockroom >"$TMP/pgbench.out" 2>&1 || { echo failed; return 0; }
  sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$TMP/pgbench.out"
}
notify_trigger() { psql_ cur -c "ALTER TABLE inventory_transactions $1 TRIGGER inventory_transactions_notify" >/dev/null; }
for n in 16 64; do
  in_commit=$(pgb_tps "$n" bench/outbound.sql)
  notify_trigger DISABLE
  none=$(pgb_tps "$n" bench/outbound.sql)
  after=$(pgb_tps "$n" "$TMP/outbound-announce-after.sql")
  notify_trigger ENABLE
  echo "  $n clients: announced in the commit $in_commit tps, not announced $none tps, announced after the commit $after tps"
done

echo "== stock and ledger reconcile"
for side in "${SIDES[@]}"; do
  off=$(psql_ "$side" -Atc "
    SELECT count(*) FROM stocks s
    FULL JOIN (SELECT product_id, store_id, sum(quantity) AS q FROM inventory_transactions GROUP BY 1, 2) t
      USING (product_id, store_id)
    WHERE coalesce(s.quantity, -1) <> coalesce(t.q, 0)")
  echo "$side - - reconcile_off $off" >>"$RESULTS"
  echo "  ${NAME[$side]}: $off (product, store) pairs whose stock differs from their ledger sum"
done

python3 bench/report.py "$RESULTS" "$CLK_TCK"
if [[ -n ${SCALE:-} ]]; then
  echo "== scale: one client's p50 on gen.py --scale $SCALE against --scale 1 (bench/scale.sh)"
  bench/scale.sh "$SCALE"
fi
echo "(total $((SECONDS - T0)) s, of which building $BUILD_SECS s)"
