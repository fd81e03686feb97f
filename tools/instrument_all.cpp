// instrument_all: instrument every matching source file of the project, on every core, with progress.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "logger/env_file.hpp"
#include "tools/instrumentation.hpp"
#include "tools/tools.hpp"

namespace agentlog {

mcp::Tool make_instrument_all(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "instrument_all";
  tool.title = "Instrument the project";
  tool.description =
      "Instrument every C/C++ source file of the project at a level (include/exclude globs; TRACING_EXCLUDE_FILES, "
      "build directories, third_party/, vendor/, external/ and node_modules/ are always skipped). Goes on past a "
      "failing file and reports each file's outcome; sends progress notifications; can be cancelled.";
  tool.input_schema = tool_schema("instrument_all.input");
  tool.output_schema = tool_schema("instrument_all.output");
  tool.annotations = {.read_only = false, .destructive = false, .idempotent = true, .open_world = false};
  tool.long_running = true;
  tool.permissions = {"tracing.instrument"};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    const int level = call.arguments.at("level").get<int>();
    const bool dry_run = arg_or<bool>(call.arguments, "dryRun", false);
    auto include = arg_or<std::vector<std::string>>(call.arguments, "include", {});
    const std::vector<std::string> files =
        sources_to_instrument(ctx, include, arg_or<std::vector<std::string>>(call.arguments, "exclude", {}));
    std::vector<json> results(files.size());
    std::atomic<std::size_t> done{0};
    std::mutex progress_mutex;
    std::mutex touched_mutex;
    auto task = [&](std::size_t i) {
      if (call.cancelled()) {
        results[i] = {{"file", files[i]}, {"outcome", "skipped"}, {"error", "cancelled"}};
        return;
      }
      try {
        std::vector<mcp::FileTouch> touched;
        json r = instrument_one(ctx, {files[i], level, {}, dry_run}, &touched);
        results[i] = {{"file", files[i]},
                      {"outcome", r["changed"].get<bool>() ? (dry_run ? "would_instrument" : "instrumented")
                                                           : "unchanged"},
                      {"functions", r["functions"].size()}};
        std::lock_guard lock(touched_mutex);
        for (auto& t : touched) call.files_touched.push_back(std::move(t));
      } catch (const mcp::ToolError& e) {
        results[i] = {{"file", files[i]},
                      {"outcome", "failed"},
                      {"error", std::string("[") + e.id() + "] " + e.what()}};
      } catch (const std::exception& e) {
        results[i] = {{"file", files[i]}, {"outcome", "failed"}, {"error", e.what()}};
      }
      std::lock_guard lock(progress_mutex);
      call.report_progress(static_cast<double>(++done), static_cast<double>(files.size()), files[i]);
    };
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for_each_on_workers(
        files.size(), static_cast<unsigned>(arg_or<int>(call.arguments, "workers", static_cast<int>(cores))),
        task);
    json summary = {{"files", files.size()}, {"instrumented", 0}, {"unchanged", 0}, {"failed", 0}, {"skipped", 0}};
    for (const auto& r : results) {
      std::string o = r["outcome"];
      if (o == "would_instrument") o = "instrumented";
      summary[o] = summary[o].get<int>() + 1;
    }
    summary["cancelled"] = call.cancelled();
    return {{"level", level}, {"dryRun", dry_run}, {"files", results}, {"summary", summary}};
  };
  return tool;
}

}  // namespace agentlog
