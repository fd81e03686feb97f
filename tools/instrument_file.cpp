// instrument_file: insert the tracing runtime's macros into one C/C++ file at a level.
#include "tools/instrumentation.hpp"
#include "tools/tools.hpp"

namespace agentlog {

mcp::Tool make_instrument_file(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "instrument_file";
  tool.title = "Instrument a file";
  tool.description =
      "Insert tracing into one C or C++ file with libclang: level 1 entry/exit and timing, 2 + parameters and "
      "return values, 3 + lambdas and cross-thread context, 4 + local variables, 5 + every statement. "
      "`functions` limits it to named functions. The file is re-parsed before it is written (nothing is written "
      "if the edit would break it), the original is kept for uninstrument_file, and dryRun returns the diff. "
      "Instrumenting again at another level re-levels the file. Build and run the program, then use "
      "find_slow_traces / search_traces.";
  tool.input_schema = tool_schema("instrument_file.input");
  tool.output_schema = tool_schema("instrument_file.output");
  tool.annotations = {.read_only = false, .destructive = false, .idempotent = true, .open_world = false};
  tool.path_arguments = {"file"};
  tool.permissions = {"tracing.instrument"};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    InstrumentRequest req;
    req.file = call.arguments.at("file").get<std::string>();
    req.level = call.arguments.at("level").get<int>();
    req.functions = arg_or<std::vector<std::string>>(call.arguments, "functions", {});
    req.dry_run = arg_or<bool>(call.arguments, "dryRun", false);
    return instrument_one(ctx, req, &call.files_touched);
  };
  return tool;
}

}  // namespace agentlog
