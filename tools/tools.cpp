#include "tools/tools.hpp"

#include "tools/embedded.hpp"

namespace agentlog {

json tool_schema(const std::string& name) {
  return json::parse(embedded_file(embedded_schemas(), name + ".json"));
}

std::string_view embedded_file(const std::vector<EmbeddedFile>& files, std::string_view path) {
  for (const auto& f : files)
    if (f.path == path) return f.data;
  throw std::out_of_range("no embedded file " + std::string(path));
}

void prepare_registry(mcp::ToolRegistry& registry, ToolsContext& ctx) {
  auto guard = make_policy_guard(ctx);  // first: it sets up ctx.memory, which record_pattern uses
  register_tools(registry, ctx);
  registry.set_guard(std::move(guard));
}

void register_tools(mcp::ToolRegistry& registry, ToolsContext& ctx) {
  registry.add(make_log_event(ctx));
  registry.add(make_search_logs(ctx));
  registry.add(make_get_tracing_config(ctx));
  registry.add(make_set_tracing_config(ctx));
  registry.add(make_instrument_file(ctx));
  registry.add(make_instrument_all(ctx));
  registry.add(make_uninstrument_file(ctx));
  registry.add(make_search_traces(ctx));
  registry.add(make_get_trace(ctx));
  registry.add(make_find_slow_traces(ctx));
  registry.add(make_get_trace_stats(ctx));
  registry.add(make_record_pattern(ctx));
  registry.add(make_search_memory(ctx));
}

}  // namespace agentlog
