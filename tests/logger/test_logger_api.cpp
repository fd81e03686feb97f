// The C++ Logger API and the spdlog sink as a user program uses them (in process; the installed package is
// tested by tests/logger/consumer).
#include <doctest/doctest.h>
#include <spdlog/logger.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agentlog/logger.hpp"
#include "agentlog/spdlog_sink.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<json> read_lines(const fs::path& root) {
  std::vector<json> out;
  std::string text = agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log");
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    REQUIRE(nl != std::string::npos);
    out.push_back(json::parse(text.substr(start, nl - start)));
    start = nl + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("Logger: info with fields, error with an exception, timers, registry, per-category levels") {
  TempDir root;
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::test::write_text(root / ".ai-agents/logging/config/logging.config.json",
                             R"({"defaultLevel":"info","categories":{"noisy":"error"}})");
  agentlog::Logger::set_project_root(root.path());
  auto& log = agentlog::Logger::get("src/myfile.cpp");
  CHECK(&log == &agentlog::Logger::get("src/myfile.cpp"));  // one per source and category
  log.info("Application started", {{"port", 3000}});
  log.debug("below the default level");
  try {
    throw std::runtime_error("Timeout");
  } catch (const std::exception& ex) {
    log.error("Failed to connect", ex);
  }
  auto t = log.start_timer();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  t.done({{"message", "Work completed"}, {"items", 3}});
  t.done();  // once only
  auto& noisy = agentlog::Logger::get("src/noisy.cpp", "noisy");
  CHECK_FALSE(noisy.enabled(agentlog::Level::kWarn));
  noisy.warn("dropped");
  noisy.error("kept");
  agentlog::Logger::flush_all();

  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["msg"] == "Application started");
  CHECK(lines[0]["fields"]["port"] == 3000);
  CHECK(lines[0]["source"] == "src/myfile.cpp");
  CHECK(lines[0]["category"] == "app");
  CHECK(lines[0]["level"] == "info");
  CHECK(lines[0]["pid"].get<long>() == static_cast<long>(::getpid()));
  CHECK(lines[1]["level"] == "error");
  CHECK(lines[1]["fields"]["error"] == "Timeout");
  CHECK(lines[1]["fields"]["errorType"] == "std::runtime_error");
  CHECK(lines[2]["msg"] == "Work completed");
  CHECK(lines[2]["fields"]["items"] == 3);
  CHECK(lines[2]["fields"]["durationMs"].get<double>() >= 20.0);
  CHECK(lines[3]["msg"] == "kept");
  CHECK(lines[3]["category"] == "noisy");

  json registry = json::parse(agentlog::test::read_text(root / ".ai-agents/logging/integrations/registry.json"));
  CHECK(registry["loggers"]["src/myfile.cpp"]["category"] == "app");
  CHECK(registry["loggers"].contains("src/noisy.cpp"));

  // The human switches logging off in .env.logging: picked up without a restart.
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.logging", "LOGGING_ENABLED=false\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  log.error("not written");
  agentlog::Logger::flush_all();
  CHECK(read_lines(root.path()).size() == 4);
}

TEST_CASE("Logger: buffered lines reach the file within the flush interval, warn and above at once") {
  TempDir root;
  agentlog::Logger::set_project_root(root.path());
  auto& log = agentlog::Logger::get("src/buffered.cpp", "buffered");
  log.warn("at once");
  CHECK(read_lines(root.path()).size() == 1);
  log.info("later");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  CHECK(read_lines(root.path()).size() == 2);
}

TEST_CASE("spdlog sink: an spdlog logger writes agentlog lines (category = logger name) to the same file") {
  TempDir root;
  auto sink = std::make_shared<agentlog::latest_archive_sink_mt>(root.path());
  spdlog::logger api("api", sink);
  api.set_level(spdlog::level::trace);
  api.info("GET /api/users/{} - 200 OK ({}ms)", 123, 61);
  api.critical("down");
  api.flush();
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["msg"] == "GET /api/users/123 - 200 OK (61ms)");
  CHECK(lines[0]["category"] == "api");
  CHECK(lines[0]["level"] == "info");
  CHECK(lines[1]["level"] == "fatal");
}
