// An spdlog sink that writes to agentlog's rotating logs/latest.log (+ logs/archive/YYYY-MM-DD-HHmmss/),
// shared with the Logger API and the agentlog server: the same format, rotation, retention and multi-process
// locking. The logger's name is the category; a source location (SPDLOG_LOGGER_INFO and friends) gives the
// source as the Logger API writes it, the file (project-relative when inside the project, so search_logs'
// source glob matches it) with the line in fields.line, and registers the file in
// integrations/registry.json ("loggers", "via": "spdlog"). The spdlog pattern is not used (the line format is
// LOG_FORMAT of .env.logging), nor is the logger's level alone: a line is written at the levels of
// logging.config.json and LOG_LEVEL too. Without a project the lines go to stderr, as the Logger API's.
//
//   auto sink = std::make_shared<agentlog::latest_archive_sink_mt>();   // or (project_root)
//   spdlog::logger api("api", sink);
//   api.info("GET /api/users/{} - 200 OK ({}ms)", 123, 61);
//
// Thread-safety: as every spdlog _mt sink.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace agentlog {

class ProjectLog;

class latest_archive_sink_mt final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The project is `root`, else AGENTLOG_ROOT, else the nearest directory upwards holding .ai-agents/
  // (else none: stderr).
  explicit latest_archive_sink_mt(const std::filesystem::path& root = {});
  ~latest_archive_sink_mt() override;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  const std::string& source_of(const char* filename, std::string_view category);

  std::shared_ptr<ProjectLog> project_;                      // null: no project, lines go to stderr
  std::map<std::string, std::string, std::less<>> sources_;  // source_loc filename -> source written
};

}  // namespace agentlog
