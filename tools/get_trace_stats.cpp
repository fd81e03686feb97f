// get_trace_stats: duration statistics of a file or one function in it.
#include "tools/tools.hpp"
#include "tools/traces.hpp"

namespace agentlog {

mcp::Tool make_get_trace_stats(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "get_trace_stats";
  tool.title = "Trace statistics";
  tool.description =
      "Duration statistics of every recorded call in a file, or of one function in it: count, mean, exact p50, "
      "p95 and p99 (nearest rank), max (all ms), error rate, and the ids of the slowest traces. `file` may be a "
      "path suffix (\"users.cpp\"), `function` an unqualified name (\"getUser\").";
  tool.input_schema = tool_schema("get_trace_stats.input");
  tool.output_schema = tool_schema("get_trace_stats.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    return with_store_errors([&] {
      return trace_store(ctx).stats(arg_or<std::string>(call.arguments, "file", ""),
                                    arg_or<std::string>(call.arguments, "function", ""));
    });
  };
  return tool;
}

}  // namespace agentlog
