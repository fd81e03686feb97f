#include "tools/traces.hpp"

#include <map>
#include <memory>

namespace agentlog {

store::TraceStore& trace_store(const ToolsContext& ctx) {
  thread_local std::map<std::string, std::unique_ptr<store::TraceStore>> stores;
  auto& slot = stores[ctx.layout.traces_dir().string()];
  if (!slot) {
    EnvSettings env = EnvSettings::load(ctx.layout.env_tracing(), tracing_env_keys());
    slot = std::make_unique<store::TraceStore>(ctx.layout.traces_dir(), env.get_int("TRACING_RETENTION_DAYS"));
  }
  return *slot;
}

}  // namespace agentlog
