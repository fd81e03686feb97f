#!/usr/bin/env bash
# Logging benchmarks, side by side in one run:
#  1. search over a generated 1 GiB JSON-lines log in page cache: `agentlog logs search` (the search_logs
#     code) with a fixed string against `rg -F`, with a regex against `rg`, and level=error against
#     `grep -c '"level":"error"'` (and rg), a field equality and a source glob against `rg -F` of the same
#     "key":"value"; hyperfine medians and the ratio.
#  2. Logger write throughput on one thread against spdlog's basic_file_sink_mt writing the same line
#     (Google Benchmark, 5 repetitions, medians).
#   bench/logs/run.sh [build dir] [MiB]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
mib=${2:-1024}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
log="$dir/.ai-agents/logging/logs/latest.log"
mkdir -p "$(dirname "$log")"
"$build/bench/bench_gen_log" "$log" "$mib"
cat "$log" > /dev/null  # in page cache
a="$build/agentlog logs search --root $dir --json"
printf '%s\n' '"level":"error"' > "$dir/level.pat"
printf '%s\n' '"reqId":"req-abc-123"' > "$dir/field.pat"
printf '%s\n' '"source":"src/db/pool.cpp"' > "$dir/source.pat"
# --output=pipe: GNU grep stops at the first match when its output is /dev/null.
hyperfine -N --output=pipe -w 2 -r 10 --export-json "$dir/h.json" \
  "rg -F -c req-abc-123 $log" "$a req-abc-123" \
  "rg -c \"timed out after \\d{4}ms\" $log" "$a --regex \"timed out after \\d{4}ms\"" \
  "grep -c -f $dir/level.pat $log" "rg -c -F -f $dir/level.pat $log" "$a --level error" \
  "rg -c -F -f $dir/field.pat $log" "$a --field reqId=req-abc-123" \
  "rg -c -F -f $dir/source.pat $log" "$a --source src/db/pool.cpp" > /dev/null
node -e '
  const r = require(process.argv[1]).results;
  const med = i => r[i].median * 1000;
  const row = (name, i, base, bname) => console.log(
    `${name.padEnd(34)} ${med(i).toFixed(0).padStart(6)} ms   ${bname.padEnd(22)} ${med(base).toFixed(0).padStart(6)} ms   ratio ${(med(i) / med(base)).toFixed(2)}x`);
  console.log(`search, ${(require("fs").statSync(process.argv[2]).size / 2**30).toFixed(2)} GiB in page cache (hyperfine medians of 10)`);
  row("agentlog fixed string", 1, 0, "rg -F -c");
  row("agentlog regex", 3, 2, "rg -c");
  row("agentlog level=error", 6, 4, "grep -c level:error");
  row("agentlog level=error", 6, 5, "rg -F -c level:error");
  row("agentlog --field reqId=...", 8, 7, "rg -F -c reqId:...");
  row("agentlog --source src/db/pool.cpp", 10, 9, "rg -F -c source:...");
' "$dir/h.json" "$log"
echo "Logger write throughput, one thread (Google Benchmark, medians of 5):"
"$build/bench/bench_logger" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null |
  awk '/_median/ {for (i = 1; i <= NF; i++) if ($i ~ /items_per_second/) {split($i, a, "="); print "  " $1 "  " a[2]}}'
