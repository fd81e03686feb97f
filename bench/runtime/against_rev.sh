# Sourced by the scripts that run this tree's runtime header side by side with another commit's
# (format.sh, sidebyside.sh): reads <git rev> [runs, default 9] from their arguments, makes a temporary
# folder $out (removed at exit) with $out/base/agentlog_trace.hpp, the header at that commit, and defines
# median (of its arguments). Needs $here, the script's folder.
rev=$1
runs=${2:-9}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mkdir -p "$out/base"
git -C "$here" show "$rev:tracer/runtime/agentlog_trace.hpp" > "$out/base/agentlog_trace.hpp"
cxx=${CXX:-g++}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
