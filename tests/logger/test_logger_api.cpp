// The C++ Logger API and the spdlog sink as a user program uses them: in process, and through
// logger_program.cpp where only a real process shows the behaviour (fork, exit, static destructors, stderr).
// The installed package is tested by tests/logger/consumer.
#include <doctest/doctest.h>
#include <spdlog/logger.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agentlog/logger.hpp"
#include "agentlog/spdlog_sink.hpp"
#include "logger/event_writer.hpp"
#include "support/process.hpp"
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

  json registry =
      json::parse(agentlog::test::read_text(root / ".ai-agents/logging/integrations/registry.json"));
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

TEST_CASE(
    "spdlog sink: the source is the file as the Logger API writes it (line in fields.line), registered") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto sink = std::make_shared<agentlog::latest_archive_sink_mt>(root.path());
  spdlog::logger api("api", sink);
  api.set_level(spdlog::level::trace);
  // As a file compiled by a relative name gives it, and by an absolute name inside the project.
  api.log(spdlog::source_loc{"src/api/users.cpp", 42, "get_user"}, spdlog::level::warn, "user {} found", 7);
  const std::string db = (root / "src/db.cpp").string();
  api.log(spdlog::source_loc{db.c_str(), 7, "query"}, spdlog::level::err, "query failed");
  api.info("no location");
  api.flush();
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["source"] == "src/api/users.cpp");  // was "src/api/users.cpp:42"
  CHECK(lines[0]["fields"]["line"] == 42);
  CHECK(lines[0]["msg"] == "user 7 found");
  CHECK(lines[1]["source"] == "src/db.cpp");
  CHECK(lines[1]["fields"]["line"] == 7);
  CHECK(lines[2]["source"] == "");
  CHECK(lines[2]["fields"] == json::object());

  json registry =
      json::parse(agentlog::test::read_text(root / ".ai-agents/logging/integrations/registry.json"));
  CHECK(registry["loggers"]["src/api/users.cpp"]["category"] == "api");
  CHECK(registry["loggers"]["src/api/users.cpp"]["via"] == "spdlog");
  CHECK(registry["loggers"].contains("src/db.cpp"));
  CHECK(registry["loggers"].size() == 2);

  // What `--source` is for: a file name or a glob over paths, as for the Logger API's lines.
  for (const char* glob : {"src/api/users.cpp", "src/api/*"}) {
    auto r = agentlog::test::run_agentlog(
        {"logs", "search", "--root", root.path().string(), "--source", glob, "--json"});
    INFO(glob, " ", r.out, r.err);
    REQUIRE(r.exit_code == 0);
    json found = json::parse(r.out);
    REQUIRE(found["matches"].size() == 1);
    CHECK(found["matches"][0]["msg"] == "user 7 found");
  }
}

TEST_CASE("write_event while LOGGING_ENABLED=false: not written and marked disabled (log_event refuses it)") {
  TempDir root;
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.logging", "LOGGING_ENABLED=false\n");
  agentlog::LogEvent event;
  event.message = "while off";
  auto r = agentlog::write_event(agentlog::ProjectLayout::at(root.path()), event);
  CHECK_FALSE(r.written);
  CHECK(r.disabled);  // log_event turns it into [policy.denied.disabled], as the policy's own check does
  CHECK(r.reason == "Logging is switched off (LOGGING_ENABLED=false in .env.logging); the human turns it on");
  event.level = "trace";  // below the minimum is another matter: written: false, not an error
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.logging", "LOG_LEVEL=info\n");
  r = agentlog::write_event(agentlog::ProjectLayout::at(root.path()), event);
  CHECK_FALSE(r.written);
  CHECK_FALSE(r.disabled);
}

TEST_CASE("Logger: a source name with invalid UTF-8 is registered with U+FFFD, as the line holds it") {
  TempDir root;
  fs::create_directories(root / ".ai-agents/logging");
  agentlog::Logger::set_project_root(root.path());
  agentlog::Logger::get("src/bad\xff-name.cpp", "utf\xfe").warn("from a badly named file");
  agentlog::Logger::flush_all();
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 1);
  const std::string name = "src/bad\xEF\xBF\xBD-name.cpp";
  CHECK(lines[0]["source"] == name);
  json registry =
      json::parse(agentlog::test::read_text(root / ".ai-agents/logging/integrations/registry.json"));
  REQUIRE(registry["loggers"].contains(name));  // the update failed: "invalid UTF-8 byte" on stderr
  CHECK(registry["loggers"][name]["category"] == "utf\xEF\xBF\xBD");
}

// ------------------------------------------------------------------ real processes: fork, exit, stderr

namespace {

agentlog::test::ProcessResult run_program(const fs::path& root, const std::string& scenario) {
  return agentlog::test::run_process({LOGGER_PROGRAM, scenario}, "", root,
                                     {{"AGENTLOG_ROOT", root.string()}});
}

int count_msg(const std::vector<json>& lines, const std::string& msg) {
  return static_cast<int>(
      std::count_if(lines.begin(), lines.end(), [&](const json& l) { return l["msg"] == msg; }));
}

}  // namespace

TEST_CASE("Logger across fork(): a child forked while other threads log can log (no lock is left held)") {
  TempDir root;
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.logging",
                             "LOG_MAX_SIZE_MB=1000\n");  // one file
  auto r = run_program(root.path(), "fork-while-logging");
  INFO(r.err);
  CHECK(r.exit_code == 0);  // the number of children stuck in their first log call
  CHECK(r.err.empty());
  auto lines = read_lines(root.path());
  CHECK(count_msg(lines, "child") == 100);
  CHECK(count_msg(lines, "a new logger in the child") == 10);
}

TEST_CASE(
    "Logger across fork(): children lock logs/.lock against their parent and each other (their own lock "
    "file)") {
  TempDir root;
  agentlog::test::write_text(
      root / ".ai-agents/logging/config/.env.logging",
      "LOG_MAX_SIZE_MB=0.01\nLOG_COMPRESS_ARCHIVES=false\nLOG_MAX_ARCHIVES=0\nLOG_MAX_TOTAL_MB=0\n");
  auto r = run_program(root.path(), "fork-writers");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());  // a rotation done twice at once fails ("cannot rotate")
  const fs::path logs = root / ".ai-agents/logging/logs";
  std::vector<fs::path> files = {logs / "latest.log"};
  for (const auto& d : fs::directory_iterator(logs / "archive")) {
    if (fs::exists(d.path() / "latest.log"))
      files.push_back(d.path() / "latest.log");
    else
      FAIL_CHECK("an archive folder without its file (a rotation done twice): " << d.path());
  }
  CHECK(files.size() > 20);
  std::map<int, std::set<int>> seen;
  int parent = 0, lines = 0;
  for (const auto& f : files) {
    std::istringstream in(agentlog::test::read_text(f));
    for (std::string l; std::getline(in, l); ++lines) {
      json j = json::parse(l, nullptr, false);
      REQUIRE_MESSAGE(!j.is_discarded(), "not a whole line in " << f << ": '" << l << "'");
      if (j["msg"] == "parent") {
        ++parent;
        continue;
      }
      CHECK(seen[j["fields"]["p"].get<int>()].insert(j["fields"]["i"].get<int>()).second);  // once
    }
  }
  CHECK(parent == 1);
  CHECK(lines == 1 + 4 * 1500);
  for (int p = 0; p < 4; ++p) CHECK(seen[p].size() == 1500);
}

TEST_CASE(
    "Logger across fork(): a child's info line is written by its own flusher, with the child's pid and tid") {
  TempDir root;
  auto r = run_program(root.path(), "fork-flusher");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);  // the child's line reached the file while the child lived (it was then killed)
  const long child = std::stol(r.out);
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["msg"] == "parent-line");
  CHECK(lines[0]["tid"] == lines[0]["pid"]);
  CHECK(lines[1]["msg"] == "child-line");
  CHECK(lines[1]["pid"] == child);
  CHECK(lines[1]["tid"] == child);  // not the parent's thread id
}

TEST_CASE(
    "Logger: mistakes in .env.logging and logging.config.json are said once on stderr; safe values used") {
  TempDir root;
  const fs::path config = root / ".ai-agents/logging/config";
  fs::create_directories(config);
  agentlog::test::write_text(config / ".env.logging",
                             "LOG_LEVEL=verbose\nLOG_MAX_SIZE_MB=10MB\nLOG_ROTATE_INTERVAL=monthly\n"
                             "LOG_RETENTION_DAYS=-1\nLOG_COMPRESS_ARCHIVES=gzip\n");
  agentlog::test::write_text(config / "logging.config.json", "{\"defaultLevel\": \"debug\", }");
  auto r = run_program(root.path(), "log-lines");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const std::string env = (config / ".env.logging").string();
  for (const std::string& expected :
       {env +
            ":1: error: LOG_LEVEL: bad value 'verbose'; accepted: one of trace,debug,info,warn,error,fatal; "
            "using the safe value 'info'",
        env + ":2: error: LOG_MAX_SIZE_MB: bad value '10MB'; accepted: a number from 0.001 to 1048576",
        env + ":3: error: LOG_ROTATE_INTERVAL: bad value 'monthly'",
        env + ":4: error: LOG_RETENTION_DAYS: bad value '-1'; accepted: an integer from 0 to 36500",
        env + ":5: error: LOG_COMPRESS_ARCHIVES: bad value 'gzip'; accepted: true or false",
        (config / "logging.config.json").string() + ": error: not valid JSON (line 1, column 27: ",
        std::string("`agentlog config show` lists every setting")}) {
    INFO(expected);
    const std::size_t at = r.err.find(expected);
    CHECK(at != std::string::npos);
    CHECK(r.err.find(expected, at + 1) == std::string::npos);  // once, though the files were read again
  }
  CHECK(r.err.find("e+") == std::string::npos);
  // LOG_LEVEL's safe value (info) and the defaults of the broken logging.config.json: no debug line.
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["msg"] == "line one");
  CHECK(lines[1]["msg"] == "line two");
}

TEST_CASE("Logger without a project: lines go to stderr after one warning saying how to set one up") {
  TempDir dir;  // under /tmp: no .ai-agents/ upwards
  fs::create_directories(dir / "work");
  auto r =
      agentlog::test::run_process({LOGGER_PROGRAM, "log-lines"}, "", dir / "work", {{"AGENTLOG_ROOT", ""}});
  CHECK(r.exit_code == 0);
  CHECK_FALSE(fs::exists(dir / "work/.ai-agents"));  // no project made up in the working directory
  CHECK_FALSE(fs::exists(dir / ".ai-agents"));
  const std::string warning =
      "agentlog: no project to log to: AGENTLOG_ROOT is not set and no directory from " +
      (dir / "work").string() +
      " upwards holds .ai-agents/, so log lines go to stderr only. Run `agentlog init` "
      "in the project's root, or set AGENTLOG_ROOT to it.\n";
  REQUIRE(r.err.rfind(warning, 0) == 0);
  CHECK(r.err.find("no project", warning.size()) == std::string::npos);  // once
  const std::string rest = r.err.substr(warning.size());
  CHECK(rest.find("] INFO [app] line one\t{\"source\":\"src/app.cpp\"}\n") != std::string::npos);
  CHECK(rest.find("] INFO [app] line two") != std::string::npos);
  CHECK(rest.find("a debug line") == std::string::npos);  // the default levels: info and above
  CHECK(r.out.empty());
}

TEST_CASE("Logger at exit: lines logged by static destructors and by earlier atexit handlers are written") {
  TempDir root;
  auto r = run_program(root.path(), "static-destructor");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["msg"] == "service started");
  CHECK(lines[1]["msg"] == "atexit handler ran");
  CHECK(lines[2]["msg"] == "service stopped");
  // Nothing read after it was destroyed (the level names were: a freed string, in a traced build reused).
  auto checked = agentlog::test::run_process(
      {"valgrind", "-q", "--error-exitcode=97", "--leak-check=no", LOGGER_PROGRAM, "static-destructor"}, "",
      root.path(), {{"AGENTLOG_ROOT", root.path().string()}});
  CHECK_MESSAGE(checked.exit_code == 0, checked.err);
}

TEST_CASE(
    "Logger: info lines that cannot be written are reported on stderr while running and counted at exit") {
  TempDir root;
  agentlog::test::write_text(root / ".ai-agents/logging/logs", "a file where the logs directory should be");
  auto r = run_program(root.path(), "unwritable");
  CHECK(r.exit_code == 0);
  const std::string lock = (root / ".ai-agents/logging/logs/.lock").string();
  // Once (a minute) by the flusher, with the lines kept for the next try; then the count at exit.
  CHECK(r.err == "agentlog: cannot open " + lock + ": Not a directory (5 lines kept, retrying)\n" +
                     "agentlog: 5 log lines could not be written to " +
                     (root / ".ai-agents/logging/logs/latest.log").string() + ": cannot open " + lock +
                     ": Not a directory\n");
}

TEST_CASE("Logger: secrets in messages and fields are written as [REDACTED] (LOG_REDACT, on by default)") {
  TempDir root;
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::Logger::set_project_root(root.path());
  auto& log = agentlog::Logger::get("src/secret.cpp");
  log.warn("connecting with api_key=sk-live-ABCDEF1234567890", {{"password", "hunter2"}, {"user", "ann"}});
  agentlog::Logger::flush_all();
  auto lines = read_lines(root.path());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["msg"] == "connecting with api_key=[REDACTED]");
  CHECK(lines[0]["fields"]["password"] == "[REDACTED]");
  CHECK(lines[0]["fields"]["user"] == "ann");
  // Token counts are no secrets (an agent logs its usage): only a token that grants access is.
  log.info("used tokens=512 of max_tokens: 4096 with token=abc123",
           {{"max_tokens", 4096}, {"input_tokens", 77}, {"tokenizer", "bpe"}, {"access_token", "xyz"}});
  agentlog::Logger::flush_all();
  lines = read_lines(root.path());
  REQUIRE(lines.size() == 2);
  CHECK(lines[1]["msg"] == "used tokens=512 of max_tokens: 4096 with token=[REDACTED]");
  CHECK(lines[1]["fields"]["max_tokens"] == 4096);
  CHECK(lines[1]["fields"]["input_tokens"] == 77);
  CHECK(lines[1]["fields"]["tokenizer"] == "bpe");
  CHECK(lines[1]["fields"]["access_token"] == "[REDACTED]");
}

TEST_CASE("Logger under a file-size limit (ulimit -f): the program is not killed by SIGXFSZ; no torn line") {
  TempDir root;
  fs::create_directories(root / ".ai-agents/logging/logs");
  auto r = run_program(root.path(), "file-size-limit");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "still running\n");
  CHECK(r.err.find("File too large") != std::string::npos);
  const std::string text = agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log");
  REQUIRE(!text.empty());
  CHECK(text.back() == '\n');
  CHECK(text.size() <= (20 << 10));
  for (const auto& l : read_lines(root.path())) CHECK(l["msg"].get<std::string>().rfind("line ", 0) == 0);
}
