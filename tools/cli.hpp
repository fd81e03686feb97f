// The command line: CLI11 subcommands, one file per topic (tools/cli_<topic>.cpp), listed in main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "logger/project.hpp"

namespace agentlog {

// Options every subcommand takes.
struct CliCommon {
  std::string root;   // --root DIR; empty = current directory or the nearest parent holding .ai-agents/
  bool json = false;  // --json: machine-readable output
  // The command makes .ai-agents/logging where it is missing (init, serve, http, instrument) or works
  // without one (hook, config). Other commands read a project: layout() refuses a folder that is none.
  bool makes_project = false;
  ProjectLayout layout() const;
};

// Adds --root and --json to a subcommand. --root must name a folder that exists, unless `root_may_be_new`
// (init makes it).
void add_common_options(CLI::App* sub, CliCommon& common, bool root_may_be_new = false);

// True when stdout is a terminal (colour, progress).
bool stdout_is_tty();

// True when this runs in the AI agent's shell: Claude Code sets CLAUDECODE=1 in the environment of the
// commands its Bash tool runs (looked for here, and in the environments the parent processes and the session
// leader started with). What is the human's there (approving) is refused, and what changes tracing
// (instrument, uninstrument) passes the policy the agent's MCP calls pass.
bool in_agent_shell();

// Text from logs or traces as it may reach a terminal: control characters (a newline that would fake a
// second log line, ESC that would move the cursor or recolour) are written as \n, \t, \r or \u00XX.
std::string printable(std::string_view text);

// Prints `value` as indented JSON (for --json).
void print_json(const nlohmann::json& value);

// An action a command recorded in the audit log (`written`, as AuditLog::append returned it), also into
// OpenMemory: the embedded store indexes it from the audit log; for a server it goes to the outbox and is
// sent now (2 s at most; a server that is down gets it later from the outbox). Never throws: says on stderr,
// prefixed with `who`, when the record could not be kept. The audit witness (policy::update_witness) takes
// the log's new head.
void remember_action(const ProjectLayout& layout, const nlohmann::json& written, const std::string& who);

// Each adds its subcommands to the app. Exit codes: 0 ok, 1 failure/verify mismatch, 2 usage.
void add_serve_command(CLI::App& app);
void add_init_command(CLI::App& app);
void add_config_commands(CLI::App& app);
void add_http_command(CLI::App& app);
void add_traces_commands(CLI::App& app);
void add_audit_commands(CLI::App& app);
void add_instrument_commands(CLI::App& app);
void add_logs_commands(CLI::App& app);
void add_hook_commands(CLI::App& app);
void add_approvals_commands(CLI::App& app);
void add_memory_commands(CLI::App& app);
// "1h", "2d" or ISO-8601 -> ISO-8601 UTC with milliseconds, the form of log and audit times
// (throws store::StoreError "traces.bad_time").
std::string resolve_time_iso(const std::string& text);

// Creates the .ai-agents/logging tree from the embedded templates; never overwrites. Returns what it did.
struct InitReport {
  std::vector<std::string> created;
  std::vector<std::string> kept;
};
InitReport install_templates(const ProjectLayout& layout);
// Writes or merges .mcp.json and .claude/settings.json for Claude Code: the server, the deny rules and the
// hooks (agentlog's earlier hook entries replaced, the user's kept; through a symbolic link to its target).
// Throws, having written nothing, when either file is not JSON or a section it merges into has another type.
InitReport install_claude_files(const ProjectLayout& layout, const std::string& agentlog_path);

}  // namespace agentlog
