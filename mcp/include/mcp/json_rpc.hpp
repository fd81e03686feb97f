// JSON-RPC 2.0 error codes and the one error type that carries a wire code.
// Handlers throw RpcError; only the Server turns it into an error reply (STYLE.md: two error funnels).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace agentlog::mcp {

using json = nlohmann::json;

enum class ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  // MCP: the request was cancelled or the server is shutting down.
  kRequestCancelled = -32800,
};

class RpcError : public std::runtime_error {
 public:
  RpcError(ErrorCode code, const std::string& message, json data = nullptr)
      : std::runtime_error(message), code_(code), data_(std::move(data)) {}

  ErrorCode code() const { return code_; }
  const json& data() const { return data_; }

  static RpcError invalid_params(const std::string& message) { return {ErrorCode::kInvalidParams, message}; }
  static RpcError method_not_found(const std::string& method) {
    return {ErrorCode::kMethodNotFound, "Method not found: " + method};
  }
  static RpcError internal(const std::string& message) { return {ErrorCode::kInternalError, message}; }

 private:
  ErrorCode code_;
  json data_;
};

// Builds the error reply of one request (id may be null for unparseable input).
json make_error_reply(const json& id, ErrorCode code, const std::string& message, const json& data = nullptr);
json make_result_reply(const json& id, json result);

// How deeply arrays and objects nest in JSON text (brackets inside strings do not count). A message nested
// deeper than kMaxNesting is refused before it is parsed: schema validation, redaction and the audit walk
// values recursively, and a line of 40 KB can nest 20,000 deep.
constexpr std::size_t kMaxNesting = 256;
std::size_t json_nesting(std::string_view text);

}  // namespace agentlog::mcp
