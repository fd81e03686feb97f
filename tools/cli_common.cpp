#include <unistd.h>

#include <iostream>

#include "tools/cli.hpp"

namespace agentlog {

ProjectLayout CliCommon::layout() const {
  return root.empty() ? ProjectLayout::discover(fs::current_path()) : ProjectLayout::at(root);
}

void add_common_options(CLI::App* sub, CliCommon& common) {
  sub->add_option("--root", common.root,
                  "Project root (default: the current directory, or the nearest parent holding .ai-agents/)");
  sub->add_flag("--json", common.json, "Print JSON for scripts");
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace agentlog
