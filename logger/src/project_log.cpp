#include "logger/project_log.hpp"

#include <pthread.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <map>

#include "logger/env_file.hpp"
#include "logger/files.hpp"

namespace agentlog {

namespace {

constexpr std::size_t kBufferBytes = 64 << 10;     // flush when the buffer reaches this
constexpr std::size_t kMaxBufferBytes = 16 << 20;  // beyond this, lines that cannot be written are dropped
constexpr auto kFlushEvery = std::chrono::milliseconds(200);
constexpr auto kSettingsEvery = std::chrono::milliseconds(200);

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
  s->rotation = RotationPolicy::from_env(env);
  // logging.config.json is the agent's file: a broken one means the defaults, never a crash.
  if (auto text = read_file(layout.logging_config())) {
    auto config = nlohmann::json::parse(*text, nullptr, false);
    if (config.is_object()) {
      if (config.contains("defaultLevel") && config["defaultLevel"].is_string()) {
        int l = log_level_index(config["defaultLevel"].get<std::string>());
        if (l >= 0) s->default_level = l;
      }
      if (config.contains("categories") && config["categories"].is_object())
        for (const auto& [name, level] : config["categories"].items())
          if (level.is_string() && log_level_index(level.get<std::string>()) >= 0)
            s->categories[name] = log_level_index(level.get<std::string>());
    }
  }
  return s;
}

std::vector<std::shared_ptr<ProjectLog>> all_logs() {
  std::lock_guard lock(registry_mutex());
  std::vector<std::shared_ptr<ProjectLog>> all;
  for (auto& [dir, log] : registry()) all.push_back(log);
  return all;
}

void flush_all_quietly() {
  try {
    ProjectLog::flush_all();
  } catch (...) {
  }
}

// At exit the lines are flushed and a rotation's compression and clean-up finish before the process ends
// (the writers are never destroyed, so their maintenance thread would be cut off mid-file: the archive
// left plain, a stray .gz.tmp, expired archives kept).
void finish_all_quietly() {
  flush_all_quietly();
  for (auto& log : all_logs()) log->writer().wait_idle();
}

void register_process_hooks() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::atexit(finish_all_quietly);
    // Flush before fork so the child does not write the parent's buffered lines a second time.
    ::pthread_atfork(flush_all_quietly, nullptr, [] { g_pid.store(0); });
  });
}

}  // namespace

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
  for (auto& log : all_logs()) log->flush();
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
  if (flusher_.joinable()) flusher_.join();
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
  }
  return history_.back();
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
  const LogFormat format = current(stamp ? clock_() : r.ts_ms).format;
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
  if (buffer_.size() > kMaxBufferBytes) buffer_.resize(before);  // the disk has refused for a while
  if (r.level >= 3 || buffer_.size() >= kBufferBytes) {
    try {
      flush_locked();
    } catch (const std::exception& e) {
      static std::atomic<std::int64_t> last_report{0};
      const std::int64_t now = system_ms();
      if (now - last_report.exchange(now) > 60'000)
        std::fprintf(stderr, "agentlog: %s (lines kept, retrying)\n", e.what());
    }
  } else {
    start_flusher();
  }
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

void ProjectLog::start_flusher() {
  std::call_once(flusher_once_, [this] {
    flusher_ = std::thread([this] {
      while (!stop_.load()) {
        std::this_thread::sleep_for(kFlushEvery);
        try {
          flush();
        } catch (...) {
        }
      }
    });
  });
}

}  // namespace agentlog
