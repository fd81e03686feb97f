// What the human's .env flags allow the AI to do, by the permission names tools declare:
//   tracing.instrument  TRACING_ALLOW_AI_INSTRUMENTATION (and TRACING_ALLOW_AI_WRAP when `functions` is named)
//   tracing.wrap        TRACING_ALLOW_AI_WRAP
//   tracing.unwrap      TRACING_ALLOW_AI_UNWRAP
//   tracing.configure   (allowed while tracing is on; TRACING_MAX_LEVEL is enforced by the tool)
//   logging.write       LOGGING_ENABLED
// Every tracing.* permission is refused while TRACING_ENABLED=false. A flag that cannot be read is "deny".
//
// Thread-safety: a pure function.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "logger/env_file.hpp"
#include "policy/paths.hpp"

namespace agentlog::policy {

std::optional<Denial> check_permissions(const std::vector<std::string>& permissions, const nlohmann::json& arguments,
                                        const EnvSettings& tracing, const EnvSettings& logging);

}  // namespace agentlog::policy
