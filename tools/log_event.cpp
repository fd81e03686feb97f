// log_event: write one structured event to .ai-agents/logging/logs/latest.log.
#include <cmath>

#include "logger/event_writer.hpp"
#include "tools/tools.hpp"

namespace agentlog {

namespace {

// JSON integers beyond 64 bits arrive as floating-point numbers (the parser has no bigger integer) and keep
// only about 17 digits: a field value that was such an integer is then written rounded. Said in the answer,
// with the way to keep it whole.
void note_rounded_integers(const json& value, const std::string& path, std::vector<std::string>& notes) {
  if (value.is_structured()) {
    std::size_t index = 0;
    for (auto it = value.begin(); it != value.end(); ++it, ++index)
      note_rounded_integers(
          *it, value.is_object() ? path + "." + it.key() : path + "[" + std::to_string(index) + "]", notes);
    return;
  }
  const double v = value.is_number_float() ? value.get<double>() : 0;
  if (std::isfinite(v) && std::trunc(v) == v && (v >= 0x1p64 || v < -0x1p63))
    notes.push_back(
        path + " is " + value.dump() +
        ": an integer beyond 64 bits is kept as a floating-point number, and digits after the 17th "
        "are lost. Send it as a string to keep every digit.");
}

}  // namespace

mcp::Tool make_log_event(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "log_event";
  tool.title = "Log an event";
  tool.description =
      "Write one structured event (level, category, source, message, fields) to the project's log "
      "(.ai-agents/logging/logs/latest.log). Use it for every significant action you take and for what you "
      "observe; search it later with search_logs. A level below the project's minimum is not written "
      "(written: false, with the reason); while the human has switched logging off (LOGGING_ENABLED=false) "
      "the call is refused as an error, [policy.denied.disabled].";
  tool.input_schema = tool_schema("log_event.input");
  tool.output_schema = tool_schema("log_event.output");
  tool.annotations = {.read_only = false, .destructive = false, .idempotent = false, .open_world = false};
  tool.permissions = {"logging.write"};
  tool.handler = [&ctx, file = ctx.layout.relative(ctx.layout.latest_log())](mcp::ToolCall& call) -> json {
    const json& a = call.arguments;
    LogEvent event;
    event.level = arg_or<std::string>(a, "level", "info");
    event.category = arg_or<std::string>(a, "category", "ai-agent");
    event.source = arg_or<std::string>(a, "source", "");
    event.message = a.at("message").get<std::string>();
    event.fields = arg_or<json>(a, "fields", json::object());
    event.trace_id = arg_or<std::string>(a, "traceId", "");
    event.span_id = arg_or<std::string>(a, "spanId", "");
    EventResult r = write_event(ctx.layout, event);
    // Switched off between the policy's check and the write: the same refusal as the policy's, so an agent
    // sees one answer for LOGGING_ENABLED=false however the timing falls.
    if (r.disabled) throw mcp::ToolError("policy.denied.disabled", r.reason);
    if (!r.written) return {{"written", false}, {"reason", r.reason}};
    json out = {{"written", true}, {"file", file}, {"record", r.record}};
    std::vector<std::string> notes;
    note_rounded_integers(event.fields, "fields", notes);
    if (!notes.empty()) out["notes"] = notes;
    return out;
  };
  return tool;
}

}  // namespace agentlog
