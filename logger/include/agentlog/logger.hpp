// agentlog's C++ Logger API for user programs (installed with `cmake --install`; find_package(agentlog) and
// link agentlog::logger, or `pkg-config --cflags --libs agentlog-logger`).
//
//   auto& log = agentlog::Logger::get("src/myfile.cpp");
//   log.info("Application started", {{"port", 3000}});
//   log.error("Failed to connect", ex);
//   auto t = log.start_timer();
//   ...
//   t.done({{"message", "Work completed"}});
//
// Lines go to <project>/.ai-agents/logging/logs/latest.log (the project is set_project_root()'s, else
// AGENTLOG_ROOT, else the nearest directory upwards from the working directory holding .ai-agents/), in the
// format, rotation and retention set by the human in config/.env.logging, at the levels of
// config/logging.config.json (per category) under the .env ceiling LOG_LEVEL; LOGGING_ENABLED=false writes
// nothing. A mistake in either file is said once on stderr, and its safe value is used. Without a project
// nothing is created: the lines go to stderr only (text format, info and above), after one warning that says
// how to set one up (`agentlog init` in the project's root, or AGENTLOG_ROOT). Inside a span of agentlog's
// tracing runtime a line carries traceId and spanId. The first use of a source registers it in
// integrations/registry.json ("loggers"; invalid UTF-8 in its name becomes U+FFFD, as in the line).
//
// Lines are buffered (64 KiB) and written every 200 ms, at once for warn and above, before fork() and at
// exit (and at once from then on: static destructors log too); flush_all() writes them now. A forked child
// logs on its own (lock file, flusher, tid), whatever other threads were doing at the fork. Logging never
// throws: a write error is reported once a minute on stderr and the lines are kept for the next try (up to
// 16 MiB); at exit, the lines that could not be written are counted on stderr.
//
// Thread-safety: Logger and Timer methods may be called from any thread; Logger& stays valid for the whole
// process (also in static destructors).
#pragma once

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace agentlog {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError, kFatal };

class ProjectLog;
class Timer;

class Logger {
 public:
  using Fields = nlohmann::json;  // an object: {{"port", 3000}, {"user", "ada"}}

  // The logger of a source file (a project-relative path) and a category (logging.config.json levels).
  static Logger& get(std::string_view source, std::string_view category = "app");
  // Uses `root` as the project for loggers created from now on (else AGENTLOG_ROOT / discovery).
  static void set_project_root(const std::filesystem::path& root);
  // Writes every buffered line now. Lines the disk refuses (full, a file size limit) stay buffered and are
  // retried; the error is on stderr, never thrown.
  static void flush_all();

  void trace(std::string_view msg, const Fields& fields = Fields()) { log(Level::kTrace, msg, fields); }
  void debug(std::string_view msg, const Fields& fields = Fields()) { log(Level::kDebug, msg, fields); }
  void info(std::string_view msg, const Fields& fields = Fields()) { log(Level::kInfo, msg, fields); }
  void warn(std::string_view msg, const Fields& fields = Fields()) { log(Level::kWarn, msg, fields); }
  void error(std::string_view msg, const Fields& fields = Fields()) { log(Level::kError, msg, fields); }
  void fatal(std::string_view msg, const Fields& fields = Fields()) { log(Level::kFatal, msg, fields); }
  // Adds fields.error (what()) and fields.errorType (the dynamic type).
  void error(std::string_view msg, const std::exception& ex, const Fields& fields = Fields());

  void log(Level level, std::string_view msg, const Fields& fields = Fields());
  // Whether a line at `level` would be written now (to skip building expensive fields).
  bool enabled(Level level) const;

  // A timer started now; done() writes msg (fields.message, else the label, else "Timer done") with
  // fields.durationMs.
  Timer start_timer(std::string_view label = {});

  const std::string& source() const { return source_; }
  const std::string& category() const { return category_; }

  Logger(std::string source, std::string category, std::shared_ptr<ProjectLog> project);
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

 private:
  int min_level(std::int64_t now_ms) const;
  std::int64_t now_ms() const;

  std::string source_, category_;
  std::shared_ptr<ProjectLog> project_;
  mutable std::atomic<const void*> min_for_{nullptr};  // the settings min_ was computed for
  mutable std::atomic<int> min_{0};
};

class Timer {
 public:
  // Writes the timing line once (later calls do nothing).
  void done(const Logger::Fields& fields = Logger::Fields(), Level level = Level::kInfo);
  double elapsed_ms() const;

 private:
  friend class Logger;
  Timer(Logger& logger, std::string label) : logger_(&logger), label_(std::move(label)) {}
  Logger* logger_;
  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  bool done_ = false;
};

}  // namespace agentlog
