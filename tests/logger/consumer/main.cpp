// A user program: the Logger API of the README, a traced function whose log line carries the span's ids,
// and the spdlog sink. Built by tests/logger/consumer/run.sh against an installed agentlog.
#include <agentlog/agentlog_trace.hpp>
#include <agentlog/logger.hpp>
#include <agentlog/spdlog_sink.hpp>
#include <spdlog/logger.h>

#include <stdexcept>

int handle(int requestId) {
  AGENTLOG_SPAN(2, requestId);
  agentlog::Logger::get("src/handler.cpp", "api").info("handling request", {{"requestId", requestId}});
  return AGENTLOG_RETURN(requestId * 2);
}

int main() {
  auto& log = agentlog::Logger::get("src/myfile.cpp");
  log.info("Application started", {{"port", 3000}});
  try {
    throw std::runtime_error("Timeout");
  } catch (const std::exception& ex) {
    log.error("Failed to connect", ex);
  }
  auto t = log.start_timer();
  int r = handle(21);
  t.done({{"message", "Work completed"}, {"result", r}});
  spdlog::logger db("db", std::make_shared<agentlog::latest_archive_sink_mt>());
  db.warn("pool exhausted ({} connections)", 8);
  return 0;
}
