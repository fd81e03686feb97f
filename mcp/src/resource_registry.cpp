#include "mcp/resource_registry.hpp"

namespace agentlog::mcp {

namespace {

json describe(const Resource& r) {
  json out = {{"uri", r.uri}, {"name", r.name}, {"mimeType", r.mime_type}};
  if (!r.title.empty()) out["title"] = r.title;
  if (!r.description.empty()) out["description"] = r.description;
  return out;
}

// The literal prefix of "scheme://{var}".
std::string template_prefix(const std::string& uri_template) {
  return uri_template.substr(0, uri_template.find('{'));
}

}  // namespace

void ResourceRegistry::add(Resource resource) { resources_.push_back(std::move(resource)); }
void ResourceRegistry::add_template(ResourceTemplate t) { templates_.push_back(std::move(t)); }

json ResourceRegistry::list(const std::optional<std::string>& cursor) const {
  if (cursor) throw RpcError::invalid_params("Invalid cursor: resources/list returns a single page");
  json out = json::array();
  for (const auto& r : resources_) out.push_back(describe(r));
  for (const auto& t : templates_)
    if (t.list)
      for (const auto& r : t.list()) out.push_back(describe(r));
  return {{"resources", out}};
}

json ResourceRegistry::list_templates() const {
  json out = json::array();
  for (const auto& t : templates_) {
    json d = {{"uriTemplate", t.uri_template}, {"name", t.name}, {"mimeType", t.mime_type}};
    if (!t.title.empty()) d["title"] = t.title;
    if (!t.description.empty()) d["description"] = t.description;
    out.push_back(d);
  }
  return {{"resourceTemplates", out}};
}

json ResourceRegistry::read(const std::string& uri) const {
  auto wrap = [](const ResourceContents& c) {
    return json{{"contents", json::array({{{"uri", c.uri}, {"mimeType", c.mime_type}, {"text", c.text}}})}};
  };
  for (const auto& r : resources_)
    if (r.uri == uri) return wrap(r.read(uri));
  for (const auto& t : templates_) {
    std::string prefix = template_prefix(t.uri_template);
    if (uri.size() > prefix.size() && uri.compare(0, prefix.size(), prefix) == 0)
      return wrap(t.read(uri, uri.substr(prefix.size())));
  }
  throw RpcError(static_cast<ErrorCode>(kResourceNotFound), "Resource not found: " + uri +
                                                                ". Call resources/list or resources/templates/list.",
                 json{{"uri", uri}});
}

}  // namespace agentlog::mcp
