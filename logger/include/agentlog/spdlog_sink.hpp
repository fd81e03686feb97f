// An spdlog sink that writes to agentlog's rotating logs/latest.log (+ logs/archive/YYYY-MM-DD-HHmmss/),
// shared with the Logger API and the agentlog server: the same format, rotation, retention and multi-process
// locking. The logger's name is the category, the source location (SPDLOG_LOGGER_INFO and friends) the
// source; the spdlog pattern is not used (the line format is LOG_FORMAT of .env.logging).
//
//   auto sink = std::make_shared<agentlog::latest_archive_sink_mt>();   // or (project_root)
//   spdlog::logger api("api", sink);
//   api.info("GET /api/users/{} - 200 OK ({}ms)", 123, 61);
//
// Thread-safety: as every spdlog _mt sink.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <filesystem>
#include <memory>
#include <mutex>

namespace agentlog {

class ProjectLog;

class latest_archive_sink_mt final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // The project is `root`, else AGENTLOG_ROOT, else the nearest directory upwards holding .ai-agents/.
  explicit latest_archive_sink_mt(const std::filesystem::path& root = {});
  ~latest_archive_sink_mt() override;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::shared_ptr<ProjectLog> project_;
};

}  // namespace agentlog
