// What instrument_file, instrument_all, uninstrument_file and `agentlog instrument|uninstrument` share: one
// file at a time, with the original bytes kept in integrations/backups/ and the hashes in
// integrations/registry.json ("instrumented"), so that uninstrumenting gives the original back.
//
// Thread-safety: files are independent; the registry is updated under an exclusive lock.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "mcp/tool_registry.hpp"
#include "tools/context.hpp"

namespace agentlog {

struct InstrumentRequest {
  std::string file;  // project-relative
  int level = 1;
  std::vector<std::string> functions;
  bool dry_run = false;
};

// {file, level, changed, functions: [{name, line, level, returnsWrapped}], notes, diff?}; throws
// mcp::ToolError (instrument.file_not_found, instrument.not_source, instrument.would_break).
json instrument_one(const ToolsContext& ctx, const InstrumentRequest& request, std::vector<mcp::FileTouch>* touched);

// {file, outcome: restored|stripped|not_instrumented, editsKept}
json uninstrument_one(const ToolsContext& ctx, const std::string& file, bool restore, bool dry_run,
                      std::vector<mcp::FileTouch>* touched);

// C and C++ sources of the project matching include globs (all when empty) and no exclude glob, without
// build directories, third_party/, vendor/, external/, node_modules/, .git/, .ai-agents/.
std::vector<std::string> project_sources(const ToolsContext& ctx, const std::vector<std::string>& include,
                                         const std::vector<std::string>& exclude);
// The sources that `instrument --all` and instrument_all take: project_sources without the files that
// TRACING_EXCLUDE_FILES names (never instrumented), nor those of `exclude`.
std::vector<std::string> sources_to_instrument(const ToolsContext& ctx,
                                               const std::vector<std::string>& include,
                                               std::vector<std::string> exclude);

bool is_source_file(const std::string& path);

// Runs task(i) for every i in [0, count) on up to `workers` threads (the caller's among them), each thread
// taking the next index (libclang takes a second or so per file). Returns when every task has run.
void for_each_on_workers(std::size_t count, unsigned workers, const std::function<void(std::size_t)>& task);

}  // namespace agentlog
