// agentlog hook pre-tool-use | post-tool-use: Claude Code hooks (installed by `agentlog init --claude`).
// pre-tool-use blocks (exit 2, the reason on stderr) edits of protected files and shell commands that name
// one and are not plain reads; post-tool-use records every tool use of the agent in the audit log.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>

#include "logger/event_writer.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "tools/cli.hpp"
#include "tools/context.hpp"

namespace agentlog {

namespace {

const char* const kProtectedMarks[] = {".env.tracing", ".env.logging", "config/.env", "logging/audit", "audit/actions.jsonl",
                                       "audit/head.json", "logging/approvals"};

bool names_protected(const std::string& text) {
  for (const char* m : kProtectedMarks)
    if (text.find(m) != std::string::npos) return true;
  return false;
}

// A word of a command that names a protected file or a folder holding one (.ai-agents, .ai-agents/logging,
// its config/, audit/, approvals/), also through a glob (`.ai-agents/logging/conf*`): removing or moving the
// folder removes the files (and `serve` would then make permissive defaults again).
bool covers_protected(const std::string& word) {
  const std::string tree = ".ai-agents";
  const std::size_t at = word.find(tree);
  if (at == std::string::npos) return false;
  std::string rest = word.substr(at + tree.size());
  rest.erase(std::remove(rest.begin(), rest.end(), '"'), rest.end());
  rest.erase(std::remove(rest.begin(), rest.end(), '\''), rest.end());
  const std::size_t glob = rest.find_first_of("*?[{");
  const bool globbed = glob != std::string::npos;
  if (globbed) rest.resize(glob);
  for (std::size_t p; (p = rest.find("/./")) != std::string::npos;) rest.erase(p, 2);
  for (std::size_t p; (p = rest.find("//")) != std::string::npos;) rest.erase(p, 1);
  if (!globbed)
    while (!rest.empty() && (rest.back() == '/' || (rest.size() >= 2 && rest.ends_with("/."))))
      rest.pop_back();
  for (const std::string p : {"/logging/config/.env", "/logging/audit", "/logging/approvals"}) {
    if (rest.starts_with(p)) return true;                                        // in it
    if (globbed ? p.starts_with(rest) : p.starts_with(rest + "/")) return true;  // a folder holding it
  }
  return false;
}

// The command names a protected file, or a folder holding one, anywhere.
bool touches_protected(std::string command) {
  if (names_protected(command)) return true;
  for (char& c : command)
    if (std::strchr(";|&()<>`$", c)) c = ' ';
  std::stringstream words(command);
  for (std::string w; words >> w;)
    if (covers_protected(w)) return true;
  return false;
}

// A command that only reads: every segment (split at ; && || |) that names a protected file, or a folder
// holding one, starts with a reading command, and nothing is redirected into a file or edited in place.
bool plain_read(const std::string& command) {
  if (command.find('>') != std::string::npos || command.find(" -i") != std::string::npos ||
      command.find("tee ") != std::string::npos || command.find('`') != std::string::npos || command.find("$(") != std::string::npos)
    return false;
  std::string normalized = command;
  for (const char* sep : {"&&", "||", ";", "|", "\n"})
    for (std::size_t p; (p = normalized.find(sep)) != std::string::npos;) normalized.replace(p, std::strlen(sep), "\x1f");
  std::stringstream segments(normalized);
  for (std::string seg; std::getline(segments, seg, '\x1f');) {
    std::vector<std::string> words;
    std::stringstream split(seg);
    for (std::string w; split >> w;) words.push_back(w);
    if (words.empty() || !touches_protected(seg)) continue;
    static const char* const reads[] = {"cat", "head", "tail", "less", "more", "grep",
                                        "wc",  "ls",   "stat", "du",   "file", "find"};
    if (std::find(std::begin(reads), std::end(reads), words[0]) == std::end(reads)) return false;
    for (const auto& w : words)  // find's actions that change files
      if (w == "-delete" || w.starts_with("-exec") || w.starts_with("-ok") || w.starts_with("-fprint") ||
          w == "-fls")
        return false;
  }
  return true;
}

ProjectLayout layout_for(const CliCommon& common, const json& input) {
  if (!common.root.empty() || !input.is_object() || !input.contains("cwd")) return common.layout();
  return ProjectLayout::discover(input["cwd"].get<std::string>());
}


void audit(const ProjectLayout& layout, const json& input, const std::string& decision, const std::string& error) {
  json tool_input = input.value("tool_input", json::object());
  std::string args = policy::redact(tool_input).dump();
  json record = {{"time", iso8601_now_ms()},
                 {"agent", {{"name", "claude-code"}, {"version", "hook"}}},
                 {"session", input.value("session_id", "")},
                 {"tool", "claude:" + input.value("tool_name", "?")},
                 {"arguments", args.size() > 4000 ? json(args.substr(0, 4000) + "...") : policy::redact(tool_input)},
                 {"decision", decision},
                 {"outcome", decision == "allowed" ? "ok" : "error"},
                 {"durationMs", 0},
                 {"files", json::array()}};
  if (!error.empty()) record["error"] = error;
  remember_action(layout, policy::AuditLog(layout.audit_dir()).append(std::move(record)), "agentlog");
}

}  // namespace

void add_hook_commands(CLI::App& app) {
  auto* hook = app.add_subcommand("hook", "Claude Code hooks: guard protected files, record every agent tool use");
  hook->require_subcommand(1);
  static CliCommon common{.makes_project = true};

  auto* pre = hook->add_subcommand("pre-tool-use", "Reads the PreToolUse JSON on stdin; exit 2 blocks the tool use");
  add_common_options(pre, common);
  pre->callback([] {
    std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    json input = json::parse(raw, nullptr, false);
    if (input.is_discarded() || !input.is_object()) {  // a guard fails closed
      std::cerr
          << "agentlog: blocked: the hook input is not a JSON object; `agentlog hook pre-tool-use` reads "
             "Claude Code's PreToolUse JSON on stdin (see .ai-agents/logging/integrations/hooks/)\n";
      throw CLI::RuntimeError(2);
    }
    ProjectLayout layout = layout_for(common, input);
    const std::string tool = input.value("tool_name", "");
    const json tool_input = input.value("tool_input", json::object());
    std::string reason;
    if (tool == "Write" || tool == "Edit" || tool == "MultiEdit" || tool == "NotebookEdit") {
      std::string path = tool_input.value("file_path", tool_input.value("notebook_path", ""));
      if (path.empty() && names_protected(raw))
        reason = "the " + tool + " input has no file_path but mentions a protected file";
      else if (!path.empty()) {
        auto d = policy::check_path(layout, path, {});
        if (d.denial && d.denial->id == "policy.denied.protected_file") reason = d.denial->message;
      }
    } else if (tool == "Bash") {
      std::string command = tool_input.value("command", "");
      static const std::regex self_approval(R"(\bapprovals\s+(approve|deny)\b)");
      if (touches_protected(command) && !plain_read(command))
        reason =
            "the command names a protected file (.env files, the audit log, approvals) or a folder holding "
            "one, and is not a plain read (cat, head, tail, less, more, grep, wc, ls, stat, du, file, find "
            "without -delete or -exec); only the human may change these files";
      else if (std::regex_search(command, self_approval))
        reason = "only the human approves or denies: `agentlog approvals approve|deny` is not for the agent; ask the "
                 "human to run it";
    }
    if (reason.empty()) return;
    try {
      audit(layout, input, "denied", "[policy.denied.protected_file] " + reason);
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
    std::cerr << "agentlog: blocked: " << reason << "\n";
    throw CLI::RuntimeError(2);
  });

  auto* post = hook->add_subcommand("post-tool-use", "Reads the PostToolUse JSON on stdin; records it in the audit log");
  add_common_options(post, common);
  post->callback([] {
    std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    json input = json::parse(raw, nullptr, false);
    if (input.is_discarded() || !input.is_object()) {
      std::cerr << "agentlog: post-tool-use input is not JSON; nothing recorded\n";
      return;
    }
    try {
      audit(layout_for(common, input), input, "allowed", "");
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
  });
}

}  // namespace agentlog
