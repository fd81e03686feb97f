// The MCP tools of agentlog. One file per tool (tools/<verb_object>.cpp) defines its make_<verb_object>();
// tools.cpp is the one explicit list that registers them.
#pragma once

#include "mcp/resource_registry.hpp"
#include "mcp/tool_registry.hpp"
#include "tools/context.hpp"

namespace agentlog {

mcp::Tool make_log_event(ToolsContext& ctx);
mcp::Tool make_search_logs(ToolsContext& ctx);
// search_logs' arguments -> results (shared with `agentlog logs search`); throws mcp::ToolError.
json run_log_search(const ToolsContext& ctx, const json& arguments);
mcp::Tool make_get_tracing_config(ToolsContext& ctx);
mcp::Tool make_set_tracing_config(ToolsContext& ctx);
mcp::Tool make_search_traces(ToolsContext& ctx);
mcp::Tool make_get_trace(ToolsContext& ctx);
mcp::Tool make_find_slow_traces(ToolsContext& ctx);
mcp::Tool make_get_trace_stats(ToolsContext& ctx);
mcp::Tool make_record_pattern(ToolsContext& ctx);
mcp::Tool make_search_memory(ToolsContext& ctx);
mcp::Tool make_instrument_file(ToolsContext& ctx);
mcp::Tool make_instrument_all(ToolsContext& ctx);
mcp::Tool make_uninstrument_file(ToolsContext& ctx);

// log://latest and trace://{traceId}.
void register_resources(mcp::ResourceRegistry& resources, ToolsContext& ctx);

// Registers every tool, in the order tools/list shows them.
void register_tools(mcp::ToolRegistry& registry, ToolsContext& ctx);

// Permissions, path checks and the audit record around every call (tools/policy_guard.cpp).
mcp::CallGuard make_policy_guard(ToolsContext& ctx);
// The id of a tool error's text: "[policy.denied.x] ..." -> "policy.denied.x"; "tool.failed" without one.
std::string error_id(const std::string& text);
// The audit record of one call (arguments as given: redact them first), then OpenMemory. Never throws: says
// on stderr when a record could not be kept. The guard writes one per call; a transport that refuses a call
// before the guard (HTTP without write rights) writes the refusal's.
void audit_call(ToolsContext& ctx, const mcp::ToolCall& call, const nlohmann::json& arguments,
                const std::string& decision, const mcp::ToolResult& result, double duration_ms,
                const std::string& approval_id = {});

// What every transport (MCP stdio, HTTP) serves: every tool, with the policy guard around each call.
void prepare_registry(mcp::ToolRegistry& registry, ToolsContext& ctx);

}  // namespace agentlog
