// agentlog init: install the .ai-agents/logging tree (and, with --claude, the Claude Code registration).
#include <algorithm>
#include <iostream>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"
#include "tools/embedded.hpp"

namespace agentlog {

namespace {

// Runtime files are agentlog's, not the user's: they follow the binary's version.
bool is_runtime_file(std::string_view path) { return path.rfind("runtime/", 0) == 0; }

fs::path self_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("agentlog") : p;
}

nlohmann::json load_json_object(const fs::path& path) {
  auto text = read_file(path);
  if (!text || text->empty()) return nlohmann::json::object();
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::runtime_error(path.string() + " is not valid JSON (" + e.what() +
                             "); fix it by hand, then run agentlog init --claude again");
  }
  if (!value.is_object()) throw std::runtime_error(path.string() + " must hold a JSON object");
  return value;
}

void add_unique(nlohmann::json& array, const nlohmann::json& item) {
  if (!array.is_array()) array = nlohmann::json::array();
  for (const auto& x : array)
    if (x == item) return;
  array.push_back(item);
}

}  // namespace

InitReport install_templates(const ProjectLayout& layout) {
  InitReport report;
  // A project with an audit chain has been set up before: a human-only .env file missing from it was removed
  // (by hand, or by an agent's command the hook did not see), and its defaults may allow what the human had
  // denied. It is made again, and that is said on stderr and recorded in the audit log.
  std::error_code in_use_ec;
  const bool in_use = fs::exists(layout.audit_head(), in_use_ec);
  std::vector<std::string> restored;
  for (const auto* bundle : {&embedded_templates(), &embedded_runtime()}) {
    for (const auto& file : *bundle) {
      fs::path target = layout.base() / fs::path(std::string(file.path));
      std::string rel = layout.relative(target);
      auto existing = read_file(target);
      if (existing) {
        if (is_runtime_file(file.path) && *existing != file.data) {
          write_file_atomic(target, file.data);
          report.created.push_back(rel + " (updated to this agentlog's version)");
        } else {
          report.kept.push_back(rel);
        }
        continue;
      }
      // The .env files hold API tokens and keys: readable by their owner only.
      const std::string name = fs::path(std::string(file.path)).filename().string();
      const bool env = name.rfind(".env", 0) == 0;
      std::string data(file.data);
      if (env && in_use && name == ".env.tracing") {  // fail closed: the human decides until they review it
        const std::string off = "TRACING_AI_REQUIRE_APPROVAL=false", on = "TRACING_AI_REQUIRE_APPROVAL=true";
        if (auto at = data.find(off); at != std::string::npos) data.replace(at, off.size(), on);
        data =
            "# Made again by agentlog at " + iso8601_now_ms() +
            ": this file was missing. Every AI operation needs your approval until you have set the values\n"
            "# you want here (TRACING_AI_REQUIRE_APPROVAL below).\n" +
            data;
      }
      write_file_atomic(target, data, env ? 0600 : 0644);
      report.created.push_back(rel);
      if (env && in_use) restored.push_back(rel);
    }
  }
  if (!restored.empty()) {
    std::string list;
    for (const auto& r : restored) list += (list.empty() ? "" : ", ") + r;
    const bool one = restored.size() == 1;
    const std::string what = "the human-only " + list + (one ? " was" : " were") +
                             " missing from a project with an audit log and " + (one ? "was" : "were") +
                             " made again with the defaults" +
                             (std::any_of(restored.begin(), restored.end(),
                                          [](const std::string& r) { return r.ends_with(".env.tracing"); })
                                  ? std::string(", but with TRACING_AI_REQUIRE_APPROVAL=true")
                                  : std::string()) +
                             "; check who removed " + (one ? "it" : "them") + " and set the values again";
    std::cerr << "agentlog: warning: " << what << "\n";
    policy::AuditLog(layout.audit_dir())
        .append({{"time", iso8601_now_ms()},
                 {"agent", {{"name", "agentlog"}, {"version", AGENTLOG_VERSION}}},
                 {"session", ""},
                 {"tool", "agentlog:restore_config"},
                 {"arguments", {{"files", restored}}},
                 {"decision", "allowed"},
                 {"outcome", "error"},
                 {"error", "[config.restored] " + what},
                 {"durationMs", 0},
                 {"files", restored}});
  }
  for (const fs::path& dir : {layout.logs_dir(), layout.traces_dir(), layout.audit_dir(), layout.memory_dir(),
                              layout.approvals_dir(), layout.backups_dir(), layout.hooks_dir()}) {
    std::error_code ec;
    if (fs::create_directories(dir, ec)) report.created.push_back(layout.relative(dir) + "/");
  }
  return report;
}

InitReport install_claude_files(const ProjectLayout& layout, const std::string& agentlog_path) {
  InitReport report;
  const fs::path mcp_json = layout.root / ".mcp.json";
  nlohmann::json mcp = load_json_object(mcp_json);
  nlohmann::json server = {{"type", "stdio"}, {"command", agentlog_path}, {"args", {"serve"}}};
  if (mcp["mcpServers"].is_object() && mcp["mcpServers"].contains("openmemory-code-global") &&
      mcp["mcpServers"]["openmemory-code-global"] == server) {
    report.kept.push_back(".mcp.json");
  } else {
    mcp["mcpServers"]["openmemory-code-global"] = server;
    write_file_atomic(mcp_json, mcp.dump(2) + "\n");
    report.created.push_back(".mcp.json (server openmemory-code-global)");
  }

  const fs::path settings_path = layout.root / ".claude" / "settings.json";
  nlohmann::json settings = load_json_object(settings_path);
  nlohmann::json before = settings;
  nlohmann::json& deny = settings["permissions"]["deny"];
  for (const char* tool : {"Edit", "Write", "MultiEdit", "NotebookEdit"}) {
    add_unique(deny, std::string(tool) + "(.ai-agents/logging/config/.env*)");
    add_unique(deny, std::string(tool) + "(.ai-agents/logging/audit/**)");
    add_unique(deny, std::string(tool) + "(.ai-agents/logging/approvals/**)");
  }
  const std::string hook_cmd = agentlog_path + " hook ";
  auto add_hook = [&](const char* event, const char* matcher, const std::string& command) {
    nlohmann::json& list = settings["hooks"][event];
    if (!list.is_array()) list = nlohmann::json::array();
    for (const auto& entry : list)
      for (const auto& h : entry.value("hooks", nlohmann::json::array()))
        if (h.value("command", "") == command) return;
    list.push_back({{"matcher", matcher}, {"hooks", {{{"type", "command"}, {"command", command}}}}});
  };
  add_hook("PreToolUse", "Edit|Write|MultiEdit|NotebookEdit|Bash", hook_cmd + "pre-tool-use");
  add_hook("PostToolUse", "*", hook_cmd + "post-tool-use");
  if (settings == before) {
    report.kept.push_back(".claude/settings.json");
  } else {
    write_file_atomic(settings_path, settings.dump(2) + "\n");
    report.created.push_back(".claude/settings.json (hooks and deny rules merged)");
  }
  return report;
}

void add_init_command(CLI::App& app) {
  auto* sub = app.add_subcommand("init", "Create .ai-agents/logging/ with commented defaults (never overwrites)");
  static CliCommon common{.makes_project = true};
  static bool claude = false;
  add_common_options(sub, common, /*root_may_be_new=*/true);
  sub->add_flag("--claude", claude, "Also register agentlog in .mcp.json and its hooks in .claude/settings.json");
  sub->callback([] {
    // init works on exactly the directory given (or the current one): it must not climb into a parent project.
    ProjectLayout layout = common.root.empty() ? ProjectLayout::at(fs::current_path()) : ProjectLayout::at(common.root);
    InitReport report = install_templates(layout);
    if (claude) {
      InitReport c = install_claude_files(layout, self_path().string());
      report.created.insert(report.created.end(), c.created.begin(), c.created.end());
      report.kept.insert(report.kept.end(), c.kept.begin(), c.kept.end());
    }
    if (common.json) {
      print_json({{"root", layout.root.string()}, {"created", report.created}, {"kept", report.kept}});
      return;
    }
    std::cout << "agentlog initialised " << layout.root.string() << "\n";
    for (const auto& c : report.created) std::cout << "  created " << c << "\n";
    for (const auto& k : report.kept) std::cout << "  kept    " << k << " (exists; not overwritten)\n";
    if (!claude)
      std::cout << "Register it in Claude Code: agentlog init --claude, or\n  claude mcp add --scope project "
                   "openmemory-code-global -- "
                << self_path().string() << " serve\n";
  });
}

}  // namespace agentlog
