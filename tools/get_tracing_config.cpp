// get_tracing_config: the effective tracing configuration of a file or function and where each value came from.
#include "tools/tools.hpp"
#include "tools/tracing_config.hpp"

namespace agentlog {

mcp::Tool make_get_tracing_config(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "get_tracing_config";
  tool.title = "Get tracing configuration";
  tool.description =
      "Return the effective tracing configuration (enabled, level 0-5, captureParams, captureReturn, sample "
      "rate, depth and capture limits) for a file or a function, where each value came from (.env.tracing, "
      "tracing.config.json or a default) and what the AI is permitted to do. Without arguments: the project "
      "defaults.";
  tool.input_schema = tool_schema("get_tracing_config.input");
  tool.output_schema = tool_schema("get_tracing_config.output");
  tool.annotations = {.read_only = true, .destructive = false, .idempotent = true, .open_world = false};
  tool.path_arguments = {"file"};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    std::string file = arg_or<std::string>(call.arguments, "file", "");
    std::string function = arg_or<std::string>(call.arguments, "function", "");
    if (!function.empty() && file.empty())
      throw mcp::ToolError("tracing_config.function_without_file",
                           "'function' needs 'file': pass the project-relative file that defines it");
    return effective_tracing_config(ctx.layout, file.empty() ? file : ctx.layout.relative(file), function);
  };
  return tool;
}

}  // namespace agentlog
