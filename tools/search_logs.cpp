// search_logs: keyword, regex, level, category, source, time range, fields and saved filters over latest.log
// and every archive, newest first.
#include <chrono>

#include "logger/log_record.hpp"
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
  std::string where;  // " (in saved filter ...)" when a saved filter is applied
  bool own_regex = false;
  try {
    if (a.contains("filter")) {
      const std::string name = a["filter"].get<std::string>();
      const bool own_since = !q.since.empty(), own_until = !q.until.empty(), own_level = !q.level.empty();
      own_regex = !q.regex.empty();
      apply_saved_filter(ctx.layout, name, q);
      // A filter's times are ages or ISO-8601 as the arguments are: resolved the same way (they were
      // compared as raw text: "1h" matched everything).
      where = " (in saved filter '" + name + "' of config/filters.json)";
      try {
        if (!own_since && !q.since.empty()) q.since = resolve_time(q.since);
        if (!own_until && !q.until.empty()) q.until = resolve_time(q.until);
      } catch (const mcp::ToolError& e) {
        throw mcp::ToolError(e.id(), e.what() + where);
      }
      if (!own_level && !q.level.empty() && log_level_index(q.level) < 0)
        throw mcp::ToolError("logs.unknown_level", "Unknown level '" + q.level + "'" + where +
                                                       "; use one of trace, debug, info, warn, error, fatal");
    }
    return search_logs(ctx.layout, q);
  } catch (const LogQueryError& e) {
    // A regex the saved filter gave is named as its (the agent did not type it).
    const bool from_filter = e.id() == "logs.bad_regex" && !where.empty() && !own_regex;
    throw mcp::ToolError(e.id(), e.what() + (from_filter ? where : ""));
  }
}

mcp::Tool make_search_logs(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "search_logs";
  tool.title = "Search logs";
  tool.description =
      "Search latest.log and every archive (compressed or not), newest first. All filters are optional and "
      "combine: query (fixed string, anywhere in the line), regex (RE2, over the message only), level "
      "(minimum: trace..fatal), category, source (a glob over the whole source path: * and ? match '/' "
      "too, so src/* is everything under src/), since/until (ISO-8601, UTC or with an offset like "
      "+01:00, or an age like \"1h\"), fields (equalities, e.g. {\"reqId\": \"req-abc-123\"}; a string "
      "spelling a number or boolean equals it, \"100\" and 100; a dotted name like \"user.id\" also reaches "
      "nested objects), filter (a saved filter of config/filters.json). Each match carries file and line; "
      "pass nextCursor back for more (lines logged meanwhile do not shift the pages: search again for them; "
      "logs.cursor_expired when retention removed the lines it points at). A page is at most about 512 KB "
      "(pageFull: fewer matches than limit) and a message over 8 KB or a long field is cut (truncated: true; "
      "the whole line is at file:line). damagedFiles names a file that could not be read to its end (a "
      "damaged archive, an unreadable latest.log). A match written inside a traced span carries traceId: "
      "open it with get_trace.";
  tool.input_schema = tool_schema("search_logs.input");
  tool.output_schema = tool_schema("search_logs.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json { return run_log_search(ctx, call.arguments); };
  return tool;
}

}  // namespace agentlog
