#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "logger/env_file.hpp"
#include "policy/audit.hpp"
#include "policy/memory.hpp"
#include "tools/cli.hpp"

namespace agentlog {

ProjectLayout CliCommon::layout() const {
  ProjectLayout layout = root.empty() ? ProjectLayout::discover(fs::current_path()) : ProjectLayout::at(root);
  std::error_code ec;
  if (!makes_project && !fs::is_directory(layout.base(), ec))
    throw std::runtime_error("no project at " + layout.root.string() + " (it has no .ai-agents/logging/): " +
                             (root.empty() ? "run this inside the project or pass --root the folder holding "
                                             ".ai-agents/"
                                           : "pass --root the folder holding .ai-agents/") +
                             ", or run `agentlog init` there first");
  return layout;
}

void add_common_options(CLI::App* sub, CliCommon& common, bool root_may_be_new) {
  auto* root = sub->add_option("--root", common.root,
                               "Project root (default: the current directory, or the nearest parent holding "
                               ".ai-agents/)");
  if (!root_may_be_new) root->check(CLI::ExistingDirectory);
  sub->add_flag("--json", common.json, "Print JSON for scripts");
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

namespace {

// Whether the environment process `pid` started with holds CLAUDECODE (/proc/PID/environ: what it was given,
// whatever it changed since).
bool started_in_agent_shell(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  const std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return env.starts_with("CLAUDECODE=") || env.find(std::string("\0CLAUDECODE=", 12)) != std::string::npos;
}

// The parent of process `pid`, from /proc/PID/stat (the field after the state, past the name in parentheses,
// which may hold anything); 0 when it cannot be read.
pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t end = stat.rfind(')');
  if (end == std::string::npos) return 0;
  std::istringstream rest(stat.substr(end + 1));
  char state = 0;
  pid_t parent = 0;
  rest >> state >> parent;
  return parent;
}

}  // namespace

bool in_agent_shell() {
  // Set at all: `CLAUDECODE= agentlog ...` is the agent's shell still (the human's terminal has none).
  if (std::getenv("CLAUDECODE") != nullptr) return true;
  // Taken out on the way (`env -u CLAUDECODE agentlog ...`, a script that clears its environment): the shell
  // Claude Code started still has it, as does the session it leads. Only a process that leaves both its
  // parents and its session (setsid -f) escapes this; the hook refuses `approvals approve` in any command.
  pid_t pid = ::getppid();
  for (int hops = 0; pid > 1 && hops < 64; ++hops, pid = parent_of(pid))
    if (started_in_agent_shell(pid)) return true;
  const pid_t session = ::getsid(0);
  return session > 1 && started_in_agent_shell(session);
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    // C1 controls are two bytes in UTF-8 (C2 80 to C2 9F): U+009B is a CSI to some terminals.
    const bool c1 =
        c == 0xC2 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xE0) == 0x80;
    if (c >= 0x20 && c != 0x7F && !c1) {
      out += static_cast<char>(c);
      continue;
    }
    const unsigned code = c1 ? static_cast<unsigned char>(text[++i]) : c;
    if (code == '\n') {
      out += "\\n";
    } else if (code == '\t') {
      out += "\\t";
    } else if (code == '\r') {
      out += "\\r";
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", code);
      out += hex;
    }
  }
  return out;
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void remember_action(const ProjectLayout& layout, const nlohmann::json& written, const std::string& who) {
  // The witness follows every record the hooks and the CLI write (a log restored from a backup is then
  // shorter than, or other than, what it saw), not only serve's.
  policy::update_witness(layout.root, policy::AuditLog(layout.audit_dir()));
  try {
    auto config =
        policy::MemoryConfig::from_env(EnvSettings::load(layout.env_logging(), logging_env_keys()), layout);
    config.timeout_ms = 2000;
    policy::Memory memory(layout, config);
    memory.record_action(written);
    if (!config.url.empty()) memory.flush();
  } catch (const std::exception& e) {
    std::cerr << who << ": memory record not written: " << e.what() << "\n";
  }
}

}  // namespace agentlog
