#include "logger/event_writer.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace agentlog {

const std::vector<std::string>& log_level_names() {
  static const std::vector<std::string> names = {"trace", "debug", "info", "warn", "error", "fatal"};
  return names;
}

std::string iso8601_ms(std::int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(epoch_ms % 1000));
  return buf;
}

std::string iso8601_now_ms() {
  return iso8601_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
}

nlohmann::json write_event(const ProjectLayout& layout, const LogEvent& event) {
  nlohmann::json record = {{"ts", iso8601_now_ms()},
                           {"level", event.level},
                           {"category", event.category},
                           {"source", event.source},
                           {"msg", event.message},
                           {"fields", event.fields.is_object() ? event.fields : nlohmann::json::object()},
                           {"pid", static_cast<long>(::getpid())},
                           {"tid", static_cast<long>(::syscall(SYS_gettid))}};
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::error_code ec;
  fs::create_directories(layout.logs_dir(), ec);
  const std::string path = layout.latest_log().string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path + " for writing: " + std::strerror(errno));
  ::flock(fd, LOCK_EX);
  ssize_t n = ::write(fd, line.data(), line.size());
  int err = errno;
  ::flock(fd, LOCK_UN);
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size()))
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(err));
  return record;
}

}  // namespace agentlog
