// agentlog instrument FILE...|--all [--level N] [--functions a,b] [--dry-run];
// agentlog uninstrument FILE...|--all [--restore]. The human's way to what the tools do (same code path,
// no policy gate: the human is the policy). Run in the agent's shell (CLAUDECODE set), each change is instead
// the MCP call it stands for (instrument_file, instrument_all, uninstrument_file) through the tools' registry
// and policy guard: refused by TRACING_ALLOW_AI_*, parked by TRACING_AI_REQUIRE_APPROVAL (the same command
// runs once the human approved), and in the audit log as the agent's, as its MCP calls are.
#include <iostream>
#include <optional>
#include <thread>

#include "tools/cli.hpp"
#include "tools/instrumentation.hpp"
#include "tools/tools.hpp"

namespace agentlog {

namespace {

std::vector<std::string> resolve_files(const ProjectLayout& layout, const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    // Relative to the working directory when it exists there, else to the project root (--root).
    std::filesystem::path p = a;
    if (p.is_relative() && !std::filesystem::exists(p)) p = layout.root / p;
    out.push_back(layout.relative(std::filesystem::absolute(p).lexically_normal()));
  }
  return out;
}

// The MCP tools behind their policy guard, for the commands the agent runs in its shell. `ctx` must outlive
// it. Thread-safety: call() from any number of threads (the registry's guarantee).
class AgentCalls {
 public:
  explicit AgentCalls(ToolsContext& ctx) { prepare_registry(registry_, ctx); }

  // The tool's result; a call the policy refused or parked, or that failed, throws mcp::ToolError with the
  // text the agent would have got over MCP ("[policy.approval.required] ... apr-1a2b3c4d ...").
  json call(const std::string& tool, json arguments) const {
    mcp::ToolCall call;
    call.tool = tool;
    call.arguments = std::move(arguments);
    call.client.name = "claude-code";
    call.client.version = "shell";
    mcp::ToolResult r = registry_.call(call);
    if (!r.is_error) return std::move(r.structured);
    throw mcp::ToolError(error_id(r.text), r.text);
  }

 private:
  mcp::ToolRegistry registry_;
};

}  // namespace

void add_instrument_commands(CLI::App& app) {
  static CliCommon common{.makes_project = true};
  static std::vector<std::string> files, functions;
  static int level = 2;
  static bool all = false, dry_run = false, restore = false;

  auto* ins = app.add_subcommand("instrument", "Insert tracing into C/C++ files (libclang)");
  add_common_options(ins, common);
  ins->add_option("files", files, "Source files");
  ins->add_flag("--all", all, "Every source file of the project");
  ins->add_option("--level", level, "1-5")->check(CLI::Range(1, 5))->capture_default_str();
  // One value (comma-separated names), so that the files may follow it.
  ins->add_option("--functions", functions, "Only these functions (comma-separated: a,b)")
      ->delimiter(',')
      ->allow_extra_args(false);
  ins->add_flag("--dry-run", dry_run, "Print the diff, write nothing");
  ins->callback([] {
    ToolsContext ctx{common.layout()};
    std::optional<AgentCalls> agent;
    if (in_agent_shell()) agent.emplace(ctx);
    if (agent && all && functions.empty()) {  // instrument_all: one call, one approval, as over MCP
      json arguments = {{"level", level}};
      if (dry_run) arguments["dryRun"] = true;
      const json r = agent->call("instrument_all", arguments);
      if (common.json) print_json(r);
      bool failed = false;
      for (const auto& f : r["files"]) {
        failed = failed || f["outcome"] == "failed";
        if (!common.json)
          std::cerr << f["file"].get<std::string>() << ": " << f["outcome"].get<std::string>()
                    << (f.contains("error") ? ": " + f["error"].get<std::string>()
                                            : ", " + f["functions"].dump() + " functions")
                    << "\n";
      }
      if (failed) throw CLI::RuntimeError(1);
      return;
    }
    std::vector<std::string> list =
        all ? sources_to_instrument(ctx, {}, {}) : resolve_files(ctx.layout, files);
    if (list.empty()) throw CLI::ValidationError("instrument", "name files or pass --all");
    // Each file is parsed by libclang (a second or so with the standard headers): on every core, printed in
    // order.
    std::vector<json> outcomes(list.size());
    std::vector<std::string> errors(list.size());
    for_each_on_workers(list.size(), std::thread::hardware_concurrency(), [&](std::size_t i) {
      try {
        if (!agent) {
          outcomes[i] = instrument_one(ctx, {list[i], level, functions, dry_run}, nullptr);
          return;
        }
        json arguments = {{"file", list[i]}, {"level", level}};
        if (!functions.empty()) arguments["functions"] = functions;
        if (dry_run) arguments["dryRun"] = true;
        outcomes[i] = agent->call("instrument_file", arguments);
      } catch (const std::exception& e) {  // (on a worker thread: nothing may escape it)
        errors[i] = e.what();
      }
    });
    bool failed = false;
    json results = json::array();
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string& f = list[i];
      if (!errors[i].empty()) {
        failed = true;
        std::cerr << f << ": " << errors[i] << "\n";
        results.push_back({{"file", f}, {"error", errors[i]}});
        continue;
      }
      const json& r = outcomes[i];
      if (dry_run && !common.json) std::cout << r["diff"].get<std::string>();
      if (!common.json) {
        std::cerr << f << ": "
                  << (r["changed"].get<bool>() ? (dry_run ? "would instrument " : "instrumented ")
                                               : "unchanged, ")
                  << r["functions"].size() << " functions at level "
                  << (fs::path(f).extension() == ".c" && level > 2 ? "2 (C files: 1-2)"
                                                                   : std::to_string(level))
                  << "\n";
        for (const auto& n : r["notes"]) std::cerr << "  note: " << n.get<std::string>() << "\n";
      }
      results.push_back(r);
    }
    if (common.json) print_json(results);
    if (failed) throw CLI::RuntimeError(1);
  });

  auto* un = app.add_subcommand("uninstrument", "Remove tracing from C/C++ files");
  add_common_options(un, common);
  un->add_option("files", files, "Source files");
  un->add_flag("--all", all, "Every instrumented file of the project");
  un->add_flag("--restore", restore, "Give back the original bytes even if the file was edited since");
  un->add_flag("--dry-run", dry_run, "Print the diff, write nothing");
  un->callback([] {
    ToolsContext ctx{common.layout()};
    std::optional<AgentCalls> agent;
    if (in_agent_shell()) agent.emplace(ctx);
    std::vector<std::string> list = all ? project_sources(ctx, {}, {}) : resolve_files(ctx.layout, files);
    if (list.empty()) throw CLI::ValidationError("uninstrument", "name files or pass --all");
    bool failed = false;
    json results = json::array();
    for (const auto& f : list) {
      try {
        // The agent's --all asks for the instrumented files only (over MCP it names each): a file with
        // nothing to take out is no call, and waits for no approval.
        json r;
        if (!agent || all) r = uninstrument_one(ctx, f, restore, dry_run || agent.has_value(), nullptr);
        if (all && r["outcome"] == "not_instrumented") continue;
        if (agent) {
          json arguments = {{"file", f}};
          if (restore) arguments["restore"] = true;
          if (dry_run) arguments["dryRun"] = true;
          r = agent->call("uninstrument_file", arguments);
        }
        if (dry_run && !common.json && r.contains("diff")) std::cout << r["diff"].get<std::string>();
        if (!common.json) {
          std::cerr << f << ": " << r["outcome"].get<std::string>();
          if (r.contains("editsSavedTo"))
            std::cerr << " (the edits made since it was instrumented are kept in "
                      << r["editsSavedTo"].get<std::string>() << ")";
          else if (r.contains("editsDiscarded"))
            std::cerr << " (would discard the edits made since it was instrumented, keeping a copy of them)";
          std::cerr << "\n";
        }
        results.push_back(r);
      } catch (const mcp::ToolError& e) {
        failed = true;
        std::cerr << f << ": " << e.what() << "\n";
      }
    }
    if (common.json) print_json(results);
    if (failed) throw CLI::RuntimeError(1);
  });
}

}  // namespace agentlog
