// agentlog hook pre-tool-use | post-tool-use: Claude Code hooks (installed by `agentlog init --claude`).
// pre-tool-use blocks (exit 2, the reason on stderr) edits of protected files and shell commands that name
// one and are not plain reads; post-tool-use records every tool use of the agent in the audit log. Here: the
// hook's input, the decision and its reason, the audit record and the commands; what a shell line does is
// hook_bash.cpp's to judge.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>

#include "logger/event_writer.hpp"
#include "mcp/json_rpc.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "tools/cli.hpp"
#include "tools/context.hpp"
#include "tools/hook_bash.hpp"
#include "tools/shell_line.hpp"

namespace agentlog {

namespace {

// Words in another MCP server's tool names: one that reads (its paths may be protected files), one that runs
// a command (held to what the Bash tool is).
const char* const kReadingVerbs[] = {"read", "list", "get", "search", "view", "stat", "info", "find", "tree"};
const char* const kRunningVerbs[] = {"command", "exec",     "execute", "eval",   "shell",
                                     "bash",    "terminal", "run",     "process"};

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

// A crash (a stack overflow included: the handler has a stack of its own) or 10 s without an answer exits 2
// with a reason, as Claude Code needs to block the tool use; any other ending lets it run.
void fail_closed_on_crash() {
  static char stack[64 * 1024];
  stack_t alt{};
  alt.ss_sp = stack;
  alt.ss_size = sizeof stack;
  ::sigaltstack(&alt, nullptr);
  struct sigaction action {};
  action.sa_handler = [](int) {
    static const char reason[] =
        "agentlog: blocked: the hook could not decide on this input (it failed or took over 10 s); please "
        "report it to agentlog's developers\n";
    [[maybe_unused]] auto written = ::write(2, reason, sizeof reason - 1);
    ::_exit(2);
  };
  action.sa_flags = SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) ::sigaction(sig, &action, nullptr);
  ::alarm(10);
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

void audit(const ProjectLayout& layout, const json& input, const std::string& decision,
           const std::string& error) {
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
      return hook_bash::names_protected(tool_input.dump())
                 ? "the " + tool + " input has no file_path but mentions a protected file"
                 : "";
    // As named (any project's protected files, a link's own name), then as resolved (a link or hard link
    // to one of this project's).
    const fs::path named = fs::path(path).is_absolute() ? fs::path(path) : cwd / path;
    if (hook_bash::covers_protected(named.string())) {
      if (auto owner = owning_project(named)) layout = *owner;
      return named.lexically_normal().string() +
             " is one of agentlog's human-only files (.env files, the audit log, approvals): only the human "
             "may change it";
    }
    if (hook_bash::witness_store(named.lexically_normal().string()))
      return named.lexically_normal().string() +
             " is agentlog's record of what the audit log held, kept outside the project: only the human may "
             "change it";
    if (hook_bash::claude_settings(named.string()))
      return named.lexically_normal().string() +
             " is Claude Code's settings, where agentlog's guard is registered: ask the human to change it";
    auto d = policy::check_path(layout, named.string(), {});  // (relative: to the cwd, as the tool takes it)
    if (d.denial && d.denial->id == "policy.denied.protected_file") return d.denial->message;
  } else if (tool == "Bash") {
    const std::string command = tool_input.value("command", "");
    const ShellLine parsed = parse_shell(command);
    if (!hook_bash::plain_read(parsed, command, cwd)) {
      if (hook_bash::lookups_ran_out())
        return "the command names more than 4096 paths, more than the hook follows on disk (links into the "
               ".ai-agents tree): run it in parts, or pass the list through a file (xargs -a FILE rm -f)";
      if (!hook_bash::tree_listing_advice().empty() &&
          !hook_bash::mentions_protected(command))  // (what it went through is the cause)
        return hook_bash::tree_listing_advice() +
               "; only the human may change the protected files there (.env files, the "
               "audit log, approvals)";
      const bool heredoc = std::any_of(parsed.commands.begin(), parsed.commands.end(),
                                       [](const ShellCommand& c) { return c.expands_heredoc; });
      return std::string(
                 "the command names a protected file (.env files, the audit log, approvals, Claude Code's "
                 "settings) or a folder holding one, and is not a plain read (cat, head, tail, grep, rg, jq, "
                 "ls, find without -delete or -exec, git diff/log/show/status and the like, piped into reads "
                 "only, nothing redirected into such a file); only the human may change these files") +
             (heredoc ? ". Note: bash runs the `...` and $(...) in a here-doc whose delimiter is not quoted; "
                        "if that text is only text, quote the delimiter (<<'EOF')"
                      : "") +
             (hook_bash::tree_listing_advice().empty() ? "" : ". Note: " + hook_bash::tree_listing_advice());
    }
    if (std::string why = hook_bash::cleans_project(parsed, cwd); !why.empty()) return why;
    if (hook_bash::runs_approvals(parsed))
      return "only the human approves or denies: `agentlog approvals approve|deny` is not for the agent; "
             "ask the human to run it";
  } else if (tool.starts_with("mcp__") && !tool.starts_with("mcp__openmemory-code-global__")) {
    // Another MCP server's tool (a filesystem server's write_file, a desktop server's execute_command): its
    // string arguments are held to what an editor's path and the shell's command are (agentlog's own
    // server checks its arguments itself).
    std::vector<std::string> parts(1);  // the tool's own name in words: read_file, readFile -> read, file
    for (std::size_t k = tool.rfind("__") + 2; k < tool.size(); ++k) {
      const auto c = static_cast<unsigned char>(tool[k]);
      if (!std::isalnum(c) ||
          (std::isupper(c) && k > 0 && std::islower(static_cast<unsigned char>(tool[k - 1]))))
        parts.emplace_back();
      if (std::isalnum(c)) parts.back() += static_cast<char>(std::tolower(c));
    }
    auto has = [&](const auto& verbs) {
      return std::any_of(std::begin(verbs), std::end(verbs), [&](const char* v) {
        return std::find(parts.begin(), parts.end(), v) != parts.end();
      });
    };
    const bool reads = has(kReadingVerbs), runs = has(kRunningVerbs);
    std::string reason;
    // The arguments that are paths or commands by their names (a file's content may mention anything).
    auto named_like = [](std::string key, std::initializer_list<const char*> words) {
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      return std::any_of(words.begin(), words.end(),
                         [&](const char* w) { return key.find(w) != std::string::npos; });
    };
    std::function<void(const json&, const std::string&)> walk = [&](const json& v, const std::string& key) {
      if (!reason.empty()) return;
      if (v.is_object())
        for (const auto& [k, item] : v.items()) walk(item, k);
      if (v.is_array())
        for (const auto& item : v) walk(item, key);
      if (!v.is_string()) return;
      const std::string text = v.get<std::string>();
      // (Code of another language, `code` or a process's `input`, is held to what it mentions.)
      const bool command = runs && named_like(key, {"command", "cmd", "script"});
      const bool code = runs && named_like(key, {"code", "input"});
      const bool path =
          named_like(key, {"path", "file", "dir", "source", "dest", "target", "src", "dst", "folder", "arg"});
      if (command ? !hook_bash::plain_read(text, cwd)
          : code  ? !hook_bash::plain_read(text, cwd) || hook_bash::mentions_protected(text)
                  : (path && !reads && hook_bash::word_protected(text, cwd)))
        reason = tool + " is given `" + policy::utf8_prefix(text, 200) +
                 "`, which names a protected file (.env files, the audit log, approvals, Claude Code's "
                 "settings) or a folder holding one; only the human may change these files";
    };
    walk(tool_input, "");
    return reason;
  }
  return "";
}

}  // namespace

void add_hook_commands(CLI::App& app) {
  auto* hook =
      app.add_subcommand("hook", "Claude Code hooks: guard protected files, record every agent tool use");
  hook->require_subcommand(1);
  static CliCommon common{.makes_project = true};

  auto* pre =
      hook->add_subcommand("pre-tool-use", "Reads the PreToolUse JSON on stdin; exit 2 blocks the tool use");
  add_common_options(pre, common);
  pre->callback([] {
    // A guard fails closed: whatever it cannot read or decide is blocked (Claude Code runs the tool on any
    // exit status but 2), a crash or a hang too.
    fail_closed_on_crash();
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

  auto* post = hook->add_subcommand("post-tool-use",
                                    "Reads the PostToolUse JSON on stdin; records it in the audit log");
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
