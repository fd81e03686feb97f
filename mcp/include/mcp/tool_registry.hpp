// The MCP tool registry: each tool's declaration (name, schemas, annotations, handler), argument and result
// validation against the declared JSON Schemas, the policy hook around every call, and the one place where
// exceptions thrown by a tool become `isError` results (STYLE.md: two error funnels).
//
// Thread-safety: add() and set_guard() happen before serving; after that list(), find() and call() are
// safe from any number of threads (the registry is read-only, handlers must be thread-safe themselves).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace agentlog::mcp {

// Thrown by a tool for anything that is the caller's business: bad values, denials, failures.
// `id` is stable (e.g. "policy.denied.protected_file"); the text reads "[id] message".
class ToolError : public std::runtime_error {
 public:
  ToolError(std::string id, const std::string& message, json details = nullptr)
      : std::runtime_error(message), id_(std::move(id)), details_(std::move(details)) {}
  const std::string& id() const { return id_; }
  const json& details() const { return details_; }

 private:
  std::string id_;
  json details_;
};

struct ToolAnnotations {
  bool read_only = false;
  bool destructive = false;
  bool idempotent = false;
  bool open_world = false;
};

struct ClientInfo {
  std::string name = "unknown";
  std::string version;
  json capabilities = json::object();
};

// A file a tool wrote or read, with content hashes before and after (hex SHA-256, empty = absent).
struct FileTouch {
  std::string path;
  std::string sha256_before;
  std::string sha256_after;
};

// One tools/call as it flows through guard and handler.
struct ToolCall {
  std::string tool;
  json arguments = json::object();
  ClientInfo client;
  std::string session;
  json request_id;

  // Set by the server; safe to call from the handler's thread.
  std::function<void(double progress, std::optional<double> total, const std::string& message)> progress;
  std::function<void(const std::string& level, const json& data)> log;  // notifications/message
  // Asks the client (server -> client request, e.g. elicitation/create); throws RpcError on failure.
  std::function<json(const std::string& method, const json& params)> request_client;
  std::shared_ptr<const std::atomic<bool>> cancel_flag;

  // Set by the registry when the arguments fail the input schema (the call then only reports that).
  bool invalid_arguments = false;

  // Filled by handlers (and the guard) for the audit record.
  std::vector<FileTouch> files_touched;

  bool cancelled() const { return cancel_flag && cancel_flag->load(std::memory_order_relaxed); }
  void report_progress(double done, std::optional<double> total = std::nullopt,
                       const std::string& message = {}) {
    if (progress) progress(done, total, message);
  }
};

struct ToolResult {
  json structured = json::object();  // structuredContent (validated against the output schema)
  bool is_error = false;
  std::string text;  // the text block; for success it is structured.dump(), made by to_json()
  json details;      // of an error: machine-readable context (not sent; recorded by the guard)

  json to_json() const&;  // the MCP CallToolResult
  json to_json() &&;      // the same, moving the structured content out
  static ToolResult success(json structured);
  static ToolResult error(const std::string& id, const std::string& message, json details = nullptr);
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  json input_schema;
  json output_schema;
  ToolAnnotations annotations;
  // Runs on its own thread so the server keeps answering (ping, cancel) while it works.
  bool long_running = false;
  // Argument names (top-level) whose values are project paths; the policy resolves and checks them.
  std::vector<std::string> path_arguments;
  // Free-form names the policy understands (e.g. "tracing.instrument"); empty = ungated.
  std::vector<std::string> permissions;
  std::function<json(ToolCall&)> handler;
};

// The policy hook: decides, may rewrite call.arguments, calls `proceed` (at most once) and records the
// outcome. It receives the result of proceed (already converted from exceptions) and returns the final one.
using CallGuard = std::function<ToolResult(ToolCall& call, const Tool& tool,
                                           const std::function<ToolResult(ToolCall&)>& proceed)>;

class ToolRegistry {
 public:
  ToolRegistry();
  ~ToolRegistry();
  ToolRegistry(const ToolRegistry&) = delete;
  ToolRegistry& operator=(const ToolRegistry&) = delete;

  // Throws std::invalid_argument when a schema does not compile or the name is taken.
  void add(Tool tool);
  void set_guard(CallGuard guard);

  // Whether each result is validated against the tool's outputSchema before it is returned (a result that
  // fails is an internal error). This is the tools' self-check: on in the test suite and in debug builds,
  // and where AGENTLOG_CHECK_OUTPUTS=1 is set; off otherwise, since it costs as much as a small tool call
  // and clients (the MCP SDKs) validate structuredContent themselves.
  void set_check_outputs(bool on) { check_outputs_ = on; }
  bool check_outputs() const { return check_outputs_; }

  const Tool* find(const std::string& name) const;
  const std::vector<Tool>& tools() const { return tools_; }

  // tools/list with cursor pagination. The cursor is the name of the first tool of the page; an unknown
  // cursor throws RpcError(-32602).
  json list(const std::optional<std::string>& cursor, std::size_t page_size) const;

  // tools/call: unknown tool -> RpcError(-32602). Everything else becomes a ToolResult.
  ToolResult call(ToolCall& call) const;

  // Validates `value` against the tool's input (or output) schema; returns the problems, empty when valid.
  std::vector<std::string> validate_input(const Tool& tool, const json& value) const;
  std::vector<std::string> validate_output(const Tool& tool, const json& value) const;

 private:
  struct Compiled;
  std::vector<Tool> tools_;
  std::map<std::string, std::size_t> index_;
  std::vector<std::unique_ptr<Compiled>> compiled_;
  CallGuard guard_;
  bool check_outputs_;
};

// The wire form of one tool for tools/list.
json describe_tool(const Tool& tool);

}  // namespace agentlog::mcp
