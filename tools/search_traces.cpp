// search_traces: traces whose spans match text, durations, file, function, time range, errors.
#include "tools/tools.hpp"
#include "tools/traces.hpp"

namespace agentlog {

store::SearchQuery search_query_from(const json& a) {
  store::SearchQuery q;
  q.query = arg_or<std::string>(a, "query", "");
  if (a.contains("minDuration")) q.min_ms = store::parse_duration_ms(a["minDuration"]);
  if (a.contains("maxDuration")) q.max_ms = store::parse_duration_ms(a["maxDuration"]);
  q.file = arg_or<std::string>(a, "file", "");
  q.function = arg_or<std::string>(a, "function", "");
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  if (a.contains("since")) q.since_ns = store::parse_time_ns(a["since"].get<std::string>(), now);
  if (a.contains("until")) q.until_ns = store::parse_time_ns(a["until"].get<std::string>(), now);
  q.errors_only = arg_or<bool>(a, "errorsOnly", false);
  q.limit = arg_or<int>(a, "limit", 20);
  q.cursor = arg_or<std::string>(a, "cursor", "");
  return q;
}

mcp::Tool make_search_traces(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "search_traces";
  tool.title = "Search traces";
  tool.description =
      "Find traces recorded by instrumented programs. Filters (all optional, combined with AND on the same "
      "span): query (words in function, file, parameters, return values or errors; case and accents "
      "ignored), minDuration/maxDuration (ms number or \"250ms\", \"1.5s\"), file, function, since/until "
      "(ISO-8601 or an age like \"1h\"), errorsOnly. Returns trace summaries, newest first, each with up "
      "to 5 matching spans; pass nextCursor back for more. Open one with get_trace.";
  tool.input_schema = tool_schema("search_traces.input");
  tool.output_schema = tool_schema("search_traces.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    return with_store_errors([&] { return trace_store(ctx).search(search_query_from(call.arguments)); });
  };
  return tool;
}

}  // namespace agentlog
