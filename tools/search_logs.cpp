// search_logs: keyword, regex, level, category, source, time range, fields and saved filters over latest.log
// and every archive, newest first.
#include <chrono>

#include "logger/log_search.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"
#include "tracer/store/store.hpp"

namespace agentlog {

namespace {

std::string resolve_time(const std::string& text) {
  try {
    return resolve_time_iso(text);
  } catch (const store::StoreError& e) {
    throw mcp::ToolError("logs.bad_time", e.what());
  }
}

}  // namespace

json run_log_search(const ToolsContext& ctx, const json& a) {
  LogQuery q;
  q.query = arg_or<std::string>(a, "query", "");
  q.regex = arg_or<std::string>(a, "regex", "");
  q.level = arg_or<std::string>(a, "level", "");
  q.category = arg_or<std::string>(a, "category", "");
  q.source = arg_or<std::string>(a, "source", "");
  if (a.contains("since")) q.since = resolve_time(a["since"].get<std::string>());
  if (a.contains("until")) q.until = resolve_time(a["until"].get<std::string>());
  q.fields = arg_or<json>(a, "fields", json::object());
  q.limit = arg_or<int>(a, "limit", 50);
  q.cursor = arg_or<std::string>(a, "cursor", "");
  try {
    if (a.contains("filter")) apply_saved_filter(ctx.layout, a["filter"].get<std::string>(), q);
    return search_logs(ctx.layout, q);
  } catch (const LogQueryError& e) {
    throw mcp::ToolError(e.id(), e.what());
  }
}

mcp::Tool make_search_logs(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "search_logs";
  tool.title = "Search logs";
  tool.description =
      "Search latest.log and every archive (compressed or not), newest first. All filters are optional and "
      "combine: query (fixed string), regex (RE2), level (minimum: trace..fatal), category, source (glob), "
      "since/until (ISO-8601 or an age like \"1h\"), fields (equalities, e.g. {\"reqId\": \"req-abc-123\"}), "
      "filter (a saved filter of config/filters.json). Each match carries file and line; pass nextCursor back for "
      "more. A match written inside a traced span carries traceId: open it with get_trace.";
  tool.input_schema = tool_schema("search_logs.input");
  tool.output_schema = tool_schema("search_logs.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json { return run_log_search(ctx, call.arguments); };
  return tool;
}

}  // namespace agentlog
