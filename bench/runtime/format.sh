#!/usr/bin/env bash
# The writer's formatting of span lines (format.cpp), side by side with the runtime header of another commit:
#   bench/runtime/format.sh <git rev> [runs, default 9]
# Prints, for each header and each shape (one trace; a trace per span), the median over <runs> interleaved runs
# of each run's median ns per span.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/against_rev.sh"
$cxx -std=c++17 -O2 -pthread -I"$out/base" "$here/format.cpp" -o "$out/base_fmt"
$cxx -std=c++17 -O2 -pthread -I"$here/../../tracer/runtime" "$here/format.cpp" -o "$out/this_fmt"
base1=() base2=() this1=() this2=()
for ((i = 0; i < runs; i++)); do
  read -r a b < <("$out/base_fmt")
  base1+=("$a") base2+=("$b")
  read -r a b < <("$out/this_fmt")
  this1+=("$a") this2+=("$b")
done
echo "one trace:         header at $rev $(median "${base1[@]}") ns/span   this tree $(median "${this1[@]}") ns/span"
echo "a trace per span:  header at $rev $(median "${base2[@]}") ns/span   this tree $(median "${this2[@]}") ns/span"
