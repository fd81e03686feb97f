// The trace viewer in a real browser: headless Chromium loads `agentlog http` on a store with spans from a
// real traced program, opens one trace and the test checks that the waterfall is drawn (one bar per span);
// a screenshot is saved under the build directory.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string chromium() {
  for (const char* c : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(c)) return c;
  return "";
}

std::size_t count(const std::string& text, const std::regex& re) {
  return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

}  // namespace

TEST_CASE("headless Chromium draws the waterfall of a real trace") {
  const std::string browser = chromium();
  REQUIRE_MESSAGE(!browser.empty(), "Chromium is missing: `make test` installs it (apt package chromium)");
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nTRACING_DEFAULT_LEVEL=2\n");
  auto traced = agentlog::test::run_process({TRACED_PROGRAM, "tree"}, "", root.path(), {{"AGENTLOG_ROOT", root.path().string()}});
  REQUIRE(traced.exit_code == 0);
  auto slow = agentlog::test::run_agentlog({"traces", "slow", "--json", "--root", root.path().string()});
  REQUIRE(slow.exit_code == 0);
  std::string trace_id = json::parse(slow.out)["traces"][0]["traceId"];

  McpSession http(McpSession::Command{{"http", "--root", root.path().string(), "--port", "0", "--json"}});
  auto hello = http.read();
  REQUIRE(hello.has_value());
  const std::string url = "http://127.0.0.1:" + std::to_string((*hello)["port"].get<int>()) + "/#/trace/" + trace_id;
  TempDir profile("agentlog-chromium");
  const std::vector<std::string> common = {browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                           "--user-data-dir=" + profile.path().string(), "--virtual-time-budget=8000",
                                           "--window-size=1280,800"};
  auto dom_args = common;
  dom_args.insert(dom_args.end(), {"--dump-dom", url});
  auto dom = agentlog::test::run_process(dom_args, "", {}, {}, std::chrono::seconds(90));
  REQUIRE_MESSAGE(dom.exit_code == 0, dom.err);
  CHECK(dom.out.find("<svg class=\"waterfall\"") != std::string::npos);
  CHECK(count(dom.out, std::regex("<rect class=\"span")) == 9);  // fib(4): nine calls, nine bars
  CHECK(dom.out.find("fib") != std::string::npos);
  CHECK(dom.out.find("9 spans") != std::string::npos);

  const fs::path shot = fs::path(SCREENSHOT_DIR) / "viewer-trace.png";
  fs::remove(shot);
  auto shot_args = common;
  shot_args.insert(shot_args.end(), {"--screenshot=" + shot.string(), url});
  auto taken = agentlog::test::run_process(shot_args, "", {}, {}, std::chrono::seconds(90));
  CHECK(taken.exit_code == 0);
  REQUIRE(fs::exists(shot));
  CHECK(fs::file_size(shot) > 2000);  // a PNG with the page drawn (fonts may differ between machines)
  http.kill(SIGTERM);
  http.wait();
}

TEST_CASE("headless Chromium draws the first 5000 spans of a 130,000-span trace") {
  const std::string browser = chromium();
  REQUIRE_MESSAGE(!browser.empty(), "Chromium is missing: `make test` installs it (apt package chromium)");
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  // A root and 129,999 children, as a program's span file has them (the viewer spread one argument per span
  // into Math.min and drew nothing: "Maximum call stack size exceeded").
  const std::string trace_id(32, 'b');
  json span = {{"traceId", trace_id},
               {"spanId", trace_id.substr(0, 16)},
               {"parentSpanId", nullptr},
               {"function", "root"},
               {"file", "src/big.cpp"},
               {"line", 1},
               {"startTime", "2026-12-02T10:00:00.000000Z"},
               {"duration", 1000.0},
               {"durationNs", 1000000000},
               {"params", json::object()},
               {"returnValue", nullptr},
               {"error", nullptr},
               {"thread", 1},
               {"pid", 1}};
  std::string lines;
  for (int i = 1; i < 130000; ++i) {
    json leaf = span;
    char id[17], start[40];
    std::snprintf(id, sizeof id, "%016x", i);
    std::snprintf(start, sizeof start, "2026-12-02T10:00:00.%06dZ", i);
    leaf["spanId"] = id;
    leaf["parentSpanId"] = trace_id.substr(0, 16);
    leaf["function"] = "leaf";
    leaf["startTime"] = start;
    leaf["duration"] = 0.001;
    leaf["durationNs"] = 1000;
    lines += leaf.dump() + "\n";
  }
  lines += span.dump() + "\n";
  agentlog::test::write_text(root / ".ai-agents/logging/traces/2026-12-02/1-1.jsonl", lines);

  McpSession http(McpSession::Command{{"http", "--root", root.path().string(), "--port", "0", "--json"}});
  auto hello = http.read();
  REQUIRE(hello.has_value());
  const std::string url =
      "http://127.0.0.1:" + std::to_string((*hello)["port"].get<int>()) + "/#/trace/" + trace_id;
  TempDir profile("agentlog-chromium");
  auto dom = agentlog::test::run_process(
      {browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
       "--user-data-dir=" + profile.path().string(), "--virtual-time-budget=60000", "--window-size=1280,800",
       "--dump-dom", url},
      "", {}, {}, std::chrono::seconds(180));
  REQUIRE_MESSAGE(dom.exit_code == 0, dom.err);
  CHECK(dom.out.find("130000 spans · first 5000 drawn") != std::string::npos);
  CHECK(count(dom.out, std::regex("<rect class=\"span")) == 5000);
  CHECK(dom.out.find("Maximum call stack") == std::string::npos);
  http.kill(SIGTERM);
  http.wait();
}
