// MCP resources: fixed resources (e.g. log://latest) and URI templates (e.g. trace://{traceId}).
//
// Thread-safety: add_*() before serving; list/read are then safe from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace agentlog::mcp {

struct ResourceContents {
  std::string uri;
  std::string mime_type = "application/json";
  std::string text;
};

struct Resource {
  std::string uri;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type = "application/json";
  std::function<ResourceContents(const std::string& uri)> read;
};

// A template of the RFC 6570 level-1 form "scheme://{var}" (one variable at the end).
struct ResourceTemplate {
  std::string uri_template;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type = "application/json";
  // Lists the concrete resources of this template for resources/list (may be empty).
  std::function<std::vector<Resource>()> list;
  // Reads one; throws RpcError(-32602 or the MCP -32002 "not found") for an unknown value.
  std::function<ResourceContents(const std::string& uri, const std::string& value)> read;
};

class ResourceRegistry {
 public:
  void add(Resource resource);
  void add_template(ResourceTemplate resource_template);
  bool empty() const { return resources_.empty() && templates_.empty(); }

  json list(const std::optional<std::string>& cursor) const;
  json list_templates() const;
  json read(const std::string& uri) const;  // throws RpcError

 private:
  std::vector<Resource> resources_;
  std::vector<ResourceTemplate> templates_;
};

// MCP's code for an unknown resource.
inline constexpr int kResourceNotFound = -32002;

}  // namespace agentlog::mcp
