// The log of one project as a process sees it: the settings of .env.logging (LOGGING_ENABLED, LOG_LEVEL,
// LOG_FORMAT, rotation and retention) and of logging.config.json (per-category levels), re-read when the
// human or the agent changes them, a LogWriter for latest.log/archive, and a line buffer. A mistake in either
// file (a bad value, JSON that does not parse) is written to stderr once, when it is first read.
//
// Every writer in agentlog goes through it: the log_event tool, the hooks, the HTTP API, the spdlog sink
// and the C++ Logger API. Write-through callers (the tool) flush each record before returning; the Logger
// buffers up to 64 KiB and flushes every 200 ms, on warn and above, before fork() and at exit. A buffered
// line that cannot be written stays buffered (up to 16 MiB) and the error is reported on stderr once a
// minute; at exit, the lines that could not be written are counted on stderr.
//
// Thread-safety: all members are thread-safe. One instance per logs directory per process (shared()).
// The shared instances are fork-safe: pthread_atfork handlers hold every lock across fork() (in the order
// registry, settings_mutex_, buffer_mutex_, the writer's), and the child starts with an empty buffer, its
// own lock file, flusher thread, pid and tid.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "logger/files.hpp"
#include "logger/log_record.hpp"
#include "logger/log_writer.hpp"
#include "logger/project.hpp"

namespace agentlog {

struct LogSettings {
  bool enabled = true;
  int ceiling = 1;  // LOG_LEVEL: nothing below is written
  LogFormat format = LogFormat::kJson;
  bool redact = true;  // LOG_REDACT: secrets in messages and fields are written as [REDACTED]
  RotationPolicy rotation;
  int default_level = 2;                            // logging.config.json defaultLevel
  std::unordered_map<std::string, int> categories;  // logging.config.json categories
  // What is wrong in .env.logging and logging.config.json, one message each ("file:line: error: KEY: ...");
  // the safe values and defaults are used instead. ProjectLog reports them on stderr once.
  std::vector<std::string> problems;
  // Why the minimum level may not be the one meant (LOG_LEVEL unreadable, logging.config.json not JSON or
  // naming no level), for log_event's "below the minimum"; empty when the levels are as written.
  std::string level_note;

  // The lowest level written for a category: the stricter of the .env ceiling and the config.
  int min_level(std::string_view category) const;
};

// logging.config.json (the agent's file): the default and per-category levels. A file that is not JSON or
// a level that is not a level name is a problem, never an exception: the defaults are used instead.
struct LoggingConfig {
  int default_level = 2;
  bool default_set = false;  // defaultLevel came from the file
  std::unordered_map<std::string, int> categories;
  std::vector<std::string> problems;  // "<file>: not valid JSON (line 1, column 27: ...); ..."
  std::string level_note;             // the same, shorter, for log_event's "below the minimum"
};
LoggingConfig load_logging_config(const std::filesystem::path& file);

class ProjectLog {
 public:
  // The process-wide instance for the project's logs directory.
  static std::shared_ptr<ProjectLog> shared(const ProjectLayout& layout);
  // Flushes every instance (Logger::flush_all); write errors are reported on stderr, not thrown.
  static void flush_all();

  ProjectLog(ProjectLayout layout, MsClock clock = system_ms);
  ~ProjectLog();

  // The settings now: re-read when a config file changed (two stats to tell).
  std::shared_ptr<const LogSettings> settings();
  // The same for the hot path: no lock, no allocation; the files are looked at when `now_ms` passes the
  // next check (every 200 ms). The reference stays valid for the life of this object.
  const LogSettings& current(std::int64_t now_ms);
  std::int64_t now() const { return clock_(); }

  // Formats and appends the record (ts, pid and tid are filled in when 0; ts under the write lock, so lines
  // stamped here are in the order of their times). With `flush`, the line is in latest.log when this
  // returns, else it may wait in the buffer. Throws std::runtime_error on write errors (flush) — buffered
  // lines that cannot be written stay buffered and are retried. Returns the record's time.
  std::int64_t write(LogRecord record, bool flush);
  void flush();
  void flush_reporting();  // flush(), reporting a write error on stderr instead of throwing it

  LogWriter& writer() { return writer_; }
  const ProjectLayout& layout() const { return layout_; }

  // The process's pthread_atfork and atexit handlers (for the shared instances).
  void before_fork();
  void after_fork_in_parent();
  void after_fork_in_child();
  // The last flush: reports the lines that cannot be written; every line logged after it (by static
  // destructors, later atexit handlers) is written at once.
  void flush_at_exit();

 private:
  void report_problems_locked(const LogSettings& settings);  // with settings_mutex_ held

  // With buffer_mutex_ held:
  void flush_locked();
  void write_through_locked(std::string_view line);
  void start_flusher_locked();
  void report_locked(const char* error);

  ProjectLayout layout_;
  MsClock clock_;
  LogWriter writer_;

  std::mutex settings_mutex_;
  SettingsCheck settings_check_;  // .env.logging, logging.config.json: settings() runs on every log_event
  std::vector<std::shared_ptr<const LogSettings>>
      history_;  // every settings object current_ was; back() is now
  std::atomic<const LogSettings*> current_{nullptr};
  std::atomic<std::int64_t> next_check_ms_{0};
  std::string reported_problems_;  // the settings' problems last written to stderr (each set once)

  std::mutex buffer_mutex_;  // guards the members below
  std::string buffer_;
  std::size_t dropped_lines_ = 0;         // not kept: more than 16 MiB waited for the disk
  std::int64_t last_report_ms_ = 0;       // the last write error reported on stderr
  bool exiting_ = false;                  // after flush_at_exit(): nothing waits in the buffer
  std::unique_ptr<std::thread> flusher_;  // started by the first buffered line (in each process)
  std::atomic<bool> stop_{false};
};

}  // namespace agentlog
