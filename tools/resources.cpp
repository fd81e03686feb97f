// MCP resources: log://latest (the tail of the current log) and trace://{traceId} (one trace as JSON).
#include <fstream>

#include "logger/env_file.hpp"
#include "tools/tools.hpp"
#include "tools/traces.hpp"

namespace agentlog {

namespace {
constexpr std::size_t kLogTailBytes = 256 * 1024;

mcp::RpcError not_found(const std::string& message) {
  return mcp::RpcError(static_cast<mcp::ErrorCode>(mcp::kResourceNotFound), message);
}
}  // namespace

void register_resources(mcp::ResourceRegistry& resources, ToolsContext& ctx) {
  mcp::Resource latest;
  latest.uri = "log://latest";
  latest.name = "latest.log";
  latest.title = "Current log";
  latest.description =
      "The last 256 KiB of .ai-agents/logging/logs/latest.log, newest last: JSON lines (text lines, as "
      "text/plain, when LOG_FORMAT=text); search older entries with search_logs.";
  latest.mime_type = "application/x-ndjson";
  latest.read = [&ctx](const std::string& uri) {
    std::ifstream in(ctx.layout.latest_log(), std::ios::binary | std::ios::ate);
    const bool text_format =
        EnvSettings::load(ctx.layout.env_logging(), logging_env_keys()).get_string("LOG_FORMAT") == "text";
    mcp::ResourceContents c{uri, text_format ? "text/plain" : "application/x-ndjson", ""};
    if (!in) return c;  // no log yet: empty
    std::streamoff size = in.tellg();
    std::streamoff from = size > static_cast<std::streamoff>(kLogTailBytes)
                              ? size - static_cast<std::streamoff>(kLogTailBytes)
                              : 0;
    in.seekg(from);
    c.text.assign(std::istreambuf_iterator<char>(in), {});
    if (from > 0) c.text.erase(0, c.text.find('\n') + 1);  // start at a whole line
    return c;
  };
  resources.add(std::move(latest));

  mcp::ResourceTemplate trace;
  trace.uri_template = "trace://{traceId}";
  trace.name = "trace";
  trace.title = "A recorded trace";
  trace.description = "One trace with every span in call-tree order (the get_trace result).";
  trace.list = [&ctx] {
    std::vector<mcp::Resource> out;
    store::SearchQuery q;
    q.limit = 20;
    const json found = trace_store(ctx).search(q);  // (bound: a range-for over found["traces"] of the
    for (const auto& t : found["traces"]) {         // temporary read freed memory, and listed nothing)
      mcp::Resource r;
      r.uri = "trace://" + t["traceId"].get<std::string>();
      r.name = t["traceId"].get<std::string>();
      r.title = (t["rootFunction"].is_string() ? t["rootFunction"].get<std::string>() : "trace") + " (" +
                std::to_string(t["duration"].get<double>()) + " ms)";
      out.push_back(std::move(r));
    }
    return out;
  };
  trace.read = [&ctx](const std::string& uri, const std::string& id) {
    try {
      return mcp::ResourceContents{uri, "application/json", trace_store(ctx).get_trace(id).dump()};
    } catch (const store::StoreError& e) {
      throw not_found(e.what());
    }
  };
  resources.add_template(std::move(trace));
}

}  // namespace agentlog
