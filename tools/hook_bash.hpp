// The Claude Code hook's checks of a shell line (the Bash tool's command, another MCP server's command): does
// it only read agentlog's protected files (the .env files, the audit log, approvals, Claude Code's settings,
// the audit witnesses), does it clean the project's untracked tree away, does it run the human's `agentlog
// approvals approve`; and the path checks the hook's editing tools share with it. Reads the files and links a
// line names (a script it runs, where a link leads). Not thread-safe: one hook process judges one tool use,
// and plain_read leaves notes for the reason the hook then gives (lookups_ran_out, tree_listing_advice).
#pragma once

#include <filesystem>
#include <string>

#include "tools/shell_line.hpp"

namespace agentlog::hook_bash {

// Whether text names one of agentlog's own files (`.env.tracing`, `audit/actions.jsonl`), wherever it is.
bool names_protected(const std::string& text);

// Whether text may lead to a protected file: its names, or the folders holding them (`ai-agents`, `.claude`).
bool mentions_protected(const std::string& text);

// Whether a path, as written (globs too, links not followed), is a protected file or a folder holding one.
bool covers_protected(const std::string& path);

// Whether a path is Claude Code's settings (`.claude/settings*.json`,
// /etc/claude-code/managed-settings.json), where the guard is registered or hooks are turned off.
bool claude_settings(const std::string& path);

// Whether an absolute path is agentlog's audit witness store ($XDG_STATE_HOME/agentlog) or a folder holding
// it.
bool witness_store(const std::string& path);

// Whether a word (a path, an option's value, a script's text) names a protected file, run in `cwd`.
bool word_protected(const std::string& word, const std::filesystem::path& cwd);

// Whether a shell line, run in `cwd`, leaves the protected files as they are: whatever names one of them only
// reads, and so does what that output is piped into or runs as code. `line` is the text `parsed` was read
// from.
bool plain_read(const ShellLine& parsed, const std::string& line, const std::filesystem::path& cwd);
bool plain_read(const std::string& line, const std::filesystem::path& cwd);

// Why the line would take the untracked .ai-agents tree away (git clean, git stash -u), with what to run
// instead; empty when it would not.
std::string cleans_project(const ShellLine& parsed, const std::filesystem::path& cwd);

// Whether the line runs the human's `agentlog approvals approve|deny`.
bool runs_approvals(const ShellLine& parsed);

// Notes the last plain_read left: whether the line named more paths than the hook follows on disk (it is then
// not a plain read, for that reason), and how to leave the tree out of a recursive command it went through
// (grep -r, find, chmod -R), or empty.
bool lookups_ran_out();
const std::string& tree_listing_advice();

}  // namespace agentlog::hook_bash
