// agentlog hook pre-tool-use | post-tool-use: Claude Code hooks (installed by `agentlog init --claude`).
// pre-tool-use blocks (exit 2, the reason on stderr) edits of protected files and shell commands that name
// one and are not plain reads; post-tool-use records every tool use of the agent in the audit log.
#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <iterator>
#include <optional>
#include <regex>
#include <sstream>

#include "logger/event_writer.hpp"
#include "mcp/json_rpc.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "tools/cli.hpp"
#include "tools/context.hpp"

namespace agentlog {

namespace {

// File names that are agentlog's own wherever they appear in a command (a path hidden in a script's text).
const char* const kProtectedNames[] = {".env.tracing", ".env.logging", "audit/actions.jsonl",
                                       "audit/head.json"};

bool names_protected(const std::string& text) {
  for (const char* m : kProtectedNames)
    if (text.find(m) != std::string::npos) return true;
  return false;
}

// Whether `pattern`, a path component that may be a shell glob, can stand for `name` (as bash expands it: a
// leading '.' only by a '.').
bool component_matches(const std::string& pattern, const char* name) {
  return fnmatch(pattern.c_str(), name, FNM_PATHNAME | FNM_PERIOD) == 0;
}

// A path, a shell word, that names a protected file or a folder holding one, in any project: .ai-agents,
// .ai-agents/logging, its config/ (holding the .env files), audit/ and approvals/ and what is in them. Also
// through a glob on any component (`.ai-agent?/logging/conf*`, `.[a]i-agents`, `.??*`), since removing or
// moving the folder removes the files (and `serve` would then make permissive defaults again).
bool covers_protected(const std::string& word) {
  std::vector<std::string> parts;
  for (const auto& part : fs::path(word).lexically_normal())
    if (!part.empty() && part != "/") parts.push_back(part.string());
  const std::size_t n = parts.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!component_matches(parts[i], ".ai-agents")) continue;
    if (i + 1 == n) return true;
    if (!component_matches(parts[i + 1], "logging")) continue;
    if (i + 2 == n) return true;
    const std::string& folder = parts[i + 2];
    if (component_matches(folder, "audit") || component_matches(folder, "approvals")) return true;
    if (component_matches(folder, "config") &&
        (i + 3 == n || component_matches(parts[i + 3], ".env.tracing") ||
         component_matches(parts[i + 3], ".env.logging") || parts[i + 3].starts_with(".env")))
      return true;
  }
  return false;
}

// Claude Code's settings, which register this guard: the agent turning it off would not be audited.
bool claude_settings(const std::string& path) {
  const fs::path p = fs::path(path).lexically_normal();
  return p.parent_path().filename() == ".claude" &&
         (p.filename() == "settings.json" || p.filename() == "settings.local.json");
}

// The word with the shell's quoting taken out (`".ai-agents"/x`, `.en\v.logging`).
std::string unquoted(std::string word) {
  std::erase_if(word, [](char c) { return c == '"' || c == '\'' || c == '\\'; });
  return word;
}

// A word of a command names a protected file or a folder holding one: as written, and relative to the
// command's working directory (the agent's shell keeps the folder it went into).
bool word_protected(const std::string& word, const fs::path& cwd) {
  const std::string w = unquoted(word);
  if (covers_protected(w) || claude_settings(w)) return true;
  return !cwd.empty() && !w.empty() && w[0] != '/' && w[0] != '~' && covers_protected((cwd / w).string());
}

std::vector<std::string> words_of(std::string text) {
  for (char& c : text)
    if (std::strchr(";|&()<>`$=", c)) c = ' ';
  std::vector<std::string> out;
  std::stringstream split(text);
  for (std::string w; split >> w;) out.push_back(w);
  return out;
}

bool touches_protected(const std::string& text, const fs::path& cwd) {
  if (names_protected(unquoted(text))) return true;
  const auto words = words_of(text);
  return std::any_of(words.begin(), words.end(),
                     [&](const std::string& w) { return word_protected(w, cwd); });
}

// The parts of `text` between separators (the longer ones first: "&&" before "&").
std::vector<std::string> split_at(const std::string& text, std::initializer_list<const char*> separators) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < text.size();) {
    const char* hit = nullptr;
    for (const char* sep : separators)
      if (text.compare(i, std::strlen(sep), sep) == 0) {
        hit = sep;
        break;
      }
    if (hit) {
      out.emplace_back();
      i += std::strlen(hit);
    } else {
      out.back() += text[i++];
    }
  }
  return out;
}

// A command that leaves the protected files as they are: every pipeline (split at ; && || & and newlines)
// that names one, or a folder holding one, is made of reading commands only (what they read may flow on
// through the pipe: `| xargs sed -i` is not a read), redirects nothing into a file, and no command
// substitution could build a path.
bool plain_read(const std::string& command, const fs::path& cwd) {
  if (!touches_protected(command, cwd)) return true;
  for (const char* hidden : {"`", "$(", "<(", ">(", "eval "})
    if (command.find(hidden) != std::string::npos) return false;
  static const char* const reads[] = {"cat",  "head", "tail", "less", "more", "grep", "wc",        "ls",
                                      "stat", "du",   "file", "find", "jq",   "diff", "sha256sum", "cmp"};
  for (std::string pipeline : split_at(command, {"&&", "||", ";", "&", "\n"})) {
    if (!touches_protected(pipeline, cwd)) continue;
    for (const char* harmless : {"2>&1", ">&2", "2>/dev/null", ">/dev/null"})
      for (std::size_t p; (p = pipeline.find(harmless)) != std::string::npos;)
        pipeline.erase(p, std::strlen(harmless));
    if (pipeline.find('>') != std::string::npos) return false;
    for (const auto& command_part : split_at(pipeline, {"|"})) {
      std::vector<std::string> words;
      std::stringstream split(command_part);
      for (std::string w; split >> w;) words.push_back(unquoted(w));
      if (words.empty()) continue;
      if (std::find(std::begin(reads), std::end(reads), words[0]) == std::end(reads)) return false;
      for (const auto& w : words)  // find's actions that change files
        if (w == "-delete" || w.starts_with("-exec") || w.starts_with("-ok") || w.starts_with("-fprint") ||
            w == "-fls")
          return false;
    }
  }
  return true;
}

// The human's `agentlog approvals approve|deny`, in any quoting: any use of the approvals command but its
// listing.
bool runs_approvals(const std::string& command) {
  static const std::regex decision(R"((^|[\s;&|(])approvals(\s|$)(?!\s*(list|--help|-h)\b))");
  return std::regex_search(unquoted(command), decision);
}

// The project whose guard this is: --root, else the one Claude Code runs in ($CLAUDE_PROJECT_DIR), else the
// one holding the hook's cwd. (The agent's cwd alone would let it walk out of the project it guards.)
ProjectLayout layout_for(const CliCommon& common, const json& input) {
  if (!common.root.empty()) return common.layout();
  if (const char* dir = std::getenv("CLAUDE_PROJECT_DIR"); dir && *dir) return ProjectLayout::discover(dir);
  std::error_code ec;
  if (input.contains("cwd") && input["cwd"].is_string() &&
      fs::is_directory(input["cwd"].get<std::string>(), ec))
    return ProjectLayout::discover(input["cwd"].get<std::string>());
  return common.layout();
}

// The project whose .ai-agents tree `named` lies in, when it has one: a refused edit of its files is
// recorded in its audit log.
std::optional<ProjectLayout> owning_project(const fs::path& named) {
  fs::path prefix, owner;
  for (const auto& part : named.lexically_normal()) {
    if (part == ".ai-agents") owner = prefix;
    prefix /= part;
  }
  std::error_code ec;
  if (owner.empty() || !fs::is_directory(ProjectLayout::at(owner).base(), ec)) return std::nullopt;
  return ProjectLayout::at(owner);
}

// The hook's JSON; what nests deeper than an MCP message may is left out (and said), so that nothing after
// this walks it recursively.
json read_input(bool& too_deep) {
  std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  too_deep = false;
  return json::parse(
      raw,
      [&](int depth, json::parse_event_t, json&) {
        if (depth <= static_cast<int>(mcp::kMaxNesting)) return true;
        too_deep = true;
        return false;
      },
      false);
}

void audit(const ProjectLayout& layout, const json& input, const std::string& decision, const std::string& error) {
  const json tool_input = policy::redact(input.value("tool_input", json::object()));
  std::string args = tool_input.dump(-1, ' ', false, json::error_handler_t::replace);
  json arguments = tool_input;
  if (args.size() > 4000) {  // cut on a character's first byte: the record must stay UTF-8
    std::size_t cut = 4000;
    while (cut > 0 && (static_cast<unsigned char>(args[cut]) & 0xC0) == 0x80) --cut;
    arguments = args.substr(0, cut) + "...";
  }
  json record = {{"time", iso8601_now_ms()},
                 {"agent", {{"name", "claude-code"}, {"version", "hook"}}},
                 {"session", input.value("session_id", "")},
                 {"tool", "claude:" + input.value("tool_name", "?")},
                 {"arguments", std::move(arguments)},
                 {"decision", decision},
                 {"outcome", decision == "allowed" ? "ok" : "error"},
                 {"durationMs", 0},
                 {"files", json::array()}};
  if (!error.empty()) record["error"] = error;
  remember_action(layout, policy::AuditLog(layout.audit_dir()).append(std::move(record)), "agentlog");
}

// Why the tool use must not happen, or empty; `layout` becomes the project whose files it would change.
// Throws on input that is not Claude Code's (a field of another type): the caller blocks that too.
std::string block_reason(ProjectLayout& layout, const json& input) {
  const std::string tool = input.value("tool_name", "");
  const json tool_input = input.value("tool_input", json::object());
  const fs::path cwd = input.contains("cwd") ? fs::path(input["cwd"].get<std::string>()) : fs::current_path();
  if (tool == "Write" || tool == "Edit" || tool == "MultiEdit" || tool == "NotebookEdit") {
    const std::string path = tool_input.value("file_path", tool_input.value("notebook_path", ""));
    if (path.empty())
      return names_protected(tool_input.dump())
                 ? "the " + tool + " input has no file_path but mentions a protected file"
                 : "";
    // As named (any project's protected files, a link's own name), then as resolved (a link or hard link
    // to one of this project's).
    const fs::path named = fs::path(path).is_absolute() ? fs::path(path) : cwd / path;
    if (covers_protected(named.string())) {
      if (auto owner = owning_project(named)) layout = *owner;
      return named.lexically_normal().string() +
             " is one of agentlog's human-only files (.env files, the audit log, approvals): only the human "
             "may change it";
    }
    if (claude_settings(named.string()))
      return named.lexically_normal().string() +
             " is Claude Code's settings, where agentlog's guard is registered: ask the human to change it";
    auto d = policy::check_path(layout, path, {});
    if (d.denial && d.denial->id == "policy.denied.protected_file") return d.denial->message;
  } else if (tool == "Bash") {
    const std::string command = tool_input.value("command", "");
    if (!plain_read(command, cwd))
      return "the command names a protected file (.env files, the audit log, approvals, Claude Code's "
             "settings) or "
             "a folder holding one, and is not a plain read (cat, head, tail, less, more, grep, wc, ls, "
             "stat, du, "
             "file, jq, diff, find without -delete or -exec, nothing redirected into a file or piped on to "
             "another "
             "command); only the human may change these files";
    if (runs_approvals(command))
      return "only the human approves or denies: `agentlog approvals approve|deny` is not for the agent; ask "
             "the "
             "human to run it";
  }
  return "";
}

}  // namespace

void add_hook_commands(CLI::App& app) {
  auto* hook = app.add_subcommand("hook", "Claude Code hooks: guard protected files, record every agent tool use");
  hook->require_subcommand(1);
  static CliCommon common{.makes_project = true};

  auto* pre = hook->add_subcommand("pre-tool-use", "Reads the PreToolUse JSON on stdin; exit 2 blocks the tool use");
  add_common_options(pre, common);
  pre->callback([] {
    // A guard fails closed: whatever it cannot read or decide is blocked (Claude Code runs the tool on any
    // exit status but 2).
    auto block = [](const std::string& reason) {
      std::cerr << "agentlog: blocked: " << reason << "\n";
      throw CLI::RuntimeError(2);
    };
    bool too_deep = false;
    json input = read_input(too_deep);
    if (input.is_discarded() || !input.is_object())
      block(
          "the hook input is not a JSON object; `agentlog hook pre-tool-use` reads Claude Code's PreToolUse "
          "JSON "
          "on stdin (see .ai-agents/logging/integrations/hooks/)");
    if (too_deep)
      block("the hook input nests deeper than " + std::to_string(mcp::kMaxNesting) +
            " levels; no tool Claude Code guards here takes such input");
    std::string reason;
    ProjectLayout layout = common.layout();
    try {
      layout = layout_for(common, input);
      reason = block_reason(layout, input);
    } catch (const std::exception& e) {
      block(std::string("the hook input is not Claude Code's PreToolUse JSON (") + e.what() +
            "); `agentlog hook pre-tool-use` reads it on stdin");
    }
    if (reason.empty()) return;
    try {
      audit(layout, input, "denied", "[policy.denied.protected_file] " + reason);
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
    block(reason);
  });

  auto* post = hook->add_subcommand("post-tool-use", "Reads the PostToolUse JSON on stdin; records it in the audit log");
  add_common_options(post, common);
  post->callback([] {
    bool too_deep = false;
    json input = read_input(too_deep);
    if (input.is_discarded() || !input.is_object()) {
      std::cerr << "agentlog: post-tool-use input is not JSON; nothing recorded\n";
      return;
    }
    try {
      audit(layout_for(common, input), input, "allowed",
            too_deep ? "[hook.input_too_deep] what the tool input held below " +
                           std::to_string(mcp::kMaxNesting) + " levels is not recorded"
                     : "");
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
  });
}

}  // namespace agentlog
