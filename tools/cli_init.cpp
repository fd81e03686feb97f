// agentlog init: install the .ai-agents/logging tree (and, with --claude, the Claude Code registration).
#include <algorithm>
#include <iostream>
#include <regex>

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
    throw std::runtime_error(
        path.string() + " is not valid JSON (" + e.what() +
        "); fix it by hand, then run agentlog init --claude again. Nothing was written.");
  }
  if (!value.is_object())
    throw std::runtime_error(path.string() +
                             " must hold a JSON object; fix it by hand, then run agentlog init "
                             "--claude again. Nothing was written.");
  return value;
}

// A section of the user's file that is not of the type Claude Code reads: init stops before writing anything
// rather than replace the user's value or register the server without the hooks.
[[noreturn]] void wrong_type(const fs::path& file, const std::string& key, const std::string& expected,
                             const nlohmann::json& found) {
  throw std::runtime_error(
      file.string() + ": `" + key + "` must be " + expected + ", not " + found.type_name() +
      "; fix or remove it by hand, then run agentlog init --claude again. Nothing was written.");
}

void check_mcp_json(const nlohmann::json& mcp, const fs::path& file) {
  if (mcp.contains("mcpServers") && !mcp["mcpServers"].is_object())
    wrong_type(file, "mcpServers", "an object", mcp["mcpServers"]);
}

// The sections of .claude/settings.json that init merges into.
void check_settings(const nlohmann::json& settings, const fs::path& file) {
  if (settings.contains("permissions")) {
    const nlohmann::json& permissions = settings["permissions"];
    if (!permissions.is_object()) wrong_type(file, "permissions", "an object", permissions);
    if (permissions.contains("deny") && !permissions["deny"].is_array())
      wrong_type(file, "permissions.deny", "an array of rules", permissions["deny"]);
  }
  if (!settings.contains("hooks")) return;
  const nlohmann::json& hooks = settings["hooks"];
  if (!hooks.is_object()) wrong_type(file, "hooks", "an object", hooks);
  for (const char* event : {"PreToolUse", "PostToolUse"}) {
    if (!hooks.contains(event)) continue;
    const std::string key = std::string("hooks.") + event;
    const nlohmann::json& list = hooks[event];
    if (!list.is_array()) wrong_type(file, key, "an array of objects", list);
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string at = key + "[" + std::to_string(i) + "]";
      if (!list[i].is_object()) wrong_type(file, at, "an object", list[i]);
      if (!list[i].contains("hooks")) continue;
      const nlohmann::json& commands = list[i]["hooks"];
      if (!commands.is_array()) wrong_type(file, at + ".hooks", "an array of objects", commands);
      for (std::size_t j = 0; j < commands.size(); ++j) {
        const std::string hook_at = at + ".hooks[" + std::to_string(j) + "]";
        if (!commands[j].is_object()) wrong_type(file, hook_at, "an object", commands[j]);
        if (commands[j].contains("command") && !commands[j]["command"].is_string())
          wrong_type(file, hook_at + ".command", "a string", commands[j]["command"]);
      }
    }
  }
}

// The file to write for `path`: the target of a symbolic link (a settings file kept in a dotfiles folder
// stays linked), else `path` itself.
fs::path write_target(fs::path path) {
  std::error_code ec;
  for (int hops = 0; hops < 40 && fs::is_symlink(path, ec); ++hops) {
    fs::path target = fs::read_symlink(path, ec);
    if (ec) break;
    path = target.is_absolute() ? target : path.parent_path() / target;
  }
  return path;
}

// `word` as one word for sh (Claude Code runs a hook's command through a shell): in single quotes, each ' in
// it written '\''.
std::string shell_quoted(const std::string& word) {
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A hook command agentlog wrote, from whichever binary path and with whatever options after it:
// `... hook pre-tool-use [--root DIR]` (`kind` is "pre" or "post").
bool is_agentlog_hook(const std::string& command, const std::string& kind) {
  const std::regex ours("\\shook\\s+" + kind + "-tool-use(\\s+-.*)?\\s*$");
  return std::regex_search(command, ours);
}

void add_unique(nlohmann::json& array, const nlohmann::json& item) {
  if (!array.is_array()) array = nlohmann::json::array();
  for (const auto& x : array)
    if (x == item) return;
  array.push_back(item);
}

// Puts agentlog's `kind` ("pre" or "post") hook under `event` in the settings: in place of the one an earlier
// init wrote (another binary path after an upgrade or an install), once; the user's own hooks stay as they
// are.
void set_hook(nlohmann::json& settings, const char* event, const std::string& kind, const char* matcher,
              const std::string& command) {
  nlohmann::json& list = settings["hooks"][event];
  if (!list.is_array()) list = nlohmann::json::array();
  bool placed = false;
  nlohmann::json kept = nlohmann::json::array();
  for (nlohmann::json entry : list) {
    if (!entry.contains("hooks")) {
      kept.push_back(std::move(entry));
      continue;
    }
    nlohmann::json hooks = nlohmann::json::array();
    bool ours_here = false;
    for (nlohmann::json h : entry["hooks"]) {
      if (!is_agentlog_hook(h.value("command", ""), kind)) {
        hooks.push_back(std::move(h));
      } else if (!placed) {  // the first one becomes this binary's; any other is a duplicate and goes
        h["type"] = "command";
        h["command"] = command;
        hooks.push_back(std::move(h));
        placed = ours_here = true;
      }
    }
    if (hooks.empty() && !entry["hooks"].empty()) continue;  // held only agentlog duplicates
    if (ours_here && hooks.size() == 1) entry["matcher"] = matcher;
    entry["hooks"] = std::move(hooks);
    kept.push_back(std::move(entry));
  }
  if (!placed)
    kept.push_back({{"matcher", matcher}, {"hooks", {{{"type", "command"}, {"command", command}}}}});
  list = std::move(kept);
}

// What agentlog found wrong in the project and did about it: on stderr, and in the audit log as its own
// record.
void warn_and_record(const ProjectLayout& layout, const std::string& tool, const std::string& error,
                     const std::vector<std::string>& files) {
  std::cerr << "agentlog: warning: " << error.substr(error.find("] ") + 2) << "\n";
  policy::AuditLog(layout.audit_dir())
      .append({{"time", iso8601_now_ms()},
               {"agent", {{"name", "agentlog"}, {"version", AGENTLOG_VERSION}}},
               {"session", ""},
               {"tool", tool},
               {"arguments", files.empty() ? nlohmann::json::object() : nlohmann::json{{"files", files}}},
               {"decision", "allowed"},
               {"outcome", "error"},
               {"error", error},
               {"durationMs", 0},
               {"files", files}});
}

}  // namespace

InitReport install_templates(const ProjectLayout& layout) {
  InitReport report;
  // A project with an audit chain has been set up before: a human-only .env file missing from it was removed
  // (by hand, or by an agent's command the hook did not see), and its defaults may allow what the human had
  // denied. It is made again, and that is said on stderr and recorded in the audit log.
  std::error_code in_use_ec;
  const policy::AuditLog audit(layout.audit_dir());
  // The log itself may be what was removed (with the whole tree): what agentlog saw of it, kept outside the
  // project, says so.
  const std::string audit_lost = policy::witness_problem(layout.root, audit);
  const bool in_use = fs::exists(layout.audit_head(), in_use_ec) || !audit_lost.empty();
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
  if (!audit_lost.empty())
    warn_and_record(layout, "agentlog:audit_lost",
                    "[audit.lost] " + audit_lost + "; check who removed it (this record starts a new chain)",
                    {});
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
    warn_and_record(layout, "agentlog:restore_config", "[config.restored] " + what, restored);
  }
  for (const fs::path& dir : {layout.logs_dir(), layout.traces_dir(), layout.audit_dir(), layout.memory_dir(),
                              layout.approvals_dir(), layout.backups_dir(), layout.hooks_dir()}) {
    std::error_code ec;
    if (fs::create_directories(dir, ec)) report.created.push_back(layout.relative(dir) + "/");
  }
  policy::update_witness(layout.root, audit, !audit_lost.empty());
  return report;
}

InitReport install_claude_files(const ProjectLayout& layout, const std::string& agentlog_path) {
  InitReport report;
  // Both files are read and checked before either is written: a server registered without its guard hooks
  // would look set up and guard nothing.
  const fs::path mcp_json = layout.root / ".mcp.json";
  const fs::path settings_path = layout.root / ".claude" / "settings.json";
  nlohmann::json mcp = load_json_object(mcp_json);
  check_mcp_json(mcp, mcp_json);
  nlohmann::json settings = load_json_object(settings_path);
  check_settings(settings, settings_path);

  const nlohmann::json server = {{"type", "stdio"}, {"command", agentlog_path}, {"args", {"serve"}}};
  const bool mcp_current = mcp.contains("mcpServers") &&
                           mcp["mcpServers"].contains("openmemory-code-global") &&
                           mcp["mcpServers"]["openmemory-code-global"] == server;
  mcp["mcpServers"]["openmemory-code-global"] = server;

  const nlohmann::json before = settings;
  nlohmann::json& deny = settings["permissions"]["deny"];
  // Claude Code's Read and Edit rules follow gitignore: `/path` is relative to the folder of the settings
  // file (the project), `path` to the session's current directory, which follows the agent's `cd`. Edit rules
  // apply to every tool that edits files (Write, MultiEdit, NotebookEdit too). An earlier init wrote the
  // cwd-relative form for each of those tools: those rules are replaced; the user's own rules stay.
  for (const char* path : {".ai-agents/logging/config/.env*", ".ai-agents/logging/audit/**",
                           ".ai-agents/logging/approvals/**"}) {
    if (deny.is_array())
      for (const char* tool : {"Edit", "Write", "MultiEdit", "NotebookEdit"}) {
        const std::string old_rule = std::string(tool) + "(" + path + ")";
        deny.erase(std::remove(deny.begin(), deny.end(), old_rule), deny.end());
      }
    add_unique(deny, std::string("Edit(/") + path + ")");
  }
  const std::string hook_cmd = shell_quoted(agentlog_path) + " hook ";
  set_hook(settings, "PreToolUse", "pre", "Edit|Write|MultiEdit|NotebookEdit|Bash|mcp__.*",
           hook_cmd + "pre-tool-use");
  set_hook(settings, "PostToolUse", "post", "*", hook_cmd + "post-tool-use");

  if (mcp_current) {
    report.kept.push_back(".mcp.json");
  } else {
    write_file_atomic(write_target(mcp_json), mcp.dump(2) + "\n");
    report.created.push_back(".mcp.json (server openmemory-code-global)");
  }
  if (settings == before) {
    report.kept.push_back(".claude/settings.json");
  } else {
    write_file_atomic(write_target(settings_path), settings.dump(2) + "\n");
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
    // The Claude Code files first: when the user's are not as Claude Code reads them, nothing at all is
    // written.
    InitReport c = claude ? install_claude_files(layout, self_path().string()) : InitReport{};
    InitReport report = install_templates(layout);
    report.created.insert(report.created.end(), c.created.begin(), c.created.end());
    report.kept.insert(report.kept.end(), c.kept.begin(), c.kept.end());
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
