#!/usr/bin/env bash
# Tracing runtime cost, side by side in one run: untraced, runtime compiled in but disabled, level 1, level 2,
# `uftrace record` on a -pg build, and -finstrument-functions with empty hooks. Levels 1 and 2 run twice: span
# lines written by the program (TRACING_FORMAT=jsonl, the default), and binary span files (TRACING_FORMAT=binary)
# that `agentlog traces convert` turns into the same lines afterwards (timed apart, as `uftrace dump` would be).
#   bench/runtime/run.sh [build dir] [runs] [workloads, default "fib str threads"]
# Per variant and workload: median of <runs> of the time on the traced thread per call (the program times its
# own loop) and of the whole-process wall time per call (start to exit, every span written to disk).
# The build dir must hold the agentlog binary (for the conversion of binary span files).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
agentlog=$(cd "$build" && pwd)/agentlog
runs=${2:-5}
workloads=${3:-fib str threads}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
src="$here/workload.cpp"
inc="$here/../../tracer/runtime"
cxx=${CXX:-g++}
flags="-std=c++17 -O2 -pthread -I$inc"
$cxx $flags -DBENCH_NO_RUNTIME "$src" -o "$out/untraced"
# Untraced, but every call made: without a span object, g++ turns fib's second recursive call into a loop,
# so the plain untraced build makes about half the calls; any tracer keeps them all.
$cxx $flags -DBENCH_NO_RUNTIME -fno-optimize-sibling-calls "$src" -o "$out/untraced_calls"
$cxx $flags -DBENCH_FLOOR "$src" -o "$out/floor"
$cxx $flags "$src" -o "$out/traced"
$cxx $flags -DBENCH_NO_RUNTIME -pg "$src" -o "$out/pg"
$cxx $flags -DBENCH_NO_RUNTIME -finstrument-functions "$src" "$here/hooks.cpp" -o "$out/cyg"

proj="$out/proj"
mkdir -p "$proj/.ai-agents/logging/config"
export AGENTLOG_ROOT="$proj"

# run <label> <env> <command...>: prints "label workload thread_ns wall_ns dropped" medians.
measure() {
  local label=$1 envs=$2 workload=$3; shift 3
  local threads=() walls=() dropped=0
  for ((i = 0; i < runs; i++)); do
    rm -rf "$proj/.ai-agents/logging/traces" "$out/uftrace.data"
    sync  # the previous run's GBs of span files are written back now, not during this run
    local t0 t1 line
    t0=$(date +%s%N)
    line=$(cd "$out" && env $envs "$@" 2>/dev/null | grep '^{' | tail -1)
    t1=$(date +%s%N)
    local calls thread drop
    calls=$(echo "$line" | sed 's/.*"calls":\([0-9]*\).*/\1/')
    thread=$(echo "$line" | sed 's/.*"thread_ns_per_call":\([0-9.]*\).*/\1/')
    drop=$(echo "$line" | sed 's/.*"dropped":\([0-9]*\).*/\1/')
    threads+=("$thread")
    walls+=("$(echo "scale=2; ($t1 - $t0) / $calls" | bc)")
    dropped=$((dropped + drop))
  done
  local mt mw spans="" convert=""
  if ls "$proj"/.ai-agents/logging/traces/*/*.bin >/dev/null 2>&1; then
    local c0 c1
    c0=$(date +%s%N)
    "$agentlog" traces convert "$proj"/.ai-agents/logging/traces/*/*.bin >/dev/null
    c1=$(date +%s%N)
    convert="   then agentlog traces convert $(echo "scale=2; ($c1 - $c0) / $calls" | bc) ns/span"
  fi
  mt=$(printf '%s\n' "${threads[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  mw=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  if [ -d "$proj/.ai-agents/logging/traces" ]; then
    spans=$(cat "$proj"/.ai-agents/logging/traces/*/*.jsonl 2>/dev/null | wc -l)
  fi
  printf '%-34s %-7s thread %8s ns/call   whole process %8s ns/call   dropped %s   spans on disk %s%s\n' \
    "$label" "$workload" "$mt" "$mw" "$dropped" "${spans:--}" "$convert"
}

# Thread start: 200 threads one after another, each making one level-1 call; median of <runs> of the time per
# thread (start, call, join) and of the worst thread of the run.
thread_start() {
  local label=$1 envs=$2 bin=$3 per=() worst=() buffers
  for ((i = 0; i < runs; i++)); do
    rm -rf "$proj/.ai-agents/logging/traces"
    local line
    line=$(env $envs "$bin" 200 | grep '^{')
    per+=("$(echo "$line" | sed 's/.*"us_per_thread":\([0-9.]*\).*/\1/')")
    worst+=("$(echo "$line" | sed 's/.*"worst_us":\([0-9.]*\).*/\1/')")
    buffers=$(echo "$line" | sed 's/.*"buffers":\([0-9]*\).*/\1/')
  done
  printf '%-34s threads %8s us/thread   worst thread %8s us   buffers made (last run) %s\n' "$label" \
    "$(printf '%s\n' "${per[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" \
    "$(printf '%s\n' "${worst[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" "$buffers"
}

for w in $workloads; do
  if [ $w = threads ]; then
    $cxx $flags -DAGENTLOG_DISABLE "$here/threads.cpp" -o "$out/threads_untraced"
    $cxx $flags "$here/threads.cpp" -o "$out/threads"
    thread_start "untraced" "" "$out/threads_untraced"
    thread_start "level 1" "TRACING_DEFAULT_LEVEL=1" "$out/threads"
    continue
  fi
  # A buffer that holds every span of the run (so the thread never waits for the writer), and no bigger:
  # its pages are touched at the thread's first span, which the whole-process time includes (in 2 MiB pages
  # when the kernel has them free; else it compacts memory first: 256 MiB took 54-835 ms here).
  if [ $w = fib ]; then mb1=320 mb2=320; else mb1=64 mb2=128; fi
  measure "untraced" "" $w "$out/untraced" $w
  measure "untraced, every call made" "" $w "$out/untraced_calls" $w
  measure "floor: 2 TSC reads, 40-byte store" "" $w "$out/floor" $w
  measure "runtime in, TRACING_ENABLED=false" "TRACING_ENABLED=false" $w "$out/traced" $w
  measure "level 1" "TRACING_DEFAULT_LEVEL=1 TRACING_BUFFER_MB=$mb1" $w "$out/traced" $w
  measure "level 2" "TRACING_DEFAULT_LEVEL=2 TRACING_BUFFER_MB=$mb2" $w "$out/traced" $w
  # Binary span files with the default 8 MiB buffer: the writer copies records as fast as they come.
  measure "level 1, binary" "TRACING_DEFAULT_LEVEL=1 TRACING_FORMAT=binary" $w "$out/traced" $w
  measure "level 2, binary" "TRACING_DEFAULT_LEVEL=2 TRACING_FORMAT=binary" $w "$out/traced" $w
  if command -v uftrace >/dev/null; then
    measure "uftrace record (-pg)" "" $w uftrace record -d "$out/uftrace.data" "$out/pg" $w
    if [ $w = str ]; then  # ~50 us/call here: one run of 100k calls is enough
      saved=$runs; runs=1
      measure "uftrace record -A/-R (-pg), 100k calls" "" $w uftrace record -d "$out/uftrace.data" -A 'f@arg1,arg2/s' -R 'f@retval/s' "$out/pg" $w 100000
      runs=$saved
    fi
  fi
  measure "-finstrument-functions, empty hooks" "" $w "$out/cyg" $w
done
