// Appending one structured event to logs/latest.log (the format of the logger issue: ts, level, category,
// source, msg, fields, pid, tid). Thread-safe and multi-process safe (one O_APPEND write under flock).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "logger/project.hpp"

namespace agentlog {

struct LogEvent {
  std::string level = "info";
  std::string category = "general";
  std::string source;
  std::string message;
  nlohmann::json fields = nlohmann::json::object();
};

// The accepted level names, lowest first.
const std::vector<std::string>& log_level_names();

// Writes the event and returns the record as written. Throws std::runtime_error naming the file on failure.
nlohmann::json write_event(const ProjectLayout& layout, const LogEvent& event);

// "2026-11-25T14:30:25.100Z" for now, or for a time in milliseconds since the epoch.
std::string iso8601_now_ms();
std::string iso8601_ms(std::int64_t epoch_ms);

}  // namespace agentlog
