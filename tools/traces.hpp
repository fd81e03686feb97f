// What the trace tools, the trace CLI and the resources share: the project's trace store, one per thread
// (SQLite connections are not shared between threads), and the mapping of store errors to tool errors.
#pragma once

#include <string>

#include "logger/env_file.hpp"
#include "mcp/tool_registry.hpp"
#include "tools/context.hpp"
#include "tracer/store/store.hpp"

namespace agentlog {

// The calling thread's store of ctx's project (opened on first use; TRACING_RETENTION_DAYS applies).
store::TraceStore& trace_store(const ToolsContext& ctx);

// Runs a store query; a store::StoreError becomes an mcp::ToolError with the same id.
template <class F>
json with_store_errors(F fn) {
  try {
    return fn();
  } catch (const store::StoreError& e) {
    throw mcp::ToolError(e.id(), e.what());
  }
}

}  // namespace agentlog
