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

// The names of a path's folders and file, `..` and `.` resolved as written (links not followed).
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& part : fs::path(path).lexically_normal())
    if (!part.empty() && part != "/") parts.push_back(part.string());
  return parts;
}

// A path, a shell word, that names a protected file or a folder holding one, in any project: .ai-agents,
// .ai-agents/logging, its config/ (holding the .env files), audit/ and approvals/ and what is in them. Also
// through a glob on any component (`.ai-agent?/logging/conf*`, `.[a]i-agents`, `.??*`), since removing or
// moving the folder removes the files (and `serve` would then make permissive defaults again).
bool covers_protected(const std::string& word) {
  const std::vector<std::string> parts = components(word);
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

// Claude Code's settings, which register this guard (the agent turning it off would not be audited), or the
// .claude folder holding them; also through a glob.
bool claude_settings(const std::string& path) {
  const std::vector<std::string> parts = components(path);
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (component_matches(parts[i], ".claude") &&
        (i + 1 == parts.size() ||
         (i + 2 == parts.size() && (component_matches(parts[i + 1], "settings.json") ||
                                    component_matches(parts[i + 1], "settings.local.json")))))
      return true;
  return false;
}

// One command of a shell line as the shell would run it: its words with the quoting taken out (brace
// expansions expanded), the files it redirects its output into, and whether its input is the output of the
// command before it (`|`).
struct ShellCommand {
  std::vector<std::string> words;
  std::vector<std::string> targets;
  bool piped = false;
};

// `{a,b}` in a word, expanded as bash does (`.ai-agents/logging/{audit,approvals}`); at most 64 words.
std::vector<std::string> brace_expanded(const std::string& word) {
  const std::size_t open = word.find('{');
  const std::size_t close = open == std::string::npos ? open : word.find('}', open);
  if (close == std::string::npos || word.find(',', open) > close) return {word};
  std::vector<std::string> out;
  const std::vector<std::string> rests = brace_expanded(word.substr(close + 1));
  std::stringstream alternatives(word.substr(open + 1, close - open - 1));
  for (std::string alt; std::getline(alternatives, alt, ',');)
    for (const auto& rest : rests) {
      if (out.size() == 64) return out;
      out.push_back(word.substr(0, open) + alt + rest);
    }
  return out;
}

// Splits a shell line into its commands, at ; && || & | newlines and parentheses outside quotes. A
// backslash keeps the next character; `$'...'` is read as a single-quoted word.
std::vector<ShellCommand> parse_shell(const std::string& line) {
  std::vector<ShellCommand> out(1);
  std::string word;
  bool in_word = false, target_next = false;
  auto end_word = [&] {
    if (!in_word) return;
    if (target_next)
      out.back().targets.push_back(word);
    else
      for (auto& w : brace_expanded(word)) out.back().words.push_back(w);
    word.clear();
    in_word = target_next = false;
  };
  auto next_command = [&](bool piped) {
    end_word();
    out.push_back({});
    out.back().piped = piped;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      if (line[i + 1] != '\n') word += line[i + 1], in_word = true;  // (a line continuation joins)
      ++i;
    } else if (c == '\'' || (c == '$' && i + 1 < line.size() && line[i + 1] == '\'')) {
      if (c == '$') ++i;
      const std::size_t close = line.find('\'', i + 1);
      word += line.substr(i + 1, close == std::string::npos ? std::string::npos : close - i - 1);
      in_word = true;
      i = close == std::string::npos ? line.size() : close;
    } else if (c == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) ++i;
        word += line[i];
      }
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      end_word();
    } else if (c == ';' || c == '\n' || c == '(' || c == ')') {
      next_command(false);
    } else if (c == '&' || c == '|') {
      const bool doubled = i + 1 < line.size() && line[i + 1] == c;
      if (c == '&' && i + 1 < line.size() && line[i + 1] == '>') continue;  // &> : the '>' follows
      if (c == '|' && i > 0 && line[i - 1] == '>') continue;                // >| : a redirection
      next_command(c == '|' && !doubled);
      if (doubled || (c == '|' && i + 1 < line.size() && line[i + 1] == '&')) ++i;  // || && |&
    } else if (c == '>' || c == '<') {
      if (in_word && std::all_of(word.begin(), word.end(),
                                 [](char d) { return std::isdigit(static_cast<unsigned char>(d)); }))
        word.clear(), in_word = false;  // 2> : the descriptor, not a word
      end_word();
      while (i + 1 < line.size() && (line[i + 1] == '>' || line[i + 1] == '|')) ++i;
      if (i + 1 < line.size() && line[i + 1] == '&') {  // >&2, 2>&1: to a descriptor
        for (++i; i + 1 < line.size() && std::isdigit(static_cast<unsigned char>(line[i + 1]));) ++i;
        continue;
      }
      target_next = c == '>';  // what `<` reads is a word like any (a read)
    } else {
      word += c;
      in_word = true;
    }
  }
  end_word();
  return out;
}

// A word names a protected file or a folder holding one: as written, and relative to the directory the
// command runs in (the agent's shell keeps the folder it went into).
bool word_protected(std::string w, const fs::path& cwd) {
  if (names_protected(w))
    return true;  // a path hidden in a script's text (python3 -c 'open(".env.tracing")')
  if (const std::size_t eq = w.find('='); eq != std::string::npos && word_protected(w.substr(eq + 1), cwd))
    return true;  // --output=PATH
  for (const char* var : {"${CLAUDE_PROJECT_DIR}", "$CLAUDE_PROJECT_DIR"})
    if (const char* dir = std::getenv("CLAUDE_PROJECT_DIR"); dir && w.starts_with(var))
      w = dir + w.substr(std::strlen(var));
  if (covers_protected(w) || claude_settings(w)) return true;
  return !cwd.empty() && !w.empty() && w[0] != '/' && w[0] != '~' &&
         (covers_protected((cwd / w).string()) || claude_settings((cwd / w).string()));
}

// Commands that change no file (what they print may be redirected: that target is checked on its own).
bool reads_only(const std::vector<std::string>& words) {
  static const char* const reads[] = {
      "cat",  "head", "tail", "less", "more",   "grep", "rg",   "wc",       "ls",      "stat", "du",
      "file", "find", "jq",   "diff", "cmp",    "sort", "uniq", "cut",      "tr",      "nl",   "sha256sum",
      "tree", "test", "[",    "echo", "printf", "cd",   "pwd",  "realpath", "readlink"};
  if (words.empty()) return false;
  const std::string name = fs::path(words[0]).filename().string();
  if (name == "git")  // git's reading subcommands
    return words.size() > 1 && (words[1] == "diff" || words[1] == "log" || words[1] == "show" ||
                                words[1] == "status" || words[1] == "blame" || words[1] == "ls-files");
  if (std::find(std::begin(reads), std::end(reads), name) == std::end(reads)) return false;
  for (const auto& w : words)  // find's actions that change files; sort -o writes one
    if (w == "-delete" || w.starts_with("-exec") || w.starts_with("-ok") || w.starts_with("-fprint") ||
        w == "-fls" || (name == "sort" && w.starts_with("-o")))
      return false;
  return true;
}

// A command that leaves the protected files as they are: each of its commands that names one, or a folder
// holding one, only reads, and so does every command its output is piped into (`| xargs sed -i` is not a
// read); nothing is redirected into one; no command substitution could build a path to one; `sh -c` and
// `eval` are checked as the command they run.
bool plain_read(const std::string& line, fs::path cwd, int depth = 0) {
  if (depth > 4) return false;
  const auto commands = parse_shell(line);
  bool touches = false;
  bool tainted = false;  // the pipeline's earlier command read a protected file
  for (const auto& cmd : commands) {
    std::vector<std::string> words = cmd.words;
    // NAME=value before a command is its environment; alone, an assignment (of a path, maybe) is not a read.
    bool assigned = false;
    while (!words.empty() && words[0].find('=') != std::string::npos && words[0][0] != '=' &&
           words[0][0] != '-') {
      assigned = assigned || word_protected(words[0].substr(words[0].find('=') + 1), cwd);
      words.erase(words.begin());
    }
    for (const auto& t : cmd.targets)
      if (word_protected(t, cwd)) return false;
    if (!words.empty()) {
      const std::string name = fs::path(words[0]).filename().string();
      if ((name == "sh" || name == "bash" || name == "zsh") && words.size() > 2 && words[1] == "-c" &&
          !plain_read(words[2], cwd, depth + 1))
        return false;
      if (name == "eval" && words.size() > 1 && !plain_read(words[1], cwd, depth + 1)) return false;
    }
    const bool names = assigned || std::any_of(words.begin(), words.end(),
                                               [&](const std::string& w) { return word_protected(w, cwd); });
    touches = touches || names;
    if (!cmd.piped) tainted = false;
    if ((names || tainted) && !reads_only(words)) return false;
    tainted = tainted || names;
    if (!words.empty() && words[0] == "cd" && words.size() > 1)  // later commands run there
      cwd = (fs::path(words[1]).is_absolute() ? fs::path(words[1]) : cwd / words[1]).lexically_normal();
  }
  for (const char* hidden : {"`", "$(", "<(", ">("})
    if (touches && line.find(hidden) != std::string::npos) return false;
  return true;
}

// The human's `agentlog approvals approve|deny`: agentlog's approvals command, in any quoting, with anything
// but its listing after it, or agentlog given a word the hook cannot read (`agentlog $a ...`).
bool runs_approvals(const std::string& line) {
  for (const auto& cmd : parse_shell(line)) {
    const auto& w = cmd.words;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (fs::path(w[i]).filename() != "agentlog") continue;
      if (i + 1 == w.size()) return cmd.piped;  // its arguments from the pipe (xargs)
      const std::string& sub = w[i + 1];
      if (sub.find_first_of("$`") != std::string::npos) return true;
      if (sub == "approvals")
        return !(i + 2 < w.size() && (w[i + 2] == "list" || w[i + 2] == "--help" || w[i + 2] == "-h"));
    }
  }
  return false;
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
  if (args.size() > 4000) arguments = policy::utf8_prefix(args, 4000) + "...";  // (the record stays UTF-8)
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
             "settings) "
             "or a folder holding one, and is not a plain read (cat, head, tail, grep, rg, jq, ls, find "
             "without "
             "-delete or -exec, git diff/log/show/status and the like, piped into reads only, nothing "
             "redirected "
             "into such a file); only the human may change these files";
    if (runs_approvals(command))
      return "only the human approves or denies: `agentlog approvals approve|deny` is not for the agent; "
             "ask the human to run it";
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
          "the hook input is not a JSON object; `agentlog hook pre-tool-use` reads Claude Code's "
          "PreToolUse JSON on stdin (see .ai-agents/logging/integrations/hooks/)");
    if (too_deep)
      block("the hook input nests deeper than " + std::to_string(mcp::kMaxNesting) +
            " levels; no tool Claude Code guards here takes such input");
    std::string reason;
    ProjectLayout layout;
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
