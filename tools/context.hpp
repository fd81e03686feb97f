// What every tool and CLI command shares: the project it works on and the services built on it.
//
// Thread-safety: the context is built before serving and then only read; the services it holds are each
// thread-safe (their headers say how).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "logger/project.hpp"
#include "mcp/tool_registry.hpp"

namespace agentlog {

using json = nlohmann::json;

namespace policy {
class Memory;
}

struct ToolsContext {
  ProjectLayout layout;
  std::shared_ptr<policy::Memory> memory;  // OpenMemory (set by the policy guard: make_policy_guard)
};

// The schema of a tool, from the embedded schemas/ folder ("log_event.input" -> schemas/log_event.input.json).
json tool_schema(const std::string& name);

// Shorthand for the arguments a handler reads (they were validated against the input schema already).
template <class T>
T arg_or(const json& args, const char* key, T fallback) {
  auto it = args.find(key);
  return it == args.end() || it->is_null() ? fallback : it->get<T>();
}

}  // namespace agentlog
