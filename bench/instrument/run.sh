#!/usr/bin/env bash
# Instrumenter speed: files per second on one core (the CLI works file by file) for the fixture project and
# for one large generated file, and the wall time of the instrument_all tool with 1 and 2 workers on a
# project of 40 copies of the fixture sources, measured through `agentlog serve`.
#   bench/instrument/run.sh [build dir]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
fixture="$here/../../tests/tracer/instrument/fixture"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
agentlog="$build/agentlog"

mkdir -p "$work/fixture" && cp -r "$fixture/src" "$work/fixture/" && "$agentlog" init --root "$work/fixture" > /dev/null
# A large file: 2,000 functions of 10 lines.
mkdir -p "$work/big/src" && "$agentlog" init --root "$work/big" > /dev/null
python3 - "$work/big/src/big.cpp" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("#include <string>\n#include <vector>\n")
    for i in range(2000):
        f.write(f"int f{i}(int a, const std::string& s) {{\n  int x = a + {i};\n  if (x > 10) {{\n    x -= static_cast<int>(s.size());\n  }}\n  std::vector<int> v(3, x);\n  for (int y : v) x += y;\n  return x;\n}}\n")
PY
# 40 copies of the fixture's sources for instrument_all.
mkdir -p "$work/many" && "$agentlog" init --root "$work/many" > /dev/null
for i in $(seq 40); do mkdir -p "$work/many/m$i" && cp "$fixture"/src/* "$work/many/m$i/"; done

hyperfine --warmup 1 --runs 5 -N --export-json "$work/h.json" \
  "$agentlog instrument --all --dry-run --level 2 --root $work/fixture" \
  "$agentlog instrument src/big.cpp --dry-run --level 2 --root $work/big" > /dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(f"fixture project (4 files, dry run, level 2): median {r[0]['median']*1000:.0f} ms = {4/r[0]['median']:.1f} files/s")
print(f"one 20,000-line file, 2,000 functions:      median {r[1]['median']*1000:.0f} ms = {2000/r[1]['median']:.0f} functions/s")
PY
for workers in 1 2; do
  python3 - "$agentlog" "$work/many" "$workers" <<'PY'
import json, subprocess, sys, time
agentlog, root, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([agentlog, "serve", "--root", root], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def rpc(i, method, params):
    p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n"); p.stdin.flush()
    while True:
        m = json.loads(p.stdout.readline())
        if m.get("id") == i: return m
rpc(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
t = time.time()
r = rpc(2, "tools/call", {"name": "instrument_all", "arguments": {"level": 2, "dryRun": True, "workers": workers}})
wall = time.time() - t
s = r["result"]["structuredContent"]["summary"]
print(f"instrument_all, {workers} worker(s): {s['files']} files in {wall*1000:.0f} ms = {s['files']/wall:.1f} files/s")
p.stdin.close(); p.wait()
PY
done
