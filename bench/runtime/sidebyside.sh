#!/usr/bin/env bash
# The traced thread's cost per call with the runtime header of this tree and of another commit, side by side:
#   bench/runtime/sidebyside.sh <git rev> [runs, default 9]
# For each case (workload and settings), the two builds of workload.cpp (and the floor and untraced rows, for
# scale) run interleaved <runs> times; printed are the medians of the time on the traced thread per call, and,
# where valgrind is installed, instructions per call (callgrind, all threads; they repeat exactly, so they
# show a change the noisy timings hide). Binary span files with the default 8 MiB buffer: the thread never
# waits for the writer.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/against_rev.sh"
mkdir -p "$out/proj/.ai-agents/logging/config"
flags="-std=c++17 -O2 -pthread"
src="$here/workload.cpp"
$cxx $flags -I"$out/base" "$src" -o "$out/base"/workload
$cxx $flags -I"$here/../../tracer/runtime" "$src" -o "$out/this"
$cxx $flags -I"$here/../../tracer/runtime" -DBENCH_FLOOR "$src" -o "$out/floor"
$cxx $flags -I"$here/../../tracer/runtime" -DBENCH_NO_RUNTIME -fno-optimize-sibling-calls "$src" -o "$out/untraced"
export AGENTLOG_ROOT="$out/proj"
thread_ns() { env $1 "$2" "$3" | grep '^{' | tail -1 | sed 's/.*"thread_ns_per_call":\([0-9.]*\).*/\1/'; }
# Instructions per call: the difference of two run lengths, so that start-up and exit cancel out.
instructions() {
  command -v valgrind >/dev/null || { echo "-"; return; }
  local envs=$1 bin=$2 workload=$3 small=$4 large=$5 calls=$6 a b
  a=$(env $envs valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$workload" "$small" 2>&1 |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  rm -rf "$out/proj/.ai-agents/logging/traces"
  b=$(env $envs valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$workload" "$large" 2>&1 |
      sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  rm -rf "$out/proj/.ai-agents/logging/traces"
  echo $(( (b - a) / calls ))
}
# case <label> <workload> <env> <small n> <large n> <calls between them>
case_() {
  local label=$1 workload=$2 envs=$3 small=$4 large=$5 calls=$6
  local b=() t=() f=() u=()
  for ((i = 0; i < runs; i++)); do
    b+=("$(thread_ns "$envs" "$out/base/workload" "$workload")")
    rm -rf "$out/proj/.ai-agents/logging/traces"
    t+=("$(thread_ns "$envs" "$out/this" "$workload")")
    rm -rf "$out/proj/.ai-agents/logging/traces"
    f+=("$(thread_ns "" "$out/floor" "$workload")")
    u+=("$(thread_ns "" "$out/untraced" "$workload")")
  done
  printf '%-16s %s  at %s: %7s ns/call %4s instr/call  this tree: %7s ns/call %4s instr/call  floor %s ns/call  untraced %s ns/call %s instr/call\n' \
    "$label" "$workload" "$rev" "$(median "${b[@]}")" \
    "$(instructions "$envs" "$out/base/workload" "$workload" "$small" "$large" "$calls")" \
    "$(median "${t[@]}")" "$(instructions "$envs" "$out/this" "$workload" "$small" "$large" "$calls")" \
    "$(median "${f[@]}")" "$(median "${u[@]}")" "$(instructions "" "$out/untraced" "$workload" "$small" "$large" "$calls")"
}
# fib(18) and fib(20) make 8,361 and 21,891 calls.
case_ "disabled" fib "TRACING_ENABLED=false" 18 20 13530
case_ "level 1, binary" fib "TRACING_DEFAULT_LEVEL=1 TRACING_FORMAT=binary" 18 20 13530
case_ "disabled" str "TRACING_ENABLED=false" 20000 40000 20000
case_ "level 1, binary" str "TRACING_DEFAULT_LEVEL=1 TRACING_FORMAT=binary" 20000 40000 20000
case_ "level 2, binary" str "TRACING_DEFAULT_LEVEL=2 TRACING_FORMAT=binary" 20000 40000 20000
