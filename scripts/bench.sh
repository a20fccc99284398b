#!/usr/bin/env bash
# End-to-end benchmark of tokentrail on a simulated site (see BENCHMARKS.md).
#
#   scripts/bench.sh                 # full run: ~1 GB corpus
#   SMALL=1 scripts/bench.sh         # ~50 MB corpus (CI, scripts/bench-ci.sh)
#   SCALES="4 40" scripts/bench.sh   # also ingest + trace corpora of these --scale values
#                                    # (linearity: ingest time and trace latency vs events)
#   SCALES="57:8 1590:8" scripts/bench.sh  # USERS:SCALE entries: a site with more users
#   SCALE_RG_RUNS=2                  # rg runs per question on those corpora too (default 0)
#   TRACE_ARGS="--seeds 4 --rounds 2" # fewer trace samples (large stores)
#
# Measures, in one run on one machine: ingest (MB/s, events/s, peak RSS via /usr/bin/time),
# parse-only and store-only (bare tantivy sink, no parsing) rates, store size against the
# raw and gzipped logs, trace latency percentiles and `rg` over the raw logs for the same
# seeds. Writes every measurement under $OUT (default target/bench) and prints the report
# (JSON) of `tokentrail bench report`. Needs: cargo, rg (ripgrep), gzip, /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-target/bench}"
USERS="${USERS:-40}"
DAYS="${DAYS:-2}"
if [ "${SMALL:-0}" = 1 ]; then
  SCALE="${SCALE:-1.5}"
  OUT="${OUT}-small"
else
  SCALE="${SCALE:-32}"
fi
# Events kept in memory for the store-only run (bounds its RSS; the rate is per event).
MAX_KEEP="${MAX_KEEP:-1000000}"
CORES="$(nproc)"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

for tool in rg gzip /usr/bin/time; do
  command -v "$tool" >/dev/null 2>&1 || { echo "bench.sh: $tool is missing (apt-get install ripgrep gzip time)" >&2; exit 1; }
done

if [ -z "${BIN:-}" ]; then
  echo "== building release" >&2
  cargo build --release --locked --quiet --bin tokentrail
  BIN="$TARGET_DIR/release/tokentrail"
fi # BIN=path/to/tokentrail: measure that binary (no build)
DRIVER="$BIN bench"

mkdir -p "$OUT"

# simulate SCALE DIR: writes the corpus once per parameter set.
simulate() {
  local scale="$1" dir="$2" stamp="users=$USERS days=$DAYS scale=$1"
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then
    return
  fi
  rm -rf "$dir"
  echo "== simulating ($stamp) into $dir" >&2
  "$BIN" simulate --out "$dir" --users "$USERS" --days "$DAYS" --scale "$scale" >&2
  echo "$stamp" >"$dir/.stamp"
}

# ingest CORPUS DATA RESULTDIR: a fresh store, timed, peak RSS recorded (by /usr/bin/time,
# and split into anonymous memory and mapped index files by sampling /proc every 0.2 s:
# file-backed pages are the index's own page cache, reclaimable, yet counted in RSS).
ingest() {
  rm -rf "$2"
  echo "== ingesting $1 into $2" >&2
  /usr/bin/time -v -o "$3/ingest.time" \
    "$BIN" --data "$2" ingest --tz UTC --output json "$1/logs" >"$3/ingest.json" &
  local timer=$! child="" anon=0 file=0 a f
  while kill -0 "$timer" 2>/dev/null; do
    [ -n "$child" ] || child=$(pgrep -P "$timer" | head -1 || true)
    if [ -n "$child" ] && [ -r "/proc/$child/status" ]; then
      a=$(awk '/^RssAnon:/ {print $2}' "/proc/$child/status" 2>/dev/null || true)
      f=$(awk '/^RssFile:/ {print $2}' "/proc/$child/status" 2>/dev/null || true)
      [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
      [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
    fi
    sleep 0.2
  done
  wait "$timer"
  printf '{"anon_kb": %s, "file_kb": %s}\n' "$anon" "$file" >"$3/ingest.rss"
  du -sb "$2/index" | cut -f1 >"$3/index.bytes"
}

CORPUS="$OUT/site"
DATA="$OUT/data"
simulate "$SCALE" "$CORPUS"
ingest "$CORPUS" "$DATA" "$OUT"

echo "== raw and gzipped sizes" >&2
du -sb --apparent-size "$CORPUS/logs" | cut -f1 >"$OUT/raw.bytes"
# gzip -6 of each file (already compressed rotations counted as they are).
total=0
while IFS= read -r -d '' file; do
  if [ "$(head -c2 "$file" | od -An -tx1 | tr -d ' ')" = "1f8b" ]; then
    size=$(stat -c %s "$file")
  else
    size=$(gzip -6 -c "$file" | wc -c)
  fi
  total=$((total + size))
done < <(find "$CORPUS/logs" -type f -print0)
echo "$total" >"$OUT/gzip.bytes"

echo "== parse only" >&2
$DRIVER parse "$CORPUS/logs" >"$OUT/parse.json"
events=$(sed -n 's/^ *"events": \([0-9]*\),$/\1/p' "$OUT/parse.json" | head -1)
keep_every=$(( (events + MAX_KEEP - 1) / MAX_KEEP ))
[ "$keep_every" -ge 1 ] || keep_every=1

echo "== store only (every ${keep_every}th event, pre-parsed)" >&2
rm -rf "$OUT/store-only"
$DRIVER store "$CORPUS/logs" --data "$OUT/store-only" --keep-every "$keep_every" >"$OUT/store.json"
rm -rf "$OUT/store-only"

echo "== trace latency and rg" >&2
# shellcheck disable=SC2086 # TRACE_ARGS is a list of flags, e.g. "--seeds 5 --rounds 2".
$DRIVER trace --data "$DATA" --truth "$CORPUS/truth.json" --logs "$CORPUS/logs" ${TRACE_ARGS:-} >"$OUT/trace.json"

# Linearity: more corpora, ingest + trace (+ rg when SCALE_RG_RUNS > 0). An entry of SCALES
# is a --scale value (USERS users) or USERS:SCALE (a site with more users: the per-identity
# questions keep their size while the store grows).
for entry in ${SCALES:-}; do
  case "$entry" in
    *:*) users="${entry%%:*}"; scale="${entry#*:}" ;;
    *) users="$USERS"; scale="$entry" ;;
  esac
  dir="$OUT/scale-$entry"
  mkdir -p "$dir"
  USERS="$users" simulate "$scale" "$dir/site"
  du -sb --apparent-size "$dir/site/logs" | cut -f1 >"$dir/raw.bytes"
  ingest "$dir/site" "$dir/data" "$dir"
  # shellcheck disable=SC2086 # TRACE_ARGS is a list of flags.
  $DRIVER trace --data "$dir/data" --truth "$dir/site/truth.json" --logs "$dir/site/logs" \
    ${TRACE_ARGS:-} --rg-runs "${SCALE_RG_RUNS:-0}" >"$dir/trace.json"
  $DRIVER report "$dir" --cores "$CORES" >"$dir/report.json"
  rm -rf "$dir/data"
  [ "${KEEP_CORPORA:-0}" = 1 ] || rm -rf "$dir/site"
done

$DRIVER report "$OUT" --cores "$CORES" "$@" | tee "$OUT/report.json"
