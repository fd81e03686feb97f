#!/usr/bin/env bash
# HTTP API under load: wrk against GET /api/tracing/search and /api/tracing/slow on a generated store of
# 1,000,000 spans in 100,000 traces, next to a static file of the viewer (the server's floor) in the same run.
#   bench/http/run.sh [build dir] [traces]
set -euo pipefail
build=${1:-build}
traces=${2:-100000}
kept=$("$build/bench/bench_store" --traces "$traces" --queries 3 --keep | sed -n 's/^kept //p')
trap 'kill $pid 2>/dev/null || true; rm -rf "$kept"' EXIT
# The bench measures the server, not the rate limiter.
printf '\nAGENTLOG_API_RATE_LIMIT=1000000\nAGENTLOG_API_RATE_BURST=1000000\n' >> "$kept/.ai-agents/logging/config/.env.logging"
port_file=$(mktemp)
"$build/agentlog" http --root "$kept" --port 0 --json > "$port_file" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(sed 's/.*"port":\([0-9]*\).*/\1/' "$port_file")
base="http://127.0.0.1:$port"
curl -sf "$base/api/tracing/search?limit=1" > /dev/null   # warm: ingest is done, caches are hot
for path in "/viewer/viewer.css" "/api/tracing/search" "/api/tracing/search?function=op7" "/api/tracing/slow?threshold=20ms"; do
  out=$(wrk -t2 -c16 -d10s --latency "$base$path")
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  printf '%-36s %10s req/s   p50 %8s   p99 %8s   %s\n' "$path" "$rps" "$p50" "$p99" "${errors:-no errors}"
done
