#!/usr/bin/env bash
# What a disabled span costs, measured in pairs: the untraced build that makes every call, this tree's
# runtime with TRACING_ENABLED=false, and the same at another commit, run back to back in alternating order
# (A B C, C B A, ...), so that the machine's slow and fast minutes fall on all three alike. Prints, per
# workload, the median and the minimum time on the traced thread per call and the median of the paired
# differences from the untraced run (the figure to quote: medians of single runs move by 0.3-0.5 ns here).
#   bench/runtime/disabled.sh <git rev> [pairs, default 60]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/against_rev.sh"
flags="-std=c++17 -O2 -pthread"
src="$here/workload.cpp"
$cxx $flags -I"$here/../../tracer/runtime" -DBENCH_NO_RUNTIME -fno-optimize-sibling-calls "$src" -o "$out/untraced"
$cxx $flags -I"$here/../../tracer/runtime" "$src" -o "$out/this"
$cxx $flags -I"$out/base" "$src" -o "$out/base_rev"
mkdir -p "$out/proj/.ai-agents/logging/config"
export AGENTLOG_ROOT="$out/proj" TRACING_ENABLED=false
for workload in "fib 32" "str 3000000"; do
  python3 - "$workload" "$runs" "$out/untraced" "$out/this" "$out/base_rev" "$rev" <<'PY'
import json, statistics, subprocess, sys
workload, pairs, bins, rev = sys.argv[1].split(), int(sys.argv[2]), sys.argv[3:6], sys.argv[6]
def per_call(binary):
    out = subprocess.run([binary] + workload, capture_output=True, text=True, check=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])["thread_ns_per_call"]
times = {b: [] for b in bins}
for i in range(pairs):
    for b in (bins if i % 2 == 0 else bins[::-1]):
        times[b].append(per_call(b))
for b, label in zip(bins, ["untraced, every call made", "this tree, disabled", "at " + rev + ", disabled"]):
    d = [x - y for x, y in zip(times[b], times[bins[0]])]
    print(f"{workload[0]:4s} {label:28s} median {statistics.median(times[b]):6.3f} ns/call  min {min(times[b]):6.3f}"
          f"  paired difference from untraced: median {statistics.median(d):+.3f} ns")
PY
done
