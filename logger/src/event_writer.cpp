#include "logger/event_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "logger/project_log.hpp"
#include "logger/redact.hpp"

namespace agentlog {

const std::vector<std::string>& log_level_names() {
  // Never destroyed: lines logged by static destructors and atexit handlers run after it would be.
  static const auto* names = new std::vector<std::string>{"trace", "debug", "info", "warn", "error", "fatal"};
  return *names;
}

// Calendar arithmetic, not gmtime_r: glibc takes a process-wide lock in it, and this runs on every call.
std::string iso8601_ms(std::int64_t epoch_ms) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(epoch_ms)};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::string iso8601_now_ms() {
  return iso8601_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
}

EventResult write_event(const ProjectLayout& layout, const LogEvent& event) {
  auto log = ProjectLog::shared(layout);
  auto settings = log->settings();  // a human's edit of .env.logging counts from the next event
  EventResult result;
  const int level = log_level_index(event.level);
  if (level < 0)
    throw std::invalid_argument("Unknown level '" + event.level +
                                "'; use one of trace, debug, info, warn, error, fatal");
  if (!settings->enabled) {
    result.disabled = true;
    result.reason = "Logging is switched off (LOGGING_ENABLED=false in .env.logging); the human turns it on";
    return result;
  }
  if (const int min = settings->min_level(event.category); level < min) {
    result.reason = "level " + event.level + " is below the minimum " +
                    log_level_names()[static_cast<std::size_t>(min)] + " for category '" + event.category +
                    "' (LOG_LEVEL in .env.logging, logging.config.json)";
    if (!settings->level_note.empty()) result.reason += "; note: " + settings->level_note;
    return result;
  }
  LogRecord r;
  r.level = level;
  r.category = event.category;
  r.source = event.source;
  r.msg = event.message;
  r.fields = &event.fields;
  r.pid = static_cast<long>(::getpid());  // (write() would fill in its copy only)
  r.tid = current_tid();
  r.trace_id = event.trace_id;
  r.span_id = event.span_id;
  // Redacted here too: the record returned to the agent is the line written (write() redacts its copy).
  std::string redacted_msg;
  nlohmann::json redacted_fields;
  if (settings->redact) redact_record(r, redacted_msg, redacted_fields);
  r.ts_ms = log->write(r, true);  // the time is taken under the log's lock
  result.written = true;
  result.record = log_record_json(r);
  return result;
}

}  // namespace agentlog
