// The Logger API and the spdlog sink, both over ProjectLog.
#include "agentlog/logger.hpp"

#include <cxxabi.h>
#include <pthread.h>

#include <cstdlib>
#include <map>
#include <set>
#include <typeinfo>

#include "agentlog/spdlog_sink.hpp"
#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/project_log.hpp"

// Defined by the tracing runtime (agentlog_trace.hpp) when the program includes it.
extern "C" __attribute__((weak)) int agentlog_trace_current_ids(char* trace_id, unsigned long trace_cap, char* span_id,
                                                                 unsigned long span_cap);

namespace agentlog {

namespace {

// Held only to look up or add a logger, never while another lock is taken: so the fork handlers can take
// it in any order relative to ProjectLog's.
std::mutex& loggers_mutex() {
  static auto* m = [] {
    auto* mutex = new std::mutex;
    ::pthread_atfork([] { loggers_mutex().lock(); }, [] { loggers_mutex().unlock(); },
                     [] { loggers_mutex().unlock(); });
    return mutex;
  }();
  return *m;
}
// Leaked on purpose: a Logger& stays valid in static destructors.
std::map<std::string, Logger*>& loggers() {
  static auto* m = new std::map<std::string, Logger*>;
  return *m;
}
std::filesystem::path& root_override() {
  static auto* p = new std::filesystem::path;
  return *p;
}

ProjectLayout project_for(const std::filesystem::path& root) {
  if (!root.empty()) return ProjectLayout::at(root);
  if (const char* env = std::getenv("AGENTLOG_ROOT"); env && *env) return ProjectLayout::at(env);
  std::error_code ec;
  return ProjectLayout::discover(std::filesystem::current_path(ec));
}

std::string type_name(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : type.name();
  std::free(name);
  return out;
}

// Adds the source to integrations/registry.json ("loggers") the first time this process sees it.
void register_source(const ProjectLayout& layout, const std::string& source, const std::string& category) {
  try {
    update_json_file_locked(layout.registry(), [&](nlohmann::json& registry) {
      auto& list = registry["loggers"];
      if (!list.is_object()) list = nlohmann::json::object();
      if (!list.contains(source))
        list[source] = {{"category", category}, {"firstSeen", iso8601_now_ms()}};
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agentlog: cannot register %s in %s: %s\n", source.c_str(), layout.registry().c_str(), e.what());
  }
}

void write_quietly(ProjectLog& project, LogRecord& r) {
  char trace[80], span[24];
  if (agentlog_trace_current_ids && agentlog_trace_current_ids(trace, sizeof trace, span, sizeof span)) {
    r.trace_id = trace;
    r.span_id = span;
  }
  try {
    project.write(r, false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agentlog: %s\n", e.what());
  }
}

}  // namespace

Logger& Logger::get(std::string_view source, std::string_view category) {
  std::string key = std::string(category) + '\n' + std::string(source);
  std::filesystem::path root;
  {
    std::lock_guard lock(loggers_mutex());
    if (auto it = loggers().find(key); it != loggers().end()) return *it->second;
    root = root_override();
  }
  ProjectLayout layout = project_for(root);
  std::shared_ptr<ProjectLog> project = ProjectLog::shared(layout);  // (not under loggers_mutex: see there)
  Logger* logger = nullptr;
  bool created = false;
  {
    std::lock_guard lock(loggers_mutex());
    Logger*& slot = loggers()[key];
    if (!slot) {
      slot = new Logger(std::string(source), std::string(category), std::move(project));
      created = true;
    }
    logger = slot;
  }
  if (created) register_source(layout, std::string(source), std::string(category));
  return *logger;
}

void Logger::set_project_root(const std::filesystem::path& root) {
  std::lock_guard lock(loggers_mutex());
  root_override() = root;
}

void Logger::flush_all() { ProjectLog::flush_all(); }

Logger::Logger(std::string source, std::string category, std::shared_ptr<ProjectLog> project)
    : source_(std::move(source)), category_(std::move(category)), project_(std::move(project)) {}

// The lowest level written for this logger's category now (99 when logging is off); cached per settings.
int Logger::min_level(std::int64_t now_ms) const {
  const LogSettings& s = project_->current(now_ms);
  if (min_for_.load() != &s) {
    min_.store(s.enabled ? s.min_level(category_) : 99);
    min_for_.store(&s);
  }
  return min_.load();
}

bool Logger::enabled(Level level) const { return static_cast<int>(level) >= min_level(project_->now()); }

void Logger::log(Level level, std::string_view msg, const Fields& fields) {
  const std::int64_t now = project_->now();
  if (static_cast<int>(level) < min_level(now)) return;
  LogRecord r;
  r.ts_ms = now;
  r.level = static_cast<int>(level);
  r.category = category_;
  r.source = source_;
  r.msg = msg;
  r.fields = &fields;
  write_quietly(*project_, r);
}

void Logger::error(std::string_view msg, const std::exception& ex, const Fields& fields) {
  if (!enabled(Level::kError)) return;
  Fields all = fields.is_object() ? fields : Fields::object();
  all["error"] = ex.what();
  all["errorType"] = type_name(typeid(ex));
  log(Level::kError, msg, all);
}

Timer Logger::start_timer(std::string_view label) { return Timer(*this, std::string(label)); }

double Timer::elapsed_ms() const {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
}

void Timer::done(const Logger::Fields& fields, Level level) {
  if (done_) return;
  done_ = true;
  const double ms = elapsed_ms();
  Logger::Fields all = fields.is_object() ? fields : Logger::Fields::object();
  std::string msg = label_.empty() ? "Timer done" : label_;
  if (all.contains("message") && all["message"].is_string()) {
    msg = all["message"].get<std::string>();
    all.erase("message");
  }
  all["durationMs"] = static_cast<double>(static_cast<long long>(ms * 1000)) / 1000;
  logger_->log(level, msg, all);
}

// ------------------------------------------------------------------------------------------ spdlog sink

latest_archive_sink_mt::latest_archive_sink_mt(const std::filesystem::path& root)
    : project_(ProjectLog::shared(project_for(root))) {}

latest_archive_sink_mt::~latest_archive_sink_mt() {
  try {
    project_->flush();
  } catch (...) {
  }
}

void latest_archive_sink_mt::sink_it_(const spdlog::details::log_msg& msg) {
  if (msg.level == spdlog::level::off) return;
  const int level = std::min(static_cast<int>(msg.level), 5);  // trace..critical -> trace..fatal
  const std::string_view category(msg.logger_name.data(), msg.logger_name.size());
  const std::int64_t ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
  const LogSettings& settings = project_->current(ts_ms);
  if (!settings.enabled || level < settings.min_level(category)) return;
  std::string source;
  if (!msg.source.empty()) source = std::string(msg.source.filename) + ":" + std::to_string(msg.source.line);
  LogRecord r;
  r.ts_ms = ts_ms;
  r.level = level;
  r.category = category;
  r.source = source;
  r.msg = std::string_view(msg.payload.data(), msg.payload.size());
  r.tid = static_cast<long>(msg.thread_id);
  write_quietly(*project_, r);
}

void latest_archive_sink_mt::flush_() { project_->flush(); }

}  // namespace agentlog
