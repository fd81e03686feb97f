#!/usr/bin/env bash
# Runs every benchmark that has a runner; figures go to stdout (copy them into bench/README.md).
#   bench/run.sh [build dir]
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
echo "== foundation: stdio round trips"
"$build/bench/bench_mcp_roundtrip" --calls 20000 --starts 30
for runner in "$here"/*/run.sh; do
  [ -x "$runner" ] || continue
  echo "== $(basename "$(dirname "$runner")")"
  "$runner" "$build"
done
