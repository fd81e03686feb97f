#include "policy/permissions.hpp"

namespace agentlog::policy {

namespace {

// A flag written so that it cannot be read (the settings fall back to the default and say so in its source).
bool bad_value(const EnvSettings& env, const std::string& key) {
  return env.source(key).find("bad value") != std::string::npos;
}

// A flag the human set to false, or wrote so badly that it could not be read, denies.
bool allowed(const EnvSettings& env, const std::string& key) {
  return env.get_bool(key) && !bad_value(env, key);
}

// A flag written so that it cannot be read denies too (the safe value): the message says so, not "false".
std::string unreadable(const EnvSettings& env, const std::string& key, const std::string& file) {
  return bad_value(env, key)
             ? key + " in " + file + " is neither true nor false: off until the human writes one"
             : "";
}

Denial flag_denial(const EnvSettings& tracing, const std::string& key, const std::string& what) {
  const std::string file = ".ai-agents/logging/config/.env.tracing", bad = unreadable(tracing, key, file);
  return {"policy.denied.permission",
          what + " is not allowed: " + (bad.empty() ? key + " is false in " + file : bad) +
              " (only the human can change it; ask them, or work without it)"};
}

Denial switched_off(const EnvSettings& env, const std::string& key, const std::string& what,
                    const std::string& file) {
  const std::string bad = unreadable(env, key, file);
  return {"policy.denied.disabled", what + " is switched off (" +
                                        (bad.empty() ? key + "=false in " + file : bad) +
                                        "); the human turns it on"};
}

}  // namespace

std::optional<Denial> check_permissions(const std::vector<std::string>& permissions,
                                        const nlohmann::json& arguments, const EnvSettings& tracing,
                                        const EnvSettings& logging) {
  for (const auto& p : permissions) {
    if (p.rfind("tracing.", 0) == 0 && !allowed(tracing, "TRACING_ENABLED"))
      return switched_off(tracing, "TRACING_ENABLED", "Tracing", ".env.tracing");
    if (p == "logging.write" && !allowed(logging, "LOGGING_ENABLED"))
      return switched_off(logging, "LOGGING_ENABLED", "Logging", ".env.logging");
    bool names_functions = arguments.contains("functions") && arguments["functions"].is_array() &&
                           !arguments["functions"].empty();
    if (p == "tracing.instrument" && !allowed(tracing, "TRACING_ALLOW_AI_INSTRUMENTATION"))
      return flag_denial(tracing, "TRACING_ALLOW_AI_INSTRUMENTATION", "Instrumenting files");
    if ((p == "tracing.wrap" || (p == "tracing.instrument" && names_functions)) &&
        !allowed(tracing, "TRACING_ALLOW_AI_WRAP"))
      return flag_denial(tracing, "TRACING_ALLOW_AI_WRAP", "Instrumenting named functions");
    if (p == "tracing.unwrap" && !allowed(tracing, "TRACING_ALLOW_AI_UNWRAP"))
      return flag_denial(tracing, "TRACING_ALLOW_AI_UNWRAP", "Removing instrumentation");
  }
  return std::nullopt;
}

}  // namespace agentlog::policy
