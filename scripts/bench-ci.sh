#!/usr/bin/env bash
# Short benchmark for CI (about 2–3 minutes on 2 cores): the small corpus of
# scripts/bench.sh, failing only when a ratio measured in this same run regresses badly —
# never on an absolute time, which drifts from machine to machine. Floors are far below
# the figures of BENCHMARKS.md so that noise on a shared runner does not fail the build.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=1 exec scripts/bench.sh \
  --min-ingest-vs-store "${MIN_INGEST_VS_STORE:-0.30}" \
  --min-ingest-vs-parse "${MIN_INGEST_VS_PARSE:-0.15}" \
  --min-rg-over-trace "${MIN_RG_OVER_TRACE:-2}" \
  --max-store-vs-raw "${MAX_STORE_VS_RAW:-0.60}"
