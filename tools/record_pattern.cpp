// record_pattern: store a named coding pattern in OpenMemory (the embedded store or the configured server).
// The agent's actions are recorded there automatically; patterns are what it wants to remember on purpose.
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

}  // namespace agentlog
