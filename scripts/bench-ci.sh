#!/usr/bin/env bash
# Short benchmark for CI (about 2–3 minutes on 2 cores): the small corpus of
# scripts/bench.sh, failing only when a ratio measured in this same run regresses badly —
# never on an absolute time, which drifts from machine to machine. Floors are far below
# the figures of BENCHMARKS.md so that noise on a shared runner does not fail the build.
# Today (BENCHMARKS.md "CI check", small corpus): ingest/store-only 0.66-0.86,
# ingest/parse-only 0.06-0.08 (0.10-0.14 before parsing got 1.5x faster; both noisy under
# load), store/raw 0.53-0.54 (0.87 before the store changes of branch perf; the floor of 0.75
# fails if the free-text or id index grows back), rg/jti-trace 31-72 (a token trace is
# 30-70x faster than one rg over the page-cached small corpus). The jti floor of 0.5 fails
# only if a token trace becomes 2x slower than one rg again; the target (100x faster) is not
# a floor.
set -euo pipefail
cd "$(dirname "$0")/.."
export TRACE_ARGS="${TRACE_ARGS:---seeds 4 --rounds 2 --rg-runs 3}"
SMALL=1 exec scripts/bench.sh \
  --min-ingest-vs-store "${MIN_INGEST_VS_STORE:-0.30}" \
  --min-ingest-vs-parse "${MIN_INGEST_VS_PARSE:-0.04}" \
  --min-rg-over-jti-trace "${MIN_RG_OVER_JTI_TRACE:-0.5}" \
  --max-store-vs-raw "${MAX_STORE_VS_RAW:-0.75}"
