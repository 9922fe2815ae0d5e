# Shared by bench/run.sh and bench/scale.sh (sourced, not run): the data set cache, starting an
# imported server, waiting for it.

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
