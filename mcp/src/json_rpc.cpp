#include "mcp/json_rpc.hpp"

namespace agentlog::mcp {

json make_error_reply(const json& id, ErrorCode code, const std::string& message, const json& data) {
  json error = {{"code", static_cast<int>(code)}, {"message", message}};
  if (!data.is_null()) error["data"] = data;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(error)}};
}

json make_result_reply(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

}  // namespace agentlog::mcp
