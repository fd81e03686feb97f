// uninstrument_file: take the instrumentation out of a file again.
#include "tools/instrumentation.hpp"
#include "tools/tools.hpp"

namespace agentlog {

mcp::Tool make_uninstrument_file(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "uninstrument_file";
  tool.title = "Remove instrumentation";
  tool.description =
      "Remove the tracing instrumentation from a file. When the file was not edited since it was "
      "instrumented, "
      "the original bytes come back (outcome \"restored\"); when it was, exactly the inserted text is "
      "removed and "
      "the edits stay (outcome \"stripped\"). restore: true gives back the original bytes even then (the "
      "edits "
      "leave the file; a copy of it as edited, without the tracing, is kept and named in editsSavedTo).";
  tool.input_schema = tool_schema("uninstrument_file.input");
  tool.output_schema = tool_schema("uninstrument_file.output");
  tool.annotations = {.read_only = false, .destructive = true, .idempotent = true, .open_world = false};
  tool.path_arguments = {"file"};
  tool.permissions = {"tracing.unwrap"};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    return uninstrument_one(ctx, call.arguments.at("file").get<std::string>(), arg_or<bool>(call.arguments, "restore", false),
                            arg_or<bool>(call.arguments, "dryRun", false), &call.files_touched);
  };
  return tool;
}

}  // namespace agentlog
