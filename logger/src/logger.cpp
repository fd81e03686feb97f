// The Logger API and the spdlog sink, both over ProjectLog.
#include "agentlog/logger.hpp"

#include <cxxabi.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <typeinfo>

#include "agentlog/spdlog_sink.hpp"
#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/project_log.hpp"
#include "logger/redact.hpp"

// Defined by the tracing runtime (agentlog_trace.hpp) when the program includes it.
extern "C" __attribute__((weak)) int agentlog_trace_current_ids(char* trace_id, unsigned long trace_cap,
                                                                char* span_id, unsigned long span_cap);

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

// Without a project a program's lines go to stderr, never into a project made up on the spot: one created in
// the working directory (run once from $HOME, it made $HOME the project of everything below it) would collect
// lines nobody looks for and capture every later `agentlog` command run beneath it.
void warn_no_project(const std::filesystem::path& cwd) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(
        stderr,
        "agentlog: no project to log to: AGENTLOG_ROOT is not set and no directory from %s upwards "
        "holds .ai-agents/, so log lines go to stderr only. Run `agentlog init` in the project's root, "
        "or set AGENTLOG_ROOT to it.\n",
        cwd.c_str());
  });
}

std::optional<ProjectLayout> project_for(const std::filesystem::path& root) {
  if (!root.empty()) return ProjectLayout::at(root);
  if (const char* env = std::getenv("AGENTLOG_ROOT"); env && *env) return ProjectLayout::at(env);
  std::error_code ec;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (auto found = ProjectLayout::find(cwd)) return found;
  warn_no_project(cwd);
  return std::nullopt;
}

std::shared_ptr<ProjectLog> shared_log(const std::optional<ProjectLayout>& layout) {
  return layout ? ProjectLog::shared(*layout) : nullptr;
}

// The levels without a project (stderr): the defaults of .env.logging and logging.config.json.
const LogSettings& stderr_settings() {
  static const LogSettings defaults;
  return defaults;
}

// Text as the log line holds it: invalid UTF-8 becomes U+FFFD (registry.json must stay valid JSON).
std::string as_written(std::string_view text) {
  std::string quoted = "\"";
  append_json_escaped(quoted, text);
  quoted += '"';
  return nlohmann::json::parse(quoted).get<std::string>();
}

std::string type_name(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : type.name();
  std::free(name);
  return out;
}

// Adds the source to integrations/registry.json ("loggers") the first time this process sees it.
void register_source(const ProjectLayout& layout, std::string_view source, std::string_view category,
                     const char* via = nullptr) {
  const std::string name = as_written(source);
  try {
    update_json_file_locked(layout.registry(), [&](nlohmann::json& registry) {
      auto& list = registry["loggers"];
      if (!list.is_object()) list = nlohmann::json::object();
      if (!list.contains(name)) {
        list[name] = {{"category", as_written(category)}, {"firstSeen", iso8601_now_ms()}};
        if (via) list[name]["via"] = via;
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agentlog: cannot register %s in %s: %s\n", name.c_str(), layout.registry().c_str(),
                 e.what());
  }
}

// One line on stderr in the text format, in one write (lines of threads do not interleave).
void write_stderr(LogRecord& r) {
  if (r.pid == 0) r.pid = static_cast<long>(::getpid());
  if (r.tid == 0) r.tid = current_tid();
  std::string redacted_msg;  // as LOG_REDACT's default does in latest.log
  nlohmann::json redacted_fields;
  redact_record(r, redacted_msg, redacted_fields);
  std::string line;
  append_log_line(line, r, LogFormat::kText);
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

// `project` null: no project was found, the line goes to stderr.
void write_quietly(ProjectLog* project, LogRecord& r) {
  char trace[80], span[24];
  if (agentlog_trace_current_ids && agentlog_trace_current_ids(trace, sizeof trace, span, sizeof span)) {
    r.trace_id = trace;
    r.span_id = span;
  }
  if (!project) return write_stderr(r);
  try {
    project->write(r, false);
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
  std::optional<ProjectLayout> layout = project_for(root);
  std::shared_ptr<ProjectLog> project = shared_log(layout);  // (not under loggers_mutex: see there)
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
  if (created && layout) register_source(*layout, source, category);
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
  const LogSettings& s = project_ ? project_->current(now_ms) : stderr_settings();
  if (min_for_.load() != &s) {
    min_.store(s.enabled ? s.min_level(category_) : 99);
    min_for_.store(&s);
  }
  return min_.load();
}

bool Logger::enabled(Level level) const { return static_cast<int>(level) >= min_level(now_ms()); }

std::int64_t Logger::now_ms() const { return project_ ? project_->now() : system_ms(); }

void Logger::log(Level level, std::string_view msg, const Fields& fields) {
  const std::int64_t now = now_ms();
  if (static_cast<int>(level) < min_level(now)) return;
  LogRecord r;
  r.ts_ms = now;
  r.level = static_cast<int>(level);
  r.category = category_;
  r.source = source_;
  r.msg = msg;
  r.fields = &fields;
  write_quietly(project_.get(), r);
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
    : project_(shared_log(project_for(root))) {}

latest_archive_sink_mt::~latest_archive_sink_mt() {
  if (!project_) return;
  try {
    project_->flush();
  } catch (...) {
  }
}

// The source as the Logger API writes it: the file (project-relative when inside the project), so that
// search_logs' source glob (`src/api/*`, `sp.cpp`) matches; the line goes to fields.line. Registered in
// integrations/registry.json at its first line, as a Logger's source is. (base_sink holds its mutex here.)
const std::string& latest_archive_sink_mt::source_of(const char* filename, std::string_view category) {
  const std::string_view file(filename);
  if (auto it = sources_.find(file); it != sources_.end()) return it->second;
  std::string source =
      project_ ? project_->layout().relative(std::filesystem::path(file)) : std::string(file);
  if (project_) register_source(project_->layout(), source, category, "spdlog");
  return sources_.emplace(std::string(file), std::move(source)).first->second;
}

void latest_archive_sink_mt::sink_it_(const spdlog::details::log_msg& msg) {
  if (msg.level == spdlog::level::off) return;
  const int level = std::min(static_cast<int>(msg.level), 5);  // trace..critical -> trace..fatal
  const std::string_view category(msg.logger_name.data(), msg.logger_name.size());
  const std::int64_t ts_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
  const LogSettings& settings = project_ ? project_->current(ts_ms) : stderr_settings();
  if (!settings.enabled || level < settings.min_level(category)) return;
  LogRecord r;
  nlohmann::json fields;
  if (!msg.source.empty()) {
    r.source = source_of(msg.source.filename, category);
    fields = {{"line", msg.source.line}};
    r.fields = &fields;
  }
  r.ts_ms = ts_ms;
  r.level = level;
  r.category = category;
  r.msg = std::string_view(msg.payload.data(), msg.payload.size());
  r.tid = static_cast<long>(msg.thread_id);
  write_quietly(project_.get(), r);
}

void latest_archive_sink_mt::flush_() {
  if (project_) project_->flush();
}

}  // namespace agentlog
