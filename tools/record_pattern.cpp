// record_pattern and search_memory: the agent's side of OpenMemory (the embedded store or the configured
// server). Its actions are recorded there automatically; patterns are what it wants to remember on purpose,
// and search_memory brings either back in a later session.
#include "policy/memory.hpp"
#include "tools/tools.hpp"

namespace agentlog {

mcp::Tool make_record_pattern(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "record_pattern";
  tool.title = "Record a pattern in OpenMemory";
  tool.description =
      "Store a named pattern (a convention, a fix that worked, a pitfall) with a description and an optional "
      "example in the project's OpenMemory, so that later sessions and other agents find it. Every tool call "
      "is recorded there automatically; use this for what deserves remembering on purpose.";
  tool.input_schema = tool_schema("record_pattern.input");
  tool.output_schema = tool_schema("record_pattern.output");
  tool.annotations = {.read_only = false, .destructive = false, .idempotent = false, .open_world = true};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    const json& a = call.arguments;
    std::vector<std::string> tags = arg_or<std::vector<std::string>>(a, "tags", {});
    ctx.memory->record_pattern(a.at("pattern_name").get<std::string>(), a.at("description").get<std::string>(),
                               arg_or<std::string>(a, "example", ""), tags);
    const policy::MemoryConfig c = ctx.memory->config();
    return {{"recorded", true}, {"destination", c.url.empty() ? "embedded" : "server"}, {"project", c.project}};
  };
  return tool;
}

mcp::Tool make_search_memory(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "search_memory";
  tool.title = "Search OpenMemory";
  tool.description =
      "Find what earlier sessions (yours or other agents') recorded in the project's OpenMemory: patterns "
      "stored with record_pattern, and the tool calls recorded automatically. Use it before starting work to "
      "recall conventions, fixes and decisions.";
  tool.input_schema = tool_schema("search_memory.input");
  tool.output_schema = tool_schema("search_memory.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = true};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    const json& a = call.arguments;
    std::string kind = arg_or<std::string>(a, "kind", "all");
    try {
      return ctx.memory->recall(a.at("query").get<std::string>(), kind == "all" ? "" : kind, arg_or<int>(a, "limit", 10));
    } catch (const std::runtime_error& e) {
      throw mcp::ToolError("memory.unreachable", e.what());
    }
  };
  return tool;
}

}  // namespace agentlog
