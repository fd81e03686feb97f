// Writing one structured event for the agent (log_event, POST /api/logs/event): through the project's log
// (the same rotation, format, levels and locking as the Logger API and the spdlog sink), written through to
// latest.log before it returns.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "logger/project.hpp"

namespace agentlog {

struct LogEvent {
  std::string level = "info";
  std::string category = "general";
  std::string source;
  std::string message;
  nlohmann::json fields = nlohmann::json::object();
  std::string trace_id, span_id;  // links the line to a trace
};

struct EventResult {
  bool written = false;
  bool disabled = false;  // not written because LOGGING_ENABLED=false (else: below the minimum level)
  std::string reason;     // why not, when not written
  nlohmann::json record;  // the record as written
};

// The accepted level names, lowest first.
const std::vector<std::string>& log_level_names();

// Throws std::runtime_error naming the file and the cause when the line cannot be written.
EventResult write_event(const ProjectLayout& layout, const LogEvent& event);

// "2026-11-25T14:30:25.100Z" for now, or for a time in milliseconds since the epoch.
std::string iso8601_now_ms();
std::string iso8601_ms(std::int64_t epoch_ms);

}  // namespace agentlog
