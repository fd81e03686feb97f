// find_slow_traces: traces over a duration threshold, slowest first.
#include "tools/tools.hpp"
#include "tools/traces.hpp"

namespace agentlog {

mcp::Tool make_find_slow_traces(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "find_slow_traces";
  tool.title = "Find slow traces";
  tool.description =
      "List traces that took at least `threshold` (ms number or \"250ms\", \"1.5s\"; default 0), slowest first, "
      "at most `limit` (default 20). Then open one with get_trace to see which calls were slow and with which "
      "arguments.";
  tool.input_schema = tool_schema("find_slow_traces.input");
  tool.output_schema = tool_schema("find_slow_traces.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    return with_store_errors([&] {
      double threshold = call.arguments.contains("threshold") ? store::parse_duration_ms(call.arguments["threshold"]) : 0.0;
      return trace_store(ctx).find_slow(threshold, arg_or<int>(call.arguments, "limit", 20));
    });
  };
  return tool;
}

}  // namespace agentlog
