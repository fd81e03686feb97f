#include "policy/permissions.hpp"

namespace agentlog::policy {

namespace {

// A flag the human set to false, or wrote so badly that it could not be read, denies.
bool allowed(const EnvSettings& env, const std::string& key) {
  return env.get_bool(key) && env.source(key).find("bad value") == std::string::npos;
}

Denial flag_denial(const std::string& key, const std::string& what) {
  return {"policy.denied.permission", what + " is not allowed: " + key +
                                          " is false in .ai-agents/logging/config/.env.tracing (only the human can "
                                          "change it; ask them, or work without it)"};
}

}  // namespace

std::optional<Denial> check_permissions(const std::vector<std::string>& permissions, const nlohmann::json& arguments,
                                        const EnvSettings& tracing, const EnvSettings& logging) {
  for (const auto& p : permissions) {
    if (p.rfind("tracing.", 0) == 0 && !allowed(tracing, "TRACING_ENABLED"))
      return Denial{"policy.denied.disabled",
                    "Tracing is switched off (TRACING_ENABLED=false in .env.tracing); the human turns it on"};
    if (p == "logging.write" && !allowed(logging, "LOGGING_ENABLED"))
      return Denial{"policy.denied.disabled",
                    "Logging is switched off (LOGGING_ENABLED=false in .env.logging); the human turns it on"};
    bool names_functions = arguments.contains("functions") && arguments["functions"].is_array() &&
                           !arguments["functions"].empty();
    if (p == "tracing.instrument" && !allowed(tracing, "TRACING_ALLOW_AI_INSTRUMENTATION"))
      return flag_denial("TRACING_ALLOW_AI_INSTRUMENTATION", "Instrumenting files");
    if ((p == "tracing.wrap" || (p == "tracing.instrument" && names_functions)) &&
        !allowed(tracing, "TRACING_ALLOW_AI_WRAP"))
      return flag_denial("TRACING_ALLOW_AI_WRAP", "Instrumenting named functions");
    if (p == "tracing.unwrap" && !allowed(tracing, "TRACING_ALLOW_AI_UNWRAP"))
      return flag_denial("TRACING_ALLOW_AI_UNWRAP", "Removing instrumentation");
  }
  return std::nullopt;
}

}  // namespace agentlog::policy
