// agentlog http: the spec's HTTP API and the trace viewer.
#include <signal.h>

#include <atomic>
#include <iostream>

#include "tools/cli.hpp"
#include "tools/http_api.hpp"
#include "tools/tools.hpp"
#include "tools/trace_follower.hpp"

namespace agentlog {

namespace {
std::atomic<HttpApi*> g_api{nullptr};
void on_terminate(int) {
  // cpp-httplib's stop() only flips a flag and shuts the listening socket down.
  if (auto* api = g_api.load()) api->stop();
}
}  // namespace

void add_http_command(CLI::App& app) {
  auto* sub = app.add_subcommand("http", "Serve the HTTP API and the trace viewer (bearer tokens from .env.logging)");
  static CliCommon common{.makes_project = true};
  static HttpOptions options;
  add_common_options(sub, common);
  sub->add_option("--bind", options.bind, "Address to listen on (non-loopback needs AGENTLOG_API_TOKENS)")
      ->capture_default_str();
  sub->add_option("--port", options.port, "Port (0 = any free port, printed on stderr)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  sub->callback([] {
    ToolsContext ctx{common.layout()};
    install_templates(ctx.layout);
    mcp::ToolRegistry registry;
    prepare_registry(registry, ctx);
    HttpApi api(ctx, registry, options);
    int port = 0;
    try {
      port = api.bind();
    } catch (const std::exception& e) {
      throw CLI::RuntimeError(std::string(e.what()), 1);
    }
    std::cerr << "agentlog http: listening on http://" << options.bind << ":" << port << "/ for "
              << ctx.layout.root.string() << std::endl;
    // One line, so a script (or a test) can read the port before the server goes quiet.
    if (common.json) std::cout << json{{"bind", options.bind}, {"port", port}}.dump() << std::endl;
    std::cout.flush();
    g_api.store(&api);
    TraceFollower follower(ctx);  // span files indexed as they come, not by the first query
    struct sigaction sa {};
    sa.sa_handler = on_terminate;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    api.run();
    g_api.store(nullptr);
  });
}

}  // namespace agentlog
