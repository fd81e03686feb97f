#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "logger/env_file.hpp"
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

bool in_agent_shell() {
  // Set at all: `CLAUDECODE= agentlog ...` is the agent's shell still (the human's terminal has none).
  return std::getenv("CLAUDECODE") != nullptr;
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
