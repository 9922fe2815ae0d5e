# Shared by bench/run.sh and bench/scale.sh (sourced, not run): the data set cache, starting an
# imported server, waiting for it, asking its cluster, choosing the documents' inputs, stopping
# what was started.

# dataset SCALE: the directory of gen.py's output at SCALE, generated once into $CACHE.
dataset() {
  local gen=$CACHE/scale$1
  if [[ ! -f $gen/manifest.json ]]; then
    echo "== gen.py --scale $1 into $gen" >&2
    rm -rf "$gen.tmp" && mkdir -p "$CACHE"
    python3 "$GEN_PY" --out "$gen.tmp" --scale "$1" >/dev/null
    mv "$gen.tmp" "$gen"
  fi
  echo "$gen"
}

# wait_listening LOG PID: until the server's log says it listens (exits if it died).
wait_listening() {
  for _ in $(seq 240); do
    grep -q "listening" "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.25
  done
  echo "the server did not start:" >&2
  tail -20 "$1" >&2
  exit 1
}

# serve_imported BIN DIR GEN PORT: a fresh data directory DIR with GEN imported, served on
# 127.0.0.1:PORT in the background (its pid in SERVED_PID, its admin token in SERVED_TOKEN).
serve_imported() {
  local bin=$1 d=$2 gen=$3 port=$4
  mkdir -m 755 "$d"
  STOCKROOM_DATA_DIR=$d "$bin" import "$gen" >"$d/import.log" 2>&1 ||
    { tail -20 "$d/import.log"; exit 1; }
  STOCKROOM_DATA_DIR=$d "$bin" serve --listen "127.0.0.1:$port" >"$d/serve.log" 2>&1 &
  SERVED_PID=$!
  STARTED+=($!)
  wait_listening "$d/serve.log" "$SERVED_PID"
  SERVED_TOKEN=$(STOCKROOM_DATA_DIR=$d "$bin" user create bench-admin --role ADMIN | tail -1)
}

# psql_in DIR ARGS…: psql on the cluster of data directory DIR (its socket is in DIR/run).
psql_in() { psql -q -X -v ON_ERROR_STOP=1 -h "$1/run" -p 5432 -U postgres stockroom "${@:2}"; }

# pick_inputs DIR: W2's store (the first one, in PICKED_CODE) and W3's product (the middle SKU,
# in PICKED_SKU) on the cluster of DIR.
pick_inputs() {
  PICKED_CODE=$(psql_in "$1" -Atc "SELECT code FROM stores ORDER BY id LIMIT 1")
  PICKED_SKU=$(psql_in "$1" -Atc "SELECT sku FROM products ORDER BY sku OFFSET (SELECT count(*) / 2 FROM products) LIMIT 1")
}

# stop_started: stops every process in STARTED, the last started first.
stop_started() {
  local p
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
    p=${STARTED[i]}
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
}
