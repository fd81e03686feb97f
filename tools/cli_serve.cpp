// agentlog serve: the MCP server on stdio.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "logger/env_file.hpp"
#include "logger/files.hpp"
#include "logger/project_log.hpp"
#include "mcp/server.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"
#include "tools/trace_follower.hpp"

namespace agentlog {

namespace {

std::atomic<mcp::Transport*> g_transport{nullptr};

void on_terminate(int) {
  if (auto* t = g_transport.load()) t->stop();
}

const char* kInstructions =
    "agentlog records what happens in this project and what you, the agent, do in it. "
    "Use log_event to log every significant action and observation, and search_logs to find earlier events "
    "(keyword, regex, level, category, source, time range, fields). To see how code behaves at run time, "
    "instrument C/C++ files with instrument_file or instrument_all (levels 1-5; 2 records parameters and "
    "return values), run the program, then use find_slow_traces, search_traces, get_trace and get_trace_stats. "
    "get_tracing_config tells you the effective levels and what you are permitted to do; set_tracing_config "
    "changes levels for a file or function. The .env files under .ai-agents/logging/config/ belong to the "
    "human: never try to edit them. Every tool call you make is recorded in a tamper-evident audit log. When "
    "a result says an approval is required, tell the human the approval id and retry with approvalId after "
    "they approve. Use record_pattern to remember a convention or fix for later sessions, and search_memory "
    "to recall what earlier sessions recorded.";

int serve(const CliCommon& common, std::size_t page_size) {
  ProjectLayout layout = common.layout();
  if (::isatty(STDIN_FILENO))
    std::cerr << "agentlog serve: an MCP server speaking JSON-RPC on stdin/stdout for project " << layout.root.string()
              << "\nRegister it in Claude Code with:\n  claude mcp add --scope project openmemory-code-global -- "
              << "agentlog serve --root " << layout.root.string() << "\n(or run `agentlog init --claude`). "
              << "Press Ctrl-D to quit.\n";
  install_templates(layout);  // first use on a bare directory: defaults, never overwriting
  // The settings caches stat .env.logging, .env.tracing and logging.config.json, and the audit log its files,
  // only after an inotify event in their folder; the transport reads the events after each read of stdin.
  FolderWatch::instance().watch(layout.config_dir());
  FolderWatch::instance().watch(layout.audit_dir(), FolderWatch::Events::kNames);

  // Only JSON-RPC may reach stdout: the transport writes to a private duplicate, and fd 1 becomes stderr so
  // that nothing else (a library's printf, a stray std::cout) can corrupt the stream.
  int out_fd = ::dup(STDOUT_FILENO);
  ::dup2(STDERR_FILENO, STDOUT_FILENO);
  // A mistake in .env.logging or logging.config.json is said on stderr now, when the server starts, not at
  // the first log_event (and again only when the files change).
  ProjectLog::shared(layout);

  ToolsContext ctx{layout};
  mcp::ToolRegistry registry;
  prepare_registry(registry, ctx);
  mcp::ResourceRegistry resources;
  register_resources(resources, ctx);
  TraceFollower follower(ctx);  // span files indexed as the traced program writes them, not by the first query

  // TRACING_AUTO_INSTRUMENT=true: instrument the project at TRACING_DEFAULT_LEVEL in the background, through
  // the registry (so the policy applies and the action is audited), while the server starts answering.
  std::thread auto_instrument;
  EnvSettings tracing_env = EnvSettings::load(layout.env_tracing(), tracing_env_keys());
  if (tracing_env.get_bool("TRACING_AUTO_INSTRUMENT") && tracing_env.get_bool("TRACING_ENABLED")) {
    int level = static_cast<int>(std::clamp<long long>(tracing_env.get_int("TRACING_DEFAULT_LEVEL"), 1, 5));
    auto_instrument = std::thread([&registry, level] {
      mcp::ToolCall call;
      call.tool = "instrument_all";
      call.arguments = {{"level", level}};
      call.client.name = "agentlog (TRACING_AUTO_INSTRUMENT)";
      call.client.version = AGENTLOG_VERSION;
      call.session = "serve-start";
      mcp::ToolResult r = registry.call(call);
      std::cerr << "agentlog: TRACING_AUTO_INSTRUMENT: " << (r.is_error ? r.text : r.structured["summary"].dump()) << std::endl;
    });
  }

  mcp::ServerInfo info;
  info.name = "agentlog";
  info.title = "agentlog: logging, tracing and accountability";
  info.version = AGENTLOG_VERSION;
  info.instructions = kInstructions;
  mcp::ServerOptions options;
  options.tools_page_size = page_size;
  options.workers = std::max(2u, std::thread::hardware_concurrency());
  mcp::Server server(info, registry, &resources, options);

  mcp::StdioTransport transport(STDIN_FILENO, out_fd);
  transport.after_read = [] { FolderWatch::instance().drain(); };
  g_transport.store(&transport);
  struct sigaction sa {};
  sa.sa_handler = on_terminate;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read returns
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server.serve(transport);
  g_transport.store(nullptr);
  if (auto_instrument.joinable()) auto_instrument.join();
  ::close(out_fd);
  policy::update_witness(layout.root, policy::AuditLog(layout.audit_dir()));  // what the session added
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* sub = app.add_subcommand("serve", "Run the MCP server on stdin/stdout (newline-delimited JSON-RPC 2.0)");
  static CliCommon common{.makes_project = true};
  static std::size_t page_size = 100;
  add_common_options(sub, common);
  sub->add_option("--page-size", page_size, "Tools per tools/list page")->check(CLI::Range(1, 1000));
  sub->callback([] {
    int rc = serve(common, page_size);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace agentlog
