#!/usr/bin/env bash
# Installs agentlog into a temporary prefix (cmake --install), builds a user program against it twice (the
# CMake package and the pkg-config file), runs it in a fresh project and checks its log lines with
# `agentlog logs search` and the trace its log line points to with `agentlog traces show`.
#   run.sh <build dir> <source dir>
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" > /dev/null
test -f "$tmp/prefix/include/agentlog/logger.hpp" || fail "logger.hpp not installed"
test -f "$tmp/prefix/include/agentlog/agentlog_trace.hpp" || fail "agentlog_trace.hpp not installed"
test -x "$tmp/prefix/bin/agentlog" || fail "agentlog not installed"

check_project() {  # $1 = the program
  local proj="$tmp/project-$(basename "$1")"
  mkdir -p "$proj"
  "$tmp/prefix/bin/agentlog" init --root "$proj" > /dev/null
  printf 'TRACING_ENABLED=true\nTRACING_DEFAULT_LEVEL=3\n' >> "$proj/.ai-agents/logging/config/.env.tracing"
  (cd "$proj" && AGENTLOG_ROOT="$proj" LD_LIBRARY_PATH="$tmp/prefix/lib" "$1") || fail "$1 exited with $?"
  local out
  out=$("$tmp/prefix/bin/agentlog" logs search --root "$proj" --json --limit 100)
  for want in '"msg": "Application started"' '"port": 3000' '"errorType": "std::runtime_error"' \
              '"msg": "Work completed"' '"durationMs"' '"msg": "pool exhausted (8 connections)"' '"category": "db"'; do
    grep -qF "$want" <<< "$out" || fail "$1: no $want in the log: $out"
  done
  grep -qF '"src/myfile.cpp"' "$proj/.ai-agents/logging/integrations/registry.json" || fail "src/myfile.cpp not registered"
  # The line written inside handle() names the span; the trace holds the function.
  local trace
  trace=$("$tmp/prefix/bin/agentlog" logs search --root "$proj" --json "handling request" |
          sed -n 's/.*"traceId": "\([0-9a-f]*\)".*/\1/p' | head -1)
  [ -n "$trace" ] || fail "$1: the log line inside a span has no traceId: $out"
  "$tmp/prefix/bin/agentlog" traces show "$trace" --root "$proj" | grep -q "handle" || fail "$1: trace $trace has no handle()"
}

cmake -S "$src/tests/logger/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$tmp/cmake-build" > /dev/null
check_project "$tmp/cmake-build/consumer"

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
g++ -std=c++17 "$src/tests/logger/consumer/main.cpp" -o "$tmp/consumer-pc" $(pkg-config --cflags --libs agentlog-logger) -ldl
check_project "$tmp/consumer-pc"
echo "consumer: the CMake package and pkg-config builds log, register and link to traces"
