#include "mcp/json_rpc.hpp"

#include <algorithm>

namespace agentlog::mcp {

json make_error_reply(const json& id, ErrorCode code, const std::string& message, const json& data) {
  json error = {{"code", static_cast<int>(code)}, {"message", message}};
  if (!data.is_null()) error["data"] = data;
  json reply = {{"jsonrpc", "2.0"}, {"error", std::move(error)}};
  if (!id.is_null())
    reply["id"] = id;  // an id that could not be read is left out (MCP 2025-11-25): see
                       // Server, which gives earlier protocols JSON-RPC's null
  return reply;
}

json make_result_reply(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

std::size_t json_nesting(std::string_view text) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace agentlog::mcp
