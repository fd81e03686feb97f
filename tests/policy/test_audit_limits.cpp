// The audit log at the limits of the machine: a write cut short is taken back, and the server lives on.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::TempDir;
using nlohmann::json;

TEST_CASE("past a file size limit the server answers every call and the audit log keeps whole records") {
  TempDir dir;
  const std::string root = dir.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root}).exit_code == 0);
  std::string session =
      R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n";
  const int calls = 60;  // 2 KB each: the 64 KiB limit is reached about half way
  for (int i = 1; i <= calls; ++i)
    session += json{{"jsonrpc", "2.0"},
                    {"id", i},
                    {"method", "tools/call"},
                    {"params", {{"name", "log_event"}, {"arguments", {{"message", std::string(2000, 'x')}}}}}}
                   .dump() +
               "\n";
  auto served = agentlog::test::run_process(
      {"/bin/bash", "-c", "ulimit -f 64; exec \"$0\" serve --root \"$1\"", AGENTLOG_BINARY, root}, session);
  CHECK(served.exit_code == 0);  // (SIGXFSZ ended it, with a torn record)
  int answered = 0, refused = 0;
  std::istringstream lines(served.out);
  for (std::string line; std::getline(lines, line);) {
    const json reply = json::parse(line);
    if (!reply.contains("id") || reply["id"] == 0) continue;
    ++answered;
    refused += reply.contains("error") || reply["result"].value("isError", false);
  }
  CHECK(answered == calls);
  CHECK(refused > 0);  // the limit was reached: what the test is about
  CHECK(refused < calls);
  auto verified = agentlog::test::run_agentlog({"audit", "verify", "--root", root});
  CHECK_MESSAGE(verified.exit_code == 0, verified.out);
}
