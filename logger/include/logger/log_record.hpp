// One log line in either form of logs/latest.log:
//   json: {"ts":"2026-11-25T14:30:25.100Z","level":"info","category":"api","source":"src/a.cpp","msg":"...",
//          "fields":{...},"pid":1,"tid":2,"traceId":"...","spanId":"..."}   (traceId/spanId inside a span)
//   text: [14:30:25.100] INFO [api] GET /api/users/123 - 200 OK (61ms)
//         followed, when there is more to say, by a tab and {"source":...,"fields":{...},"traceId":...}
//         The category and the message are JSON-escaped (without quotes); a ']' in the category is \u005d,
//         so the first ']' after the level ends the category. The line has no date (see log_search.hpp).
// Formatting is hand-written for speed (the Logger's hot path); strings are escaped as JSON and invalid
// UTF-8 becomes U+FFFD, so every line parses.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentlog {

enum class LogFormat { kJson, kText };

struct LogRecord {
  std::int64_t ts_ms = 0;
  int level = 2;  // index into log_level_names(): trace debug info warn error fatal
  std::string_view category, source, msg;
  const nlohmann::json* fields = nullptr;  // an object, or null for none
  long pid = 0, tid = 0;
  std::string_view trace_id, span_id;
};

// Appends the record as one line ending in '\n'.
void append_log_line(std::string& out, const LogRecord& record, LogFormat format);

// Appends a category as the text form writes it between '[' and ']': JSON-escaped, and ']' as \u005d.
void append_text_category(std::string& out, std::string_view category);

// The record as the JSON object a json line holds (what log_event returns).
nlohmann::json log_record_json(const LogRecord& record);

// Appends `s` JSON-escaped (without quotes).
void append_json_escaped(std::string& out, std::string_view s);

// The index of a level name ("warning" is warn; case-insensitive), or -1.
int log_level_index(std::string_view name);

// The calling thread's kernel thread id (cached).
long current_tid();
// Drops the calling thread's cached id: a fork child's thread has a new one (pthread_atfork child handler).
void forget_current_tid();

}  // namespace agentlog
