// agentlog: the MCP server and the human's command line.
#include <csignal>
#include <iostream>

#include "tools/cli.hpp"

int main(int argc, char** argv) {
  // Past a file size limit (ulimit -f) a write fails with EFBIG, which each writer reports and takes back,
  // instead of SIGXFSZ ending the server between two calls with a torn line.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"agentlog: logging, runtime tracing and accountability for AI coding agents"};
  app.require_subcommand(1);
  app.set_version_flag("--version", AGENTLOG_VERSION);
  agentlog::add_serve_command(app);
  agentlog::add_init_command(app);
  agentlog::add_config_commands(app);
  agentlog::add_http_command(app);
  agentlog::add_traces_commands(app);
  agentlog::add_audit_commands(app);
  agentlog::add_instrument_commands(app);
  agentlog::add_logs_commands(app);
  agentlog::add_hook_commands(app);
  agentlog::add_approvals_commands(app);
  agentlog::add_memory_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command's own failure: exit code as chosen by it
    if (std::string(e.what()).size() > 0 && std::string(e.what()) != "Runtime error") std::cerr << "agentlog: " << e.what() << "\n";
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "agentlog: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
