// The spec's HTTP API: a second transport over the same tool handlers, guard (policy + audit) and schemas
// as the MCP server. Routes map to tools (matched on the raw path; each captured segment is then decoded);
// a JSON body, whatever its Content-Type, and the query string become tool arguments (query values are
// typed by the tool's input schema); results are the tools' structuredContent; errors are
// {"error": {"id", "message"}} with a status from the error id (400 bad argument, 403 denied, 404 unknown,
// 405 other method (with Allow), 409 approval pending, 413 body too large, 429 rate limited, 500 internal).
//
// Thread-safety: requests are served on cpp-httplib's thread pool; the registry and context are read-only,
// the rate limiter and token cache lock internally. start()/stop() from one controlling thread.
#pragma once

#include <memory>
#include <string>

#include "mcp/tool_registry.hpp"
#include "tools/context.hpp"

namespace agentlog {

struct HttpOptions {
  std::string bind = "127.0.0.1";
  int port = 7070;  // 0 = any free port
  std::size_t max_body_bytes = 1u << 20;
  int read_timeout_seconds = 5;
  int write_timeout_seconds = 5;
};

class HttpApi {
 public:
  HttpApi(ToolsContext& ctx, const mcp::ToolRegistry& registry, HttpOptions options);
  ~HttpApi();

  // Binds the socket; returns the port. Throws std::runtime_error with what to do when the address is not
  // loopback and no API token is configured, or when the port is taken (another agentlog http included).
  int bind();
  // Serves until stop(). Call bind() first.
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_address(const std::string& host);

}  // namespace agentlog
