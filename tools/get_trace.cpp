// get_trace: the whole span tree of one trace.
#include "tools/tools.hpp"
#include "tools/traces.hpp"

namespace agentlog {

mcp::Tool make_get_trace(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "get_trace";
  tool.title = "Get a trace";
  tool.description =
      "Return every span of one trace in call-tree order (depth first): spanId, parentSpanId, function, file, "
      "line, startTime, duration (ms), params (paramOrder: their names in the signature's order), "
      "returnValue, error and children (span ids). Find trace ids with search_traces or find_slow_traces.";
  tool.input_schema = tool_schema("get_trace.input");
  tool.output_schema = tool_schema("get_trace.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    return with_store_errors([&] { return trace_store(ctx).get_trace(call.arguments.at("traceId").get<std::string>()); });
  };
  return tool;
}

}  // namespace agentlog
