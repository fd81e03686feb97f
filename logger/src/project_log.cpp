#include "logger/project_log.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>

#include "logger/env_file.hpp"
#include "logger/files.hpp"
#include "logger/redact.hpp"

namespace agentlog {

namespace {

constexpr std::size_t kBufferBytes = 64 << 10;     // flush when the buffer reaches this
constexpr std::size_t kMaxBufferBytes = 16 << 20;  // beyond this, lines that cannot be written are dropped
constexpr auto kFlushEvery = std::chrono::milliseconds(200);
constexpr auto kSettingsEvery = std::chrono::milliseconds(200);
constexpr auto kReportEvery = std::chrono::milliseconds(60'000);  // a write error on stderr

std::atomic<long> g_pid{0};

long cached_pid() {
  long pid = g_pid.load(std::memory_order_relaxed);
  if (pid == 0) g_pid.store(pid = static_cast<long>(::getpid()), std::memory_order_relaxed);
  return pid;
}

std::mutex& registry_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
// Leaked on purpose: loggers stay usable from static destructors and atexit handlers.
std::map<std::string, std::shared_ptr<ProjectLog>>& registry() {
  static auto* r = new std::map<std::string, std::shared_ptr<ProjectLog>>;
  return *r;
}

std::shared_ptr<const LogSettings> load_settings(const ProjectLayout& layout) {
  auto s = std::make_shared<LogSettings>();
  EnvSettings env = EnvSettings::load(layout.env_logging(), logging_env_keys());
  s->enabled = env.get_bool("LOGGING_ENABLED");
  s->ceiling = std::max(0, log_level_index(env.get_string("LOG_LEVEL")));
  s->format = env.get_string("LOG_FORMAT") == "text" ? LogFormat::kText : LogFormat::kJson;
  s->redact = env.get_bool("LOG_REDACT");
  s->rotation = RotationPolicy::from_env(env);
  // A mistake in the human's file falls back to a safe value: said once on stderr (ProjectLog::settings),
  // and LOG_LEVEL's in log_event's answer, so neither the human nor the agent is left guessing.
  for (const auto& d : env.diagnostics()) {
    s->problems.push_back(d.to_string());
    if (d.key == "LOG_LEVEL" && d.severity == EnvDiagnostic::Severity::kError)
      s->level_note = "LOG_LEVEL in .env.logging is wrong (" + d.message +
                      "): the human fixes it there, `agentlog config show` says where";
  }
  LoggingConfig config = load_logging_config(layout.logging_config());
  s->default_level = config.default_level;
  s->categories = std::move(config.categories);
  s->problems.insert(s->problems.end(), config.problems.begin(), config.problems.end());
  if (!config.level_note.empty()) s->level_note += (s->level_note.empty() ? "" : "; ") + config.level_note;
  return s;
}

std::vector<std::shared_ptr<ProjectLog>> all_logs() {
  std::lock_guard lock(registry_mutex());
  std::vector<std::shared_ptr<ProjectLog>> all;
  for (auto& [dir, log] : registry()) all.push_back(log);
  return all;
}

// At exit (an atexit handler) every log flushes and a rotation's compression and clean-up finish before the
// process ends (the writers are never destroyed, so their maintenance thread would be cut off mid-file: the
// archive left plain, a stray .gz.tmp, expired archives kept).
//
// The handler is registered at the first use of a log, which is usually after the constructors of global
// objects: it then runs before their destructors, and a line they log would wait in the buffer forever. No
// handler can be sure to run last, so the order is made not to matter: once a log has flushed at exit it
// buffers nothing, and every later line (a static destructor's, a later atexit handler's) is written at once.
void flush_all_at_exit() {
  for (auto& log : all_logs()) log->flush_at_exit();
}

// fork() while other threads log: the child gets a copy of every mutex as it was at that moment, so one
// held by another thread (which does not exist in the child) would stay locked forever. The prepare handler
// takes them all, in the one order every other path takes them (registry, then per log settings_mutex_,
// buffer_mutex_, the writer's); the parent and child handlers release them.
void lock_all_before_fork() {
  registry_mutex().lock();
  for (auto& [dir, log] : registry()) log->before_fork();
}

void unlock_all_in_parent() {
  for (auto& [dir, log] : registry()) log->after_fork_in_parent();
  registry_mutex().unlock();
}

void reset_all_in_child() {
  g_pid.store(0);
  forget_current_tid();  // the thread_local of the forking thread, which is the child's only thread
  for (auto& [dir, log] : registry()) log->after_fork_in_child();
  registry_mutex().unlock();
}

void register_process_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(flush_all_at_exit);
    ::pthread_atfork(lock_all_before_fork, unlock_all_in_parent, reset_all_in_child);
  });
}

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

// logging.config.json is the agent's file: a broken one means the defaults, never a crash, and it is said
// with the position of the mistake (nlohmann's "line 1, column 27: ...").
LoggingConfig load_logging_config(const std::filesystem::path& file) {
  LoggingConfig out;
  auto text = read_file(file);
  if (!text) return out;
  const std::string name = file.filename().string();
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string where = e.what();
    if (auto at = where.find("parse error at "); at != std::string::npos) where = where.substr(at + 15);
    out.problems.push_back(file.string() + ": error: not valid JSON (" + where +
                           "); its levels are not used (defaultLevel info, no per-category level) until the "
                           "JSON is fixed");
    out.level_note = name + " is not valid JSON (" + where + "), so its levels are not used: fix the file";
    return out;
  }
  if (!config.is_object()) {
    out.problems.push_back(file.string() +
                           ": error: not a JSON object ({\"defaultLevel\": ..., \"categories\": {...}}); its "
                           "levels are not used");
    out.level_note = name + " is not a JSON object, so its levels are not used: fix the file";
    return out;
  }
  const std::string accepted = "use one of trace, debug, info, warn, error, fatal";
  auto level_of = [&](const nlohmann::json& v, const std::string& what) {
    const int l = v.is_string() ? log_level_index(v.get<std::string>()) : -1;
    if (l < 0) {
      out.problems.push_back(file.string() + ": error: " + what + " is " + v.dump() + ", not a level (" +
                             accepted + "); it is ignored");
      out.level_note += (out.level_note.empty() ? "" : "; ") + what + " in " + name + " is " + v.dump() +
                        ", not a level, and is ignored";
    }
    return l;
  };
  if (config.contains("defaultLevel"))
    if (int l = level_of(config["defaultLevel"], "defaultLevel"); l >= 0) {
      out.default_level = l;
      out.default_set = true;
    }
  if (config.contains("categories")) {
    if (!config["categories"].is_object()) {
      out.problems.push_back(file.string() +
                             ": error: categories is not an object ({\"api\": \"debug\"}); it is ignored");
    } else {
      for (const auto& [category, level] : config["categories"].items())
        if (int l = level_of(level, "categories." + category); l >= 0) out.categories[category] = l;
    }
  }
  return out;
}

int LogSettings::min_level(std::string_view category) const {
  auto it = categories.find(std::string(category));
  return std::max(ceiling, it == categories.end() ? default_level : it->second);
}

std::shared_ptr<ProjectLog> ProjectLog::shared(const ProjectLayout& layout) {
  std::lock_guard lock(registry_mutex());
  auto& slot = registry()[layout.logs_dir().string()];
  if (!slot) {
    slot = std::make_shared<ProjectLog>(layout);
    register_process_hooks();
  }
  return slot;
}

void ProjectLog::flush_all() {
  for (auto& log : all_logs()) log->flush_reporting();
}

// The user's program asked for its lines now: one the disk refuses (full, a file size limit) must not end
// it with an exception it never expected. The lines stay buffered and are retried; the error is on stderr.
void ProjectLog::flush_reporting() {
  std::lock_guard lock(buffer_mutex_);
  try {
    flush_locked();
  } catch (const std::exception& e) {
    report_locked(e.what());
  }
}

ProjectLog::ProjectLog(ProjectLayout layout, MsClock clock)
    : layout_(std::move(layout)),
      clock_(clock),
      writer_(layout_.logs_dir(), RotationPolicy{}, clock),
      settings_check_({layout_.env_logging(), layout_.logging_config()}) {
  settings();
}

ProjectLog::~ProjectLog() {
  stop_.store(true);
  std::unique_ptr<std::thread> flusher;
  {
    std::lock_guard lock(buffer_mutex_);
    flusher = std::move(flusher_);
  }
  if (flusher && flusher->joinable()) flusher->join();
  try {
    flush();
  } catch (...) {
  }
}

std::shared_ptr<const LogSettings> ProjectLog::settings() {
  std::lock_guard lock(settings_mutex_);
  if (settings_check_.changed()) {
    history_.push_back(load_settings(layout_));
    writer_.set_policy(history_.back()->rotation);
    current_.store(history_.back().get(), std::memory_order_release);
    report_problems_locked(*history_.back());
  }
  return history_.back();
}

// Once per mistake: a server or program that re-reads the files every 200 ms says what is wrong when it
// starts and when the files change, not on every read (stderr: the server's stdout is JSON-RPC only).
void ProjectLog::report_problems_locked(const LogSettings& settings) {
  std::string text;
  for (const auto& p : settings.problems) text += "agentlog: " + p + "\n";
  if (text == reported_problems_) return;
  reported_problems_ = text;
  if (text.empty()) return;
  text +=
      "agentlog: the safe values are used until the file is fixed; `agentlog config show` lists every "
      "setting\n";
  std::fputs(text.c_str(), stderr);
}

const LogSettings& ProjectLog::current(std::int64_t now_ms) {
  if (now_ms >= next_check_ms_.load(std::memory_order_relaxed)) {
    next_check_ms_.store(now_ms + kSettingsEvery.count(), std::memory_order_relaxed);
    settings();
  }
  return *current_.load(std::memory_order_acquire);
}

std::int64_t ProjectLog::write(LogRecord r, bool flush_now) {
  // A record without a time gets it under the lock, so that such lines are in the file in the order of their
  // times (calls from several threads took it before and could land out of order).
  const bool stamp = r.ts_ms == 0;
  if (r.pid == 0) r.pid = cached_pid();
  if (r.tid == 0) r.tid = current_tid();
  const LogSettings& settings = current(stamp ? clock_() : r.ts_ms);
  const LogFormat format = settings.format;
  // Secrets never reach the file, as the audit log never holds them (LOG_REDACT).
  std::string redacted_msg;
  nlohmann::json redacted_fields;
  if (settings.redact) redact_record(r, redacted_msg, redacted_fields);
  bool exiting = false;
  {
    std::lock_guard lock(buffer_mutex_);
    if (stamp) r.ts_ms = clock_();
    if (flush_now) {  // the caller learns whether its line was written; a failed line is not retried later
      std::string line;
      append_log_line(line, r, format);
      write_through_locked(line);
      return r.ts_ms;
    }
    const std::size_t before = buffer_.size();
    append_log_line(buffer_, r, format);
    exiting = exiting_;
    // A line larger than the buffer goes out at once like any full buffer (the writer puts a line longer
    // than the rotation size alone into a file); only lines the disk refuses can pile up to the limit.
    if (r.level >= 3 || buffer_.size() >= kBufferBytes || exiting) {
      const std::size_t added = buffer_.size() - before;
      try {
        flush_locked();
      } catch (const std::exception& e) {
        if (buffer_.size() > kMaxBufferBytes &&
            buffer_.size() >= added) {  // the disk has refused for a while
          buffer_.resize(buffer_.size() - added);
          ++dropped_lines_;
        }
        report_locked(e.what());
      }
    } else {
      start_flusher_locked();
    }
  }
  if (exiting) writer_.wait_idle();  // a rotation now: its compression finishes before the process does
  return r.ts_ms;
}

void ProjectLog::write_through_locked(std::string_view line) {
  buffer_.append(line);  // after what is buffered, so the file keeps the order of the calls
  try {
    flush_locked();
  } catch (...) {
    if (buffer_.size() >= line.size())
      buffer_.resize(buffer_.size() - line.size());  // not written: not retried
    throw;
  }
}

void ProjectLog::flush() {
  std::lock_guard lock(buffer_mutex_);
  flush_locked();
}

void ProjectLog::flush_locked() {
  if (buffer_.empty()) return;
  try {
    writer_.append(buffer_);
  } catch (const LogWriteError& e) {
    buffer_.erase(0, e.written);  // what reached the file is not written twice
    throw;
  }
  buffer_.clear();
}

// Once a minute at most: a disk that refuses every 200 ms would fill stderr otherwise.
void ProjectLog::report_locked(const char* error) {
  const std::int64_t now = system_ms();
  if (last_report_ms_ != 0 && now - last_report_ms_ < kReportEvery.count()) return;
  last_report_ms_ = now;
  const std::string dropped =
      dropped_lines_ == 0 ? "" : ", " + std::to_string(dropped_lines_) + " dropped: more than 16 MiB waited";
  std::fprintf(stderr, "agentlog: %s (%zu lines kept, retrying%s)\n", error, count_lines(buffer_),
               dropped.c_str());
}

void ProjectLog::start_flusher_locked() {
  if (flusher_) return;
  flusher_ = std::make_unique<std::thread>([this] {
    while (!stop_.load()) {
      std::this_thread::sleep_for(kFlushEvery);
      std::lock_guard lock(buffer_mutex_);
      try {
        flush_locked();
      } catch (const std::exception& e) {
        report_locked(e.what());
      }
    }
  });
}

void ProjectLog::flush_at_exit() {
  {
    std::lock_guard lock(buffer_mutex_);
    exiting_ = true;
    std::string error;
    try {
      flush_locked();
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (const std::size_t lost = count_lines(buffer_) + dropped_lines_; lost > 0)
      std::fprintf(stderr, "agentlog: %zu log lines could not be written to %s%s%s\n", lost,
                   writer_.latest().c_str(), error.empty() ? "" : ": ", error.c_str());
    dropped_lines_ = 0;
  }
  writer_.wait_idle();
}

void ProjectLog::before_fork() {
  settings_mutex_.lock();
  buffer_mutex_.lock();
  try {  // so that the child does not start with the parent's lines (it drops its copy)
    flush_locked();
  } catch (...) {  // kept by the parent, whose flusher retries and reports
  }
  writer_.before_fork();
}

void ProjectLog::after_fork_in_parent() {
  writer_.after_fork_in_parent();
  buffer_mutex_.unlock();
  settings_mutex_.unlock();
}

void ProjectLog::after_fork_in_child() {
  writer_.after_fork_in_child();
  buffer_.clear();  // the parent writes them
  dropped_lines_ = 0;
  last_report_ms_ = 0;
  static_cast<void>(
      flusher_.release());  // leaked: its thread is not in this process; the next line starts one
  buffer_mutex_.unlock();
  settings_mutex_.unlock();
}

}  // namespace agentlog
