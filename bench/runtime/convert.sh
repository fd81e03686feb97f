#!/usr/bin/env bash
# What converting a binary span file to JSONL costs per span (what `agentlog traces convert` and serve's
# follower do), this tree's converter side by side with another commit's. Each side records its own binary
# file once (the workload built with its header, TRACING_FORMAT=binary), then converts a fresh copy of it
# in every pair, the two sides in alternating order, so that the disk's and the machine's slow minutes fall
# on both alike. Prints per workload the median ns/span of each side and the median of the paired ratios.
#   bench/runtime/convert.sh <git rev> [pairs, default 9]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/against_rev.sh"
cat > "$out/convert.cpp" <<'CPP'
#include <chrono>
#include <cstdio>

#include "agentlog_trace.hpp"
int main(int, char** argv) {
  auto t0 = std::chrono::steady_clock::now();
  agentlog::ConvertResult r = agentlog::convert_span_file(argv[1]);
  double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  if (!r.ok || r.spans == 0) return std::fprintf(stderr, "%s: %s\n", argv[1], r.error.c_str()), 1;
  std::printf("%.1f %llu\n", ns / static_cast<double>(r.spans), static_cast<unsigned long long>(r.spans));
}
CPP
flags="-std=c++17 -O2 -pthread"
for side in this base; do
  inc=$([ $side = this ] && echo "$here/../../tracer/runtime" || echo "$out/base")
  $cxx $flags -I"$inc" "$here/workload.cpp" -o "$out/workload_$side"
  $cxx $flags -I"$inc" "$out/convert.cpp" -o "$out/convert_$side"
done
for case in "fib 32 1" "str 1000000 2"; do
  set -- $case
  for side in this base; do
    proj="$out/proj_$side"
    rm -rf "$proj" && mkdir -p "$proj/.ai-agents/logging/config"
    AGENTLOG_ROOT="$proj" TRACING_FORMAT=binary TRACING_DEFAULT_LEVEL=$3 "$out/workload_$side" $1 $2 >/dev/null
    bins=("$proj"/.ai-agents/logging/traces/*/*.bin)
    [ ${#bins[@]} -eq 1 ] || { echo "expected one binary span file, found ${#bins[@]}" >&2; exit 1; }
    cp "${bins[0]}" "$out/$1_$side.bin"
  done
  this=() base=() ratios=()
  for ((i = 0; i < runs; i++)); do
    order=$([ $((i % 2)) -eq 0 ] && echo "this base" || echo "base this")
    for side in $order; do
      rm -rf "$out/run" && mkdir "$out/run" && cp "$out/$1_$side.bin" "$out/run/x.bin"
      read -r ns spans < <("$out/convert_$side" "$out/run/x.bin")
      [ $side = this ] && this+=("$ns") || base+=("$ns")
    done
    ratios+=("$(echo "scale=3; ${this[-1]} / ${base[-1]}" | bc)")
  done
  printf '%s level %s, %s spans: this tree median %s ns/span (%s), at %s median %s ns/span (%s); paired ratio median %s\n' \
    "$1" "$3" "$spans" "$(median "${this[@]}")" "${this[*]}" "$rev" "$(median "${base[@]}")" "${base[*]}" \
    "$(median "${ratios[@]}")"
done
