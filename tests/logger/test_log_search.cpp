// Log search over latest.log and archives (plain and gzip), newest first, with every filter, pagination,
// torn lines and bad input; and search_logs through the real binary.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <string>
#include <thread>

#include "logger/event_writer.hpp"
#include "logger/log_search.hpp"
#include "logger/log_writer.hpp"
#include "logger/text_scan.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::LogQuery;
using agentlog::LogQueryError;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string line(const std::string& ts, const std::string& level, const std::string& category,
                 const std::string& source, const std::string& msg, json fields = json::object()) {
  return json{{"ts", ts},         {"level", level}, {"category", category},
              {"source", source}, {"msg", msg},     {"fields", fields},
              {"pid", 1},         {"tid", 1}}
             .dump() +
         "\n";
}

// Archive 2026-11-24 (gzip) older than archive 2026-11-25-080000 (plain) older than latest.log.
agentlog::ProjectLayout make_logs(const TempDir& root) {
  auto layout = agentlog::ProjectLayout::at(root.path());
  fs::create_directories(layout.archive_dir() / "2026-11-24-000000");
  fs::create_directories(layout.archive_dir() / "2026-11-25-080000");
  std::string old;
  for (int i = 0; i < 5; ++i)
    old += line("2026-11-24T10:00:0" + std::to_string(i) + ".000Z", "info", "db", "src/db.cpp",
                "old query " + std::to_string(i));
  gzFile gz = gzopen((layout.archive_dir() / "2026-11-24-000000/latest.log.gz").c_str(), "wb");
  gzwrite(gz, old.data(), static_cast<unsigned>(old.size()));
  gzclose(gz);
  agentlog::test::write_text(
      layout.archive_dir() / "2026-11-25-080000/latest.log",
      line("2026-11-25T08:00:00.000Z", "warn", "api", "src/api/users.cpp", "slow request (1500ms)",
           {{"reqId", "req-abc-123"}}) +
          line("2026-11-25T08:00:01.000Z", "debug", "api", "src/api/users.cpp", "cache miss"));
  agentlog::test::write_text(
      layout.latest_log(),
      line("2026-11-25T09:00:00.000Z", "error", "api", "src/api/orders.cpp", "failed to connect",
           {{"reqId", "req-x"}, {"attempt", 3}}) +
          "[09:00:01.500] INFO [auth] user logged in\n" +
          line("2026-11-25T09:00:02.000Z", "info", "ai-agent", "claude", "instrumented src/a.cpp") +
          "{\"ts\":\"2026-11-25T09:00:03.000Z\",\"level\":\"err");  // torn: a writer was killed
  agentlog::test::write_text(layout.filters(), R"({"ai-actions": {"category": "ai-agent"}})");
  return layout;
}

std::vector<std::string> msgs(const json& r) {
  std::vector<std::string> out;
  for (const auto& m : r["matches"]) out.push_back(m["msg"]);
  return out;
}

}  // namespace

TEST_CASE("newest first across latest.log and archives, plain and gzip; torn lines counted") {
  TempDir root;
  auto layout = make_logs(root);
  json all = agentlog::search_logs(layout, LogQuery{});
  auto m = msgs(all);
  REQUIRE(m.size() == 10);
  CHECK(m[0] == "instrumented src/a.cpp");
  CHECK(m[1] == "user logged in");  // the human text form is read too
  CHECK(m[3] == "cache miss");
  CHECK(m[9] == "old query 0");
  CHECK(all["tornLines"] == 1);
  CHECK(all["matches"][9]["file"] == ".ai-agents/logging/logs/archive/2026-11-24-000000/latest.log.gz");
  CHECK(all["matches"][9]["line"] == 1);
  CHECK(all["matches"][0]["line"] == 3);
}

TEST_CASE(
    "a line cut short by a killed writer, left on a line of its own, is skipped and counted, never a match") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  const std::string torn =
      R"({"ts":"2026-11-25T09:00:01.000Z","level":"info","category":"app","source":"x","msg":"TORN-PAR)";
  agentlog::test::write_text(layout.latest_log(),
                             line("2026-11-25T09:00:00.000Z", "info", "app", "s", "first") + torn + "\n" +
                                 line("2026-11-25T09:00:02.000Z", "info", "app", "s", "TORN-PARTS whole"));
  LogQuery by_level;
  by_level.level = "info";
  LogQuery by_text;
  by_text.query = "TORN-PAR";
  LogQuery by_regex;
  by_regex.regex = "TORN-PAR";
  LogQuery by_category;
  by_category.category = "app";
  for (const LogQuery& q : {LogQuery{}, by_level, by_text, by_regex, by_category}) {
    CAPTURE(q.query);
    CAPTURE(q.level);
    CAPTURE(q.regex);
    json r = agentlog::search_logs(layout, q);
    for (const auto& m : r["matches"]) {
      CHECK(m["level"] == "info");
      CHECK(m["msg"] != "TORN-PAR");
    }
    CHECK(r["matches"][0]["msg"] == "TORN-PARTS whole");
    CHECK(r["corruptLines"] == 1);
    CHECK(r["tornLines"] == 0);  // (that is a last line without its newline)
    CHECK(r["scannedLines"] == 3);
  }
  // The CLI says so on stderr (stdout holds the matches only).
  fs::create_directories(layout.base());
  auto cli = agentlog::test::run_agentlog({"logs", "search", "TORN-PAR", "--root", root.path().string()});
  CHECK(cli.exit_code == 0);
  CHECK(cli.out.find("TORN-PARTS whole") != std::string::npos);
  CHECK(cli.err.find("1 line skipped: cut short (a writer killed mid-line) or not log lines") !=
        std::string::npos);
}

TEST_CASE("every filter") {
  TempDir root;
  auto layout = make_logs(root);
  LogQuery q;
  q.query = "query 3";
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"old query 3"});
  q = {};
  q.regex = R"(\((\d{4,})ms\))";
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"slow request (1500ms)"});
  q = {};
  q.level = "warn";
  CHECK(msgs(agentlog::search_logs(layout, q)) ==
        std::vector<std::string>{"failed to connect", "slow request (1500ms)"});
  q = {};
  q.category = "api";
  CHECK(agentlog::search_logs(layout, q)["matches"].size() == 3);
  q = {};
  q.source = "src/api/*";
  CHECK(agentlog::search_logs(layout, q)["matches"].size() == 3);
  q = {};
  q.since = "2026-11-25T08:00:00.500Z";
  q.until = "2026-11-25T09:00:00.000Z";
  CHECK(msgs(agentlog::search_logs(layout, q)) ==
        std::vector<std::string>{"failed to connect", "cache miss"});
  q = {};
  q.fields = {{"reqId", "req-abc-123"}};
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"slow request (1500ms)"});
  q = {};
  q.fields = {{"attempt", "3"}};  // a string from the command line matches the number
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"failed to connect"});
  q = {};
  agentlog::apply_saved_filter(layout, "ai-actions", q);
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"instrumented src/a.cpp"});
}

TEST_CASE("pagination: pages cover every match once, in order") {
  TempDir root;
  auto layout = make_logs(root);
  LogQuery q;
  q.limit = 3;
  std::vector<std::string> seen;
  for (int page = 0; page < 10; ++page) {
    json r = agentlog::search_logs(layout, q);
    for (const auto& m : msgs(r)) seen.push_back(m);
    if (r["nextCursor"].is_null()) break;
    q.cursor = r["nextCursor"];
  }
  CHECK(seen == msgs(agentlog::search_logs(layout, LogQuery{})));
}

TEST_CASE("bad input names the value and what is accepted") {
  TempDir root;
  auto layout = make_logs(root);
  LogQuery q;
  q.regex = "(unclosed";
  CHECK_THROWS_WITH_AS(agentlog::search_logs(layout, q), doctest::Contains("(unclosed"), LogQueryError);
  q = {};
  q.level = "loud";
  CHECK_THROWS_WITH_AS(agentlog::search_logs(layout, q), doctest::Contains("trace, debug, info"),
                       LogQueryError);
  q = {};
  q.cursor = "page-2";
  CHECK_THROWS_AS(agentlog::search_logs(layout, q), LogQueryError);
  CHECK_THROWS_WITH_AS(agentlog::apply_saved_filter(layout, "nope", q), doctest::Contains("nope"),
                       LogQueryError);
}

TEST_CASE("search_logs through the binary") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  for (int i = 0; i < 3; ++i)
    mcp.call_tool("log_event", {{"level", i == 1 ? "error" : "info"},
                                {"category", "api"},
                                {"message", "request " + std::to_string(i)},
                                {"fields", {{"reqId", "req-" + std::to_string(i)}}}});
  json r = mcp.call_tool("search_logs", {{"level", "error"}});
  REQUIRE(r["isError"] == false);
  REQUIRE(r["structuredContent"]["matches"].size() == 1);
  CHECK(r["structuredContent"]["matches"][0]["msg"] == "request 1");
  json f = mcp.call_tool("search_logs", {{"fields", {{"reqId", "req-2"}}}, {"since", "1h"}});
  CHECK(f["structuredContent"]["matches"].size() == 1);
  json bad = mcp.call_tool("search_logs", {{"regex", "a{1,99999}"}});
  CHECK(bad["isError"] == true);
  CHECK(bad["content"][0]["text"].get<std::string>().rfind("[logs.bad_regex]", 0) == 0);
  CHECK(mcp.call_tool("search_logs", {{"since", "yesterday"}})["content"][0]["text"].get<std::string>().rfind(
            "[logs.bad_time]", 0) == 0);
  CHECK(mcp.call_tool("search_logs", {{"filter", "nope"}})["content"][0]["text"].get<std::string>().rfind(
            "[logs.unknown_filter]", 0) == 0);
  CHECK(mcp.call_tool("search_logs", {{"level", "loud"}})["isError"] == true);  // the schema's enum

  // A message with a quote, a backslash and a tab is found by its own text, as a regex finds it (the text
  // was matched against the escaped line: only `say \"hi\"` found it).
  mcp.call_tool("log_event", {{"message", "say \"hi\" to C:\\tmp\tnow"}});
  for (const char* text : {"say \"hi\"", "C:\\tmp\tnow", "request 2"}) {
    CAPTURE(text);
    json found = mcp.call_tool("search_logs", {{"query", text}});
    REQUIRE(found["structuredContent"]["matches"].size() == 1);
    auto cli =
        agentlog::test::run_agentlog({"logs", "search", text, "--json", "--root", root.path().string()});
    CHECK(cli.exit_code == 0);
    CHECK(json::parse(cli.out)["matches"].size() == 1);
  }
  CHECK(mcp.call_tool("search_logs", {{"query", "say \\\"hi"}})["structuredContent"]["matches"].size() == 1);
  auto none =
      agentlog::test::run_agentlog({"logs", "search", "no such words", "--root", root.path().string()});
  CHECK(none.exit_code == 0);
  CHECK(none.out == "No log line matches. Loosen the filters (agentlog logs search --help lists them).\n");
}

TEST_CASE("the text form (LOG_FORMAT=text) is searched with its fields, source and a date") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  agentlog::test::write_text(
      layout.latest_log(),
      "[00:00:01.000] WARN [api] GET /a - 500\\tx\t{\"source\":\"src/a.cpp\",\"fields\":{\"reqId\":\"r1\"}}\n"
      "[00:00:02.000] INFO [db] plain\n");
  LogQuery q;
  q.fields = {{"reqId", "r1"}};
  json r = agentlog::search_logs(layout, q);
  REQUIRE(r["matches"].size() == 1);
  CHECK(r["matches"][0]["msg"] == "GET /a - 500\tx");
  CHECK(r["matches"][0]["source"] == "src/a.cpp");
  CHECK(r["matches"][0]["level"] == "warn");
  CHECK(r["matches"][0]["ts"].get<std::string>().size() == 24);  // a full ISO date
  q = {};
  q.source = "src/*.cpp";
  CHECK(agentlog::search_logs(layout, q)["matches"].size() == 1);
}

TEST_CASE("archives: a finished .gz wins over its plain file, temporaries are skipped, -2 is newer than -1") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  auto put = [&](const std::string& dir, const std::string& file, const std::string& msg, bool gz) {
    fs::create_directories(layout.archive_dir() / dir);
    std::string text = line("2026-11-25T08:00:00.000Z", "info", "c", "s", msg);
    if (gz) {
      gzFile f = gzopen((layout.archive_dir() / dir / file).c_str(), "wb");
      gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
      gzclose(f);
    } else {
      agentlog::test::write_text(layout.archive_dir() / dir / file, text);
    }
  };
  put("2026-11-25-080000", "latest.log", "first", false);
  put("2026-11-25-080000", "latest.log.gz", "first", true);  // compression finished, plain not yet removed
  put("2026-11-25-080000-2", "latest.log", "second", false);
  put("2026-11-25-080000-2", "latest.log.gz.tmp", "partial", false);
  put("2026-11-25-080000-10", "latest.log", "tenth", false);
  CHECK(msgs(agentlog::search_logs(layout, LogQuery{})) ==
        std::vector<std::string>{"tenth", "second", "first"});
}

TEST_CASE(
    "large files: line numbers across blocks, every path (fixed string, regex, filters), corrupt lines "
    "counted") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::string text;
  const int n = 40000;  // ~6 MB: several read blocks
  for (int i = 1; i <= n; ++i) {
    if (i == 20000) {
      text += "{\"ts\":\"2026-11-25T09:00:00.000Z\",\"lev\n";  // corrupt (a torn line in the middle)
      continue;
    }
    text += line("2026-11-25T09:00:00.000Z", i % 1000 == 0 ? "error" : "info", "c", "s",
                 "event " + std::to_string(i) + (i % 997 == 0 ? " needle" : ""));
  }
  agentlog::test::write_text(layout.latest_log(), text);
  auto check = [&](LogQuery q, int first_line, std::size_t count) {
    q.limit = 1000;
    json r = agentlog::search_logs(layout, q);
    REQUIRE(r["matches"].size() == std::min<std::size_t>(count, static_cast<std::size_t>(q.limit)));
    CHECK(r["matches"][0]["line"] == first_line);  // newest first
    CHECK(r["matches"][0]["msg"].get<std::string>().find(std::to_string(first_line)) != std::string::npos);
    CHECK(r["scannedLines"] == n);
    return r;
  };
  LogQuery q;
  q.query = "needle";
  check(q, 39880, 40);
  q = {};
  q.regex = R"(event \d+7 needle)";
  check(q, 30907, 4);  // 997, 10967, 20937, 30907
  q = {};
  q.level = "error";
  json r = check(q, 40000, 39);  // line 20000 is the corrupt one
  {  // a regex whose literal is stored escaped ("quoted" -> \"quoted\") still finds its line
    TempDir other;
    auto l2 = agentlog::ProjectLayout::at(other.path());
    agentlog::test::write_text(l2.latest_log(),
                               line("2026-11-25T09:00:00.000Z", "info", "c", "s", "say \"hello\" twice"));
    LogQuery rq;
    rq.regex = R"(say "hello" tw)";  // a required literal with a quote
    CHECK(agentlog::search_logs(l2, rq)["matches"].size() == 1);
    rq.regex = R"(y..h)";  // no literal: the regex runs over blocks, lines with escapes are looked at too
    CHECK(agentlog::search_logs(l2, rq)["matches"].size() == 1);
  }
  q = {};
  q.source = "s";  // every line is looked at
  q.limit = 5;
  CHECK(agentlog::search_logs(layout, q)["corruptLines"] == 1);
  CHECK(r["matches"][19]["line"] == 21000);
  CHECK(r["matches"][20]["line"] == 19000);
}

TEST_CASE(
    "text scans: find_literal at every alignment and at the ends; newline counts; a regex's required "
    "literal") {
  std::string hay(300, 'a');
  for (std::size_t at : {0ul, 1ul, 15ul, 16ul, 31ul, 32ul, 33ul, 100ul, 290ul, 293ul}) {
    std::string h = hay;
    h.replace(at, 7, "needle!");
    CAPTURE(at);
    CHECK(agentlog::find_literal(h.data(), h.size(), "needle!") == at);
    CHECK(agentlog::find_literal(h.data(), h.size(), "ne") == at);
    CHECK(agentlog::find_literal(h.data(), at + 6, "needle!") == agentlog::kNotFound);  // cut short
  }
  CHECK(agentlog::find_literal(hay.data(), hay.size(), "ab") == agentlog::kNotFound);
  CHECK(agentlog::find_literal(hay.data(), 3, "aaaa") == agentlog::kNotFound);
  std::string lines;
  for (int i = 0; i < 1000; ++i) lines += std::string(static_cast<std::size_t>(i % 37), 'x') + "\n";
  CHECK(agentlog::count_newlines(lines.data(), lines.size()) == 1000);
  CHECK(agentlog::count_newlines(lines.data() + 1, lines.size() - 1) == 999);  // the first line is empty

  CHECK(agentlog::required_literal(R"(timed out after \d{4}ms)") == "timed out after ");
  CHECK(agentlog::required_literal(R"(user \d+ logged (in|out) at 10\.0\.0\.1)") == " at 10.0.0.1");
  CHECK(agentlog::required_literal("colou?r of the sky") == "r of the sky");
  CHECK(agentlog::required_literal("abc|def") == "");
  CHECK(agentlog::required_literal("(?i)error") == "");
  CHECK(agentlog::required_literal("[a-z]+x{2}") == "");
  CHECK(agentlog::required_literal("a+bc") == "abc");
}

TEST_CASE(
    "log_event through the binary: levels and LOGGING_ENABLED from .env, rotation, traceId, search finds "
    "every line") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path env = root / ".ai-agents/logging/config/.env.logging";
  agentlog::test::write_text(
      env, "LOG_LEVEL=info\nLOG_MAX_SIZE_MB=0.002\nLOG_COMPRESS_ARCHIVES=true\nLOG_MAX_ARCHIVES=0\n");
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json below = mcp.call_tool("log_event", {{"level", "debug"}, {"message", "too low"}});
  CHECK(below["structuredContent"]["written"] == false);
  CHECK(below["structuredContent"]["reason"].get<std::string>().find("LOG_LEVEL") != std::string::npos);
  for (int i = 0; i < 60; ++i) {
    json r = mcp.call_tool("log_event", {{"message", "event " + std::to_string(i)},
                                         {"category", "api"},
                                         {"traceId", "4bf92f3577b34da6a3ce929d0e0e4736"},
                                         {"spanId", "00f067aa0ba902b7"}});
    REQUIRE(r["structuredContent"]["written"] == true);
  }
  int archives = 0;
  for (const auto& d : fs::directory_iterator(root / ".ai-agents/logging/logs/archive"))
    archives += d.is_directory();
  CHECK(archives >= 3);  // 60 lines of ~300 bytes in files of 2 KB
  LogQuery q;
  q.category = "api";
  q.limit = 100;
  json all = agentlog::search_logs(agentlog::ProjectLayout::at(root.path()), q);
  REQUIRE(all["matches"].size() == 60);
  CHECK(all["matches"][0]["msg"] == "event 59");
  CHECK(all["matches"][59]["msg"] == "event 0");
  CHECK(all["matches"][0]["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  // A full disk: a clear error, nothing written before is lost.
  const fs::path latest = root / ".ai-agents/logging/logs/latest.log";
  const std::string before = agentlog::test::read_text(latest);
  fs::rename(latest, root / "kept.log");
  fs::create_symlink("/dev/full", latest);
  json full = mcp.call_tool("log_event", {{"message", "no room"}});
  CHECK(full["isError"] == true);
  CHECK(full["content"][0]["text"].get<std::string>().find("disk is full") != std::string::npos);
  fs::remove(latest);
  fs::rename(root / "kept.log", latest);
  CHECK(agentlog::test::read_text(latest) == before);
  agentlog::test::write_text(env, "LOGGING_ENABLED=false\n");  // the human switches it off: no restart
  json off = mcp.call_tool("log_event", {{"message", "after"}});
  CHECK(off["isError"] == true);
  CHECK(off["content"][0]["text"].get<std::string>().find("LOGGING_ENABLED") != std::string::npos);
}

TEST_CASE(
    "foreign lines (numeric msg or level, null or numeric ids, pino's time) are read leniently: search never "
    "fails") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  mcp.call_tool("log_event", {{"level", "error"}, {"message", "own line"}});
  const fs::path latest = root / ".ai-agents/logging/logs/latest.log";
  agentlog::test::write_text(
      latest,
      agentlog::test::read_text(latest) +
          R"({"level":50,"time":1764770000000,"pid":1,"hostname":"h","msg":"pino line"})"
          "\n"
          R"({"ts":"2026-12-03T13:50:00.000Z","level":"info","category":"x","source":"s","msg":42,"fields":{}})"
          "\n"
          R"({"ts":"2026-12-03T13:50:01.000Z","level":"info","category":7,"source":null,"msg":"odd ids","fields":[1],"traceId":12345,"spanId":null})"
          "\n");
  for (const json& args :
       {json::object(), json{{"level", "error"}}, json{{"query", "pino"}}, json{{"regex", "^42$"}},
        json{{"source", "s*"}}, json{{"since", "2020-01-01T00:00:00Z"}}}) {
    CAPTURE(args.dump());
    json r = mcp.call_tool("search_logs", args);  // (outputs are checked against the schema in tests)
    REQUIRE(r["isError"] == false);
    CHECK(!r["structuredContent"]["matches"].empty());
  }
  json all = mcp.call_tool("search_logs", json::object())["structuredContent"]["matches"];
  REQUIRE(all.size() == 4);
  CHECK(all[0]["msg"] == "odd ids");
  CHECK(all[0]["category"] == "7");
  CHECK(all[0]["traceId"] == "12345");
  CHECK(!all[0].contains("spanId"));
  CHECK(all[1]["msg"] == "42");
  CHECK(all[2]["level"] == "error");  // pino's 50
  CHECK(all[2]["ts"] == "2025-12-03T13:53:20.000Z");
  json errors = mcp.call_tool("search_logs", {{"level", "error"}})["structuredContent"]["matches"];
  CHECK(errors.size() == 2);
  auto cli = agentlog::test::run_agentlog({"logs", "search", "--root", root.path().string(), "pino"});
  CHECK(cli.exit_code == 0);
  CHECK(cli.out.find("pino line") != std::string::npos);
}

TEST_CASE(
    "secrets in log_event and Logger lines are written redacted, as the audit log has them (LOG_REDACT)") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path env = root / ".ai-agents/logging/config/.env.logging";
  CHECK(agentlog::test::read_text(env).find("LOG_REDACT=true") != std::string::npos);
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
  {
    agentlog::test::McpSession mcp(root.path());
    mcp.initialize();
    json r = mcp.call_tool(
        "log_event", {{"message", "login with password=hunter2 and Authorization: Bearer " + jwt + " done"},
                      {"fields",
                       {{"password", "hunter2"},
                        {"api_key", "sk-live-ABCDEF1234567890"},
                        {"Authorization", "Bearer " + jwt},
                        {"nested", {{"token", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}, {"user", "ann"}}},
                        {"session", jwt}}}});
    REQUIRE(r["isError"] == false);
    const json& rec = r["structuredContent"]["record"];
    CHECK(rec["msg"] == "login with password=[REDACTED] and Authorization: Bearer [REDACTED] done");
    CHECK(rec["fields"]["password"] == "[REDACTED]");
    CHECK(rec["fields"]["nested"]["token"] == "[REDACTED]");
    CHECK(rec["fields"]["nested"]["user"] == "ann");
    CHECK(rec["fields"]["session"] == "[REDACTED]");
    CHECK(mcp.call_tool("search_logs", {{"query", "hunter2"}})["structuredContent"]["matches"].empty());
    json found = mcp.call_tool("search_logs", {{"query", "login with"}})["structuredContent"]["matches"];
    REQUIRE(found.size() == 1);
    CHECK(found[0]["fields"]["api_key"] == "[REDACTED]");
  }
  const std::string text = agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log");
  for (const std::string& secret :
       {std::string("hunter2"), std::string("sk-live"), std::string("ghp_"), jwt}) {
    CAPTURE(secret);
    CHECK(text.find(secret) == std::string::npos);
  }
  // A human who wants them in clear says so.
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nLOG_REDACT=false\n");
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json clear = mcp.call_tool("log_event", {{"message", "password=hunter3"}, {"fields", {{"token", "t0k"}}}});
  CHECK(clear["structuredContent"]["record"]["msg"] == "password=hunter3");
  CHECK(clear["structuredContent"]["record"]["fields"]["token"] == "t0k");
}

TEST_CASE(
    "saved filters: since/until ages and ISO times resolve as the arguments do; a bad value names "
    "filters.json") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  mcp.call_tool("log_event", {{"message", "just now"}});
  const fs::path latest = root / ".ai-agents/logging/logs/latest.log";
  agentlog::test::write_text(latest, line("2020-01-01T09:00:00.000Z", "info", "x", "", "long ago") +
                                         agentlog::test::read_text(latest));
  agentlog::test::write_text(
      root / ".ai-agents/logging/config/filters.json",
      R"({"recent": {"since": "1h"}, "old": {"until": "1h"}, "iso": {"since": "2020-01-01T09:00:00Z"},
                                 "badtime": {"since": "soon"}, "badlevel": {"level": "critical"}})");
  auto found = [&](const json& args) {
    json r = mcp.call_tool("search_logs", args);
    REQUIRE(r["isError"] == false);
    return msgs(r["structuredContent"]);
  };
  CHECK(found({{"filter", "recent"}}) == std::vector<std::string>{"just now"});
  CHECK(found({{"filter", "recent"}}) == found({{"since", "1h"}}));
  CHECK(found({{"filter", "old"}}) == std::vector<std::string>{"long ago"});
  CHECK(found({{"filter", "iso"}}).size() == 2);  // ...09:00:00Z is not after ...09:00:00.000Z
  for (const char* bad : {"badtime", "badlevel"}) {
    json r = mcp.call_tool("search_logs", {{"filter", bad}});
    CHECK(r["isError"] == true);
    CHECK(r["content"][0]["text"].get<std::string>().find("filters.json") != std::string::npos);
  }
}

TEST_CASE("regex matches the message only, as documented: not keys, level, time, pid or fields") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  agentlog::test::write_text(
      layout.latest_log(),
      line("2026-11-25T10:00:00.000Z", "warn", "api", "src/a.cpp", "hello world", {{"user", "bob"}}) +
          line("2026-11-25T10:00:01.000Z", "info", "api", "src/a.cpp", "say \"warn\" now") +
          "[10:00:02.000] ERROR [db] pid table full\n");
  auto cli = [&](const std::string& re) {
    auto r = agentlog::test::run_agentlog(
        {"logs", "search", "--json", "--root", root.path().string(), "--regex", re});
    REQUIRE(r.exit_code == 0);
    return msgs(json::parse(r.out));
  };
  CHECK(cli("warn") == std::vector<std::string>{"say \"warn\" now"});
  CHECK(cli("pid") == std::vector<std::string>{"pid table full"});
  CHECK(cli("T10:|bob|src/a|level|api").empty());
  CHECK(cli("^hello").size() == 1);
  CHECK(cli("^(pid|say)").size() == 2);
}

TEST_CASE(
    "search_logs pages are bounded: long messages and fields are cut (flagged), a full page gives a cursor") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::string text;
  json fields = json::object();
  for (int k = 0; k < 20; ++k) fields["k" + std::to_string(k)] = std::string(1500, 'f');
  for (int i = 0; i < 60; ++i)
    text += line("2026-11-25T10:00:00.000Z", "info", "x", "",
                 "huge " + std::to_string(i) + " " + std::string(65'000, 'm'), fields);
  agentlog::test::write_text(layout.latest_log(), text);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  std::set<std::string> seen;
  json cursor = nullptr;
  int pages = 0;
  do {
    json args = {{"query", "huge"}, {"limit", 1000}};
    if (cursor.is_string()) args["cursor"] = cursor;
    json r = mcp.call_tool("search_logs", args);
    REQUIRE(r["isError"] == false);
    const json& page = r["structuredContent"];
    CHECK(page.dump().size() < (600 << 10));
    for (const auto& m : page["matches"]) {
      CHECK(m["truncated"] == true);
      CHECK(m["msg"].get<std::string>().size() < (9 << 10));
      CHECK(m["msg"].get<std::string>().find("bytes cut") != std::string::npos);
      // The place is named (it said "the whole line is at file:line", literally).
      const std::string at = m["file"].get<std::string>() + ":" + std::to_string(m["line"].get<long long>());
      CHECK(m["msg"].get<std::string>().ends_with("bytes cut: the whole line is at " + at + "]"));
      CHECK(m["fields"]["truncatedFields"].get<std::string>().ends_with("the whole line is at " + at + "]"));
      CHECK(seen.insert(m["msg"].get<std::string>().substr(0, 8)).second);
    }
    cursor = page["nextCursor"];
    if (cursor.is_string()) CHECK(page["pageFull"] == true);
    ++pages;
  } while (cursor.is_string() && pages < 20);
  CHECK(pages > 1);
  CHECK(seen.size() == 60);
}

TEST_CASE("a search while an archive is compressed under it still reads that archive (its .gz)") {
  // The race is widened with strace's syscall delay (the Makefile installs strace).
  REQUIRE_MESSAGE(::access("/usr/bin/strace", X_OK) == 0, "install strace (make deps)");
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  const fs::path archive = layout.archive_dir() / "2026-12-03-120000";
  fs::create_directories(archive);
  agentlog::test::write_text(archive / "latest.log",
                             line("2026-12-03T11:59:00.000Z", "error", "x", "", "archived NEEDLE-RACE"));
  std::thread search_thread;
  agentlog::test::ProcessResult result;
  search_thread = std::thread([&] {
    // Listing sees the plain file; opening it waits 1.5 s, while the writer below compresses it.
    result = agentlog::test::run_process({"/usr/bin/strace", "-f", "-o", "/dev/null", "-P",
                                          (archive / "latest.log").string(), "-e", "trace=openat", "-e",
                                          "inject=openat:delay_enter=1500000", AGENTLOG_BINARY, "logs",
                                          "search", "--json", "--root", root.path().string(), "NEEDLE-RACE"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  agentlog::RotationPolicy p;
  p.max_bytes = 100;
  p.compress = true;
  p.max_archives = 0;
  agentlog::LogWriter w(layout.logs_dir(), p);
  w.append(std::string(150, 'a') + "\n");
  w.append("b\n");  // a rotation: maintenance compresses every plain archive
  w.wait_idle();
  search_thread.join();
  REQUIRE(fs::exists(archive / "latest.log.gz"));
  REQUIRE_MESSAGE(result.exit_code == 0, result.err);
  json r = json::parse(result.out);
  REQUIRE(r["matches"].size() == 1);
  CHECK(r["matches"][0]["file"] == ".ai-agents/logging/logs/archive/2026-12-03-120000/latest.log.gz");
}

TEST_CASE("field and source filters are looked for as literals first and still find every equal value") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  agentlog::test::write_text(
      layout.latest_log(),
      line("2026-11-25T10:00:00.000Z", "info", "api", "src/api/a.cpp", "n3",
           {{"n", 3}, {"ok", true}, {"q", "say \"hi\""}}) +
          line("2026-11-25T10:00:01.000Z", "info", "api", "lib\\win.cpp", "str3",
               {{"n", "3"}, {"ok", "true"}, {"none", nullptr}}) +
          "[10:00:02.000] INFO [db] text form\t{\"source\":\"src/db.cpp\",\"fields\":{\"n\":3}}\n" +
          R"({"ts": "2026-11-25T10:00:03.000Z", "level": "info", "source": "src/api/spaced.cpp", "msg": "spaced", "fields": {"n": 4}})"
          "\n");
  auto found = [&](json fields, std::string source = "") {
    LogQuery q;
    q.fields = std::move(fields);
    q.source = std::move(source);
    return msgs(agentlog::search_logs(layout, q));
  };
  // A string spelling a number or boolean and that number or boolean are equal either way (3 missed "3").
  CHECK(found({{"n", 3}}) == std::vector<std::string>{"text form", "str3", "n3"});
  CHECK(found({{"n", "3"}}) == std::vector<std::string>{"text form", "str3", "n3"});
  CHECK(found({{"ok", true}}) == std::vector<std::string>{"str3", "n3"});
  CHECK(found({{"ok", "true"}}) == std::vector<std::string>{"str3", "n3"});
  CHECK(found({{"q", "say \"hi\""}}) == std::vector<std::string>{"n3"});
  CHECK(found({{"none", nullptr}}) == std::vector<std::string>{"str3"});
  CHECK(found({{"n", 3.0}}) == std::vector<std::string>{"text form", "str3", "n3"});
  CHECK(found(json::object(), "src/api/*") == std::vector<std::string>{"spaced", "n3"});
  CHECK(found(json::object(), "src/db*") == std::vector<std::string>{"text form"});
  CHECK(found(json::object(), "lib\\\\win.cpp") == std::vector<std::string>{"str3"});
}

// ------------------------------------------------------------------ review findings on search (L1-L14)

TEST_CASE(
    "text form: a category holding ']' is written escaped and read back whole; older lines still read") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  const fs::path env = root.path() / ".ai-agents/logging/config/.env.logging";
  std::string settings = agentlog::test::read_text(env);
  REQUIRE(settings.find("LOG_FORMAT=json") != std::string::npos);
  settings.replace(settings.find("LOG_FORMAT=json"), 15, "LOG_FORMAT=text");
  agentlog::test::write_text(env, settings);
  // A line written before ']' was escaped, with escapes in its category and message.
  agentlog::test::write_text(layout.latest_log(), "[00:00:01.000] INFO [old \\\"q\\\"] older line\n");
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  REQUIRE(mcp.call_tool("log_event", {{"category", "we[ir]d"}, {"message", "has ] bracket"}})["isError"] ==
          false);
  CHECK(agentlog::test::read_text(layout.latest_log()).find("[we[ir\\u005dd] has ] bracket") !=
        std::string::npos);
  json r = mcp.call_tool("search_logs", {{"category", "we[ir]d"}});
  REQUIRE(r["structuredContent"]["matches"].size() == 1);
  CHECK(r["structuredContent"]["matches"][0]["category"] == "we[ir]d");
  CHECK(r["structuredContent"]["matches"][0]["msg"] == "has ] bracket");
  json old = mcp.call_tool("search_logs", {{"query", "older line"}});
  REQUIRE(old["structuredContent"]["matches"].size() == 1);
  CHECK(old["structuredContent"]["matches"][0]["category"] == "old \"q\"");
  CHECK(old["structuredContent"]["matches"][0]["msg"] == "older line");
  CHECK(mcp.call_tool("search_logs", {{"category", "old \"q\""}})["structuredContent"]["matches"].size() ==
        1);
}

TEST_CASE("text form: a line's date comes from latest.log's last change and from an archive's rotation") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  // A line written three days ago, latest.log not rotated since (no write in between).
  const auto written = std::chrono::system_clock::now() - std::chrono::hours(72);
  const std::int64_t written_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(written.time_since_epoch()).count() / 1000 * 1000;
  const std::string iso = agentlog::iso8601_ms(written_ms);  // 2026-11-30T13:47:26.000Z
  agentlog::test::write_text(layout.latest_log(), "[" + iso.substr(11, 12) + "] WARN [api] three days old\n");
  const timespec mtime[2] = {{static_cast<time_t>(written_ms / 1000 + 5), 0},
                             {static_cast<time_t>(written_ms / 1000 + 5), 0}};
  REQUIRE(::utimensat(AT_FDCWD, layout.latest_log().c_str(), mtime, 0) == 0);
  fs::create_directories(layout.archive_dir() / "2026-11-20-120000");
  agentlog::test::write_text(layout.archive_dir() / "2026-11-20-120000/latest.log",
                             "[13:00:00.000] INFO [api] the day before its rotation\n"
                             "[11:00:00.000] INFO [api] the day of its rotation\n");
  json all = agentlog::search_logs(layout, LogQuery{});
  REQUIRE(all["matches"].size() == 3);
  CHECK(all["matches"][0]["ts"] == iso);  // (it was dated today: "now" stood for the file's end)
  CHECK(all["matches"][1]["ts"] == "2026-11-20T11:00:00.000Z");
  CHECK(all["matches"][2]["ts"] == "2026-11-19T13:00:00.000Z");
  auto recent = agentlog::test::run_agentlog(
      {"logs", "search", "--since", "1h", "--json", "--root", root.path().string()});
  CHECK(recent.exit_code == 0);
  CHECK(json::parse(recent.out)["matches"].empty());
}

TEST_CASE("cursors: lines appended and rotations between pages neither repeat nor skip a line") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  auto ts = [](int i) {
    return "2026-11-25T10:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".000Z";
  };
  fs::create_directories(layout.archive_dir() / "2026-11-25-000000");
  std::string archived, latest;
  for (int i = 0; i < 4; ++i) archived += line(ts(i), "info", "x", "", "first " + std::to_string(i));
  for (int i = 4; i < 9; ++i) latest += line(ts(i), "info", "x", "", "first " + std::to_string(i));
  agentlog::test::write_text(layout.archive_dir() / "2026-11-25-000000/latest.log", archived);
  agentlog::test::write_text(layout.latest_log(), latest);
  const std::vector<std::string> expected = msgs(agentlog::search_logs(layout, LogQuery{}));
  REQUIRE(expected.size() == 9);

  LogQuery q;
  q.limit = 2;
  std::vector<std::string> seen;
  for (int page = 0; page < 20; ++page) {
    json r = agentlog::search_logs(layout, q);
    for (const auto& m : msgs(r)) seen.push_back(m);
    if (r["nextCursor"].is_null()) break;
    q.cursor = r["nextCursor"];
    if (page == 0) {  // one new line (it repeated the last line of page 1)
      std::ofstream(layout.latest_log(), std::ios::app) << line(ts(20), "info", "x", "", "later 1");
    } else if (page == 1) {  // latest.log rotates, is compressed, and a new one gets lines
      const fs::path dir = layout.archive_dir() / "2026-11-25-100100";
      fs::create_directories(dir);
      fs::rename(layout.latest_log(), dir / "latest.log");
      const std::string text = agentlog::test::read_text(dir / "latest.log");
      gzFile gz = gzopen((dir / "latest.log.gz").c_str(), "wb");
      gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
      gzclose(gz);
      fs::remove(dir / "latest.log");
      agentlog::test::write_text(layout.latest_log(), line(ts(30), "info", "x", "", "later 2"));
    }
  }
  CHECK(seen == expected);
  // A cursor in an archive stays there when newer files come.
  q = {};
  q.limit = 7;
  json first = agentlog::search_logs(layout, q);
  REQUIRE(first["nextCursor"].is_string());
  CHECK(first["nextCursor"].get<std::string>().rfind("A:", 0) == 0);
  std::ofstream(layout.latest_log(), std::ios::app) << line(ts(31), "info", "x", "", "later 3");
  q.cursor = first["nextCursor"];
  CHECK(msgs(agentlog::search_logs(layout, q)) ==
        std::vector<std::string>{"first 3", "first 2", "first 1", "first 0"});
}

TEST_CASE("cursors that search_logs did not return are logs.bad_cursor, never an overflow or a crash") {
  TempDir root;
  auto layout = make_logs(root);
  for (const char* text : {"m:2", "m:18446744073709551615", "L:99999999999999999999999:", "L:abc:", "L:0:",
                           "L:-1:", "A:1:", "A:1:../../etc", "X:1:a", "L:5"}) {
    CAPTURE(text);
    LogQuery q;
    q.cursor = text;
    try {
      agentlog::search_logs(layout, q);
      FAIL("accepted");
    } catch (const LogQueryError& e) {
      CHECK(e.id() == "logs.bad_cursor");
      CHECK(std::string(e.what()).find("omit cursor") != std::string::npos);
    }
  }
  LogQuery huge;  // a line number past any file: the whole file
  huge.cursor = "L:9223372036854775807:2026-11-25-080000";
  CHECK(agentlog::search_logs(layout, huge)["matches"].size() ==
        agentlog::search_logs(layout, {})["matches"].size());
  auto cli = agentlog::test::run_agentlog(
      {"logs", "search", "--cursor", "m:99999999999999999999999", "--root", root.path().string()});
  CHECK(cli.exit_code != 0);
  CHECK(cli.err.find("[logs.bad_cursor]") != std::string::npos);
  CHECK(cli.err.find("stoull") == std::string::npos);
}

TEST_CASE("field filters: a dotted name walks nested objects, and the flat key of that name still matches") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  agentlog::test::write_text(
      layout.latest_log(),
      line("2026-11-25T10:00:00.000Z", "info", "x", "", "nested 7", {{"user", {{"id", 7}}}}) +
          line("2026-11-25T10:00:01.000Z", "info", "x", "", "flat 7", {{"user.id", 7}}) +
          line("2026-11-25T10:00:02.000Z", "info", "x", "", "nested 8", {{"user", {{"id", 8}}}}) +
          line("2026-11-25T10:00:03.000Z", "info", "x", "", "deep",
               {{"a", {{"b", {{"c.d", "req-abc-123"}}}}}}) +
          line("2026-11-25T10:00:04.000Z", "info", "x", "", "no user", {{"id", 7}}) +
          "[10:00:05.000] INFO [x] text nested\t{\"source\":\"\",\"fields\":{\"user\":{\"id\":7}}}\n");
  LogQuery q;
  q.fields = {{"user.id", 7}};
  CHECK(msgs(agentlog::search_logs(layout, q)) ==
        std::vector<std::string>{"text nested", "flat 7", "nested 7"});
  q.fields = {{"user.id", "7"}};  // (the CLI's --field gives strings)
  CHECK(msgs(agentlog::search_logs(layout, q)).size() == 3);
  q.fields = {{"a.b.c.d", "req-abc-123"}};
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"deep"});
  q.fields = {{"user", {{"id", 8}}}};  // an object value still compares whole
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"nested 8"});
  auto cli = agentlog::test::run_agentlog(
      {"logs", "search", "--field", "user.id=7", "--json", "--root", root.path().string()});
  CHECK(json::parse(cli.out)["matches"].size() == 3);
}

TEST_CASE("source globs: * matches '/' too (documented in the tool, its schema and README)") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = make_logs(root);
  LogQuery q;
  q.source = "src/*s.cpp";  // src/api/users.cpp (2 lines), src/api/orders.cpp; not src/db.cpp
  CHECK(msgs(agentlog::search_logs(layout, q)).size() == 3);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json tools = mcp.request("tools/list")["result"]["tools"];
  for (const auto& tool : tools)
    if (tool["name"] == "search_logs") {
      CHECK(tool["description"].get<std::string>().find("match '/' too") != std::string::npos);
      CHECK(tool["inputSchema"]["properties"]["source"]["description"].get<std::string>().find(
                "match / too") != std::string::npos);
    }
}

TEST_CASE(
    "a damaged .gz archive is named as damaged (not a killed writer), and the lines before it are searched") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += line("2026-11-24T10:00:00.000Z", "info", "x", "", "archived line " + std::to_string(i));
  const fs::path cut_dir = layout.archive_dir() / "2026-11-24-000000",
                 plain_dir = layout.archive_dir() / "2026-11-25-000000";
  fs::create_directories(cut_dir);
  fs::create_directories(plain_dir);
  gzFile gz = gzopen((cut_dir / "latest.log.gz").c_str(), "wb");
  gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
  gzclose(gz);
  const std::string whole = agentlog::test::read_text(cut_dir / "latest.log.gz");
  agentlog::test::write_text(cut_dir / "latest.log.gz", whole.substr(0, whole.size() / 2));  // cut short
  agentlog::test::write_text(plain_dir / "latest.log.gz",
                             line("2026-11-25T10:00:00.000Z", "info", "x", "", "archived plain text"));
  json r = agentlog::search_logs(layout, LogQuery{.query = "archived", .limit = 1000});
  CHECK(r["tornLines"] == 0);
  REQUIRE(r["damagedFiles"].size() == 2);
  CHECK(r["damagedFiles"][0]["file"] == ".ai-agents/logging/logs/archive/2026-11-25-000000/latest.log.gz");
  CHECK(r["damagedFiles"][0]["problem"].get<std::string>().find("not gzip") != std::string::npos);
  CHECK(r["damagedFiles"][1]["file"] == ".ai-agents/logging/logs/archive/2026-11-24-000000/latest.log.gz");
  CHECK(r["damagedFiles"][1]["problem"].get<std::string>().find("cut short") != std::string::npos);
  const long long read = r["damagedFiles"][1]["linesRead"];
  CHECK(read > 1000);
  CHECK(read < 20000);
  CHECK(r["matches"][0]["msg"] == "archived plain text");  // read as it is
  CHECK(r["matches"].size() == 1000);
  auto cli = agentlog::test::run_agentlog({"logs", "search", "archived", "--root", root.path().string()});
  CHECK(cli.exit_code == 0);
  CHECK(cli.err.find("2026-11-24-000000/latest.log.gz is damaged: it is cut short") != std::string::npos);
  CHECK(cli.err.find("writer killed") == std::string::npos);
}

TEST_CASE("times with an offset or a space for the T are read as UTC; a bad one names the accepted forms") {
  TempDir root;
  auto layout = make_logs(root);
  auto count = [&](const std::string& since) {
    auto r = agentlog::test::run_agentlog(
        {"logs", "search", "--since", since, "--json", "--root", root.path().string()});
    INFO(since << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out)["matches"].size();
  };
  CHECK(count("2026-11-25T09:00:01Z") == 2);
  CHECK(count("2026-11-25T10:00:01+01:00") == 2);
  CHECK(count("2026-11-25T04:00:01.000-05:00") == 2);
  CHECK(count("2026-11-25T10:00:01+0100") == 2);
  CHECK(count("2026-11-25 09:00:01") == 2);
  CHECK(count("2026-11-25 09:00") == 3);
  for (const char* bad : {"yesterday", "2026-11-25T10:00:01+25:00", "2026-02-30 10:00:00"}) {
    auto r = agentlog::test::run_agentlog({"logs", "search", "--since", bad, "--root", root.path().string()});
    CAPTURE(bad);
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("[logs.bad_time]") != std::string::npos);
    CHECK(r.err.find("2026-11-25T15:30:00+01:00") != std::string::npos);
    CHECK(r.err.find("2026-11-25 14:30:00") != std::string::npos);
  }
}

TEST_CASE("a filters.json that is not valid JSON is reported as such, with where the parser stopped") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = make_logs(root);
  agentlog::test::write_text(layout.filters(), "{\"errors\": {\"level\": \"error\"},}\n");
  LogQuery q;
  try {
    agentlog::apply_saved_filter(layout, "errors", q);
    FAIL("accepted");
  } catch (const LogQueryError& e) {
    CHECK(e.id() == "logs.bad_filters_file");
    CHECK(std::string(e.what()).find("config/filters.json is not valid JSON") != std::string::npos);
    CHECK(std::string(e.what()).find("line 1, column 31") != std::string::npos);
    CHECK(std::string(e.what()).find("No saved filter") == std::string::npos);
  }
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json r = mcp.call_tool("search_logs", {{"filter", "errors"}});
  CHECK(r["isError"] == true);
  CHECK(r["content"][0]["text"].get<std::string>().rfind(
            "[logs.bad_filters_file] config/filters.json is not valid", 0) == 0);
  agentlog::test::write_text(layout.filters(), "[1, 2]");
  CHECK_THROWS_WITH_AS(agentlog::apply_saved_filter(layout, "errors", q), doctest::Contains("not an object"),
                       LogQueryError);
}

// ------------------------------------------------------------- black-box review of search (2026-12-03)

TEST_CASE(
    "D3: a saved filter with an unknown key, a value of another type or no object is an error naming it") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = make_logs(root);
  agentlog::test::write_text(layout.filters(), R"({
    "errs-typo": {"levl": "error"},
    "errs-num": {"level": 4},
    "errs-str": "level=error",
    "cat-array": {"category": ["api"]},
    "fields-list": {"fields": [["reqId", "req-x"]]},
    "bad-regex": {"regex": "(", "description": "broken"},
    "ok": {"level": "error", "description": "Errors", "fields": {"reqId": "req-x"}}
  })");
  auto error_of = [&](const std::string& name) {
    LogQuery q;
    try {
      agentlog::apply_saved_filter(layout, name, q);
    } catch (const LogQueryError& e) {
      CHECK(e.id() == "logs.bad_filters_file");
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // Each of these filtered nothing: every line came back, exit 0, no word.
  const std::string keys =
      "query, regex, level, category, source, since, until (strings), fields (an object of equalities), "
      "description";
  CHECK(error_of("errs-typo") ==
        "Unknown key 'levl' in the saved filter 'errs-typo' of config/filters.json: use " + keys);
  CHECK(error_of("errs-num") ==
        "The key 'level' of the saved filter 'errs-num' of config/filters.json holds number 4, not a string: "
        "write it as \"level\": \"...\"");
  CHECK(
      error_of("errs-str") ==
      "The saved filter 'errs-str' of config/filters.json holds string \"level=error\", not an object: write "
      "it as {\"level\": \"error\", \"category\": \"api\"} with any of " +
          keys);
  CHECK(
      error_of("cat-array") ==
      "The key 'category' of the saved filter 'cat-array' of config/filters.json holds array [\"api\"], not "
      "a string: write it as \"category\": \"...\"");
  CHECK(error_of("fields-list") ==
        "The key 'fields' of the saved filter 'fields-list' of config/filters.json holds array "
        "[[\"reqId\",\"req-x\"]], not an object of equalities: {\"reqId\": \"req-abc-123\"}");
  LogQuery q;
  agentlog::apply_saved_filter(layout, "ok", q);  // ("description" is the saved filters' own note)
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"failed to connect"});

  auto cli = agentlog::test::run_agentlog(
      {"logs", "search", "--filter", "errs-typo", "--json", "--root", root.path().string()});
  CHECK(cli.exit_code == 2);
  CHECK(cli.out.empty());
  CHECK(cli.err ==
        "agentlog logs: [logs.bad_filters_file] Unknown key 'levl' in the saved filter 'errs-typo' "
        "of config/filters.json: use " +
            keys + "\n");
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json r = mcp.call_tool("search_logs", {{"filter", "errs-num"}});
  CHECK(r["isError"] == true);
  CHECK(r["content"][0]["text"].get<std::string>().rfind(
            "[logs.bad_filters_file] The key 'level' of the saved filter 'errs-num'", 0) == 0);
  // A bad regex from a saved filter names the filter, as a bad since does; one the agent typed does not.
  r = mcp.call_tool("search_logs", {{"filter", "bad-regex"}});
  CHECK(r["isError"] == true);
  CHECK(r["content"][0]["text"] ==
        "[logs.bad_regex] Invalid regular expression '(': missing ): ( (RE2 syntax: no backreferences or "
        "lookaround) (in saved filter 'bad-regex' of config/filters.json)");
  r = mcp.call_tool("search_logs", {{"filter", "ok"}, {"regex", "("}});
  CHECK(r["content"][0]["text"] ==
        "[logs.bad_regex] Invalid regular expression '(': missing ): ( (RE2 syntax: no backreferences or "
        "lookaround)");
  CHECK(mcp.call_tool("search_logs", {{"filter", "bad-regex"}, {"regex", "fail"}})["isError"] == false);
}

TEST_CASE(
    "D4: field equality is one symmetric rule; a dotted name tries the literal key, then nested objects") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  agentlog::test::write_text(
      layout.latest_log(),
      line("2026-11-25T10:00:00.000Z", "info", "x", "", "int",
           {{"n", 100}, {"b", true}, {"u", {{"id", 7}}}}) +
          line("2026-11-25T10:00:01.000Z", "info", "x", "", "float", {{"n", 100.0}, {"b", false}}) +
          line("2026-11-25T10:00:02.000Z", "info", "x", "", "string", {{"n", "100"}, {"b", "true"}}) +
          line("2026-11-25T10:00:03.000Z", "info", "x", "", "string 1e2", {{"n", "1e2"}, {"b", "null"}}) +
          line("2026-11-25T10:00:04.000Z", "info", "x", "", "other", {{"n", 101}, {"b", " true"}}) +
          line("2026-11-25T10:00:05.000Z", "info", "x", "", "spaced", {{"n", " 100"}, {"b", nullptr}}) +
          line("2026-11-25T10:00:06.000Z", "info", "x", "", "both", {{"user.id", 5}, {"user", {{"id", 6}}}}) +
          line("2026-11-25T10:00:07.000Z", "info", "x", "", "nested only", {{"user", {{"id", "6"}}}}) +
          // A line of another program: spaces, an exponent, upper case E.
          "{\"ts\": \"2026-11-25T10:00:08.000Z\", \"level\": \"info\", \"msg\": \"foreign\", \"fields\": "
          "{\"n\" : 1E2, \"b\" : true}}\n"
          "[10:00:09.000] INFO [x] text form\t{\"source\":\"\",\"fields\":{\"n\":100.00,\"b\":\"true\"}}\n");
  auto found = [&](json fields) {
    LogQuery q;
    q.fields = std::move(fields);
    return msgs(agentlog::search_logs(layout, q));
  };
  // 100 missed the string "100" (the reverse was found), and the CLI's text "100.0" or "1e2" missed 100.
  for (const json& v : {json(100), json(100.0), json(1e2)}) {
    CAPTURE(v);
    CHECK(found({{"n", v}}) ==
          std::vector<std::string>{"text form", "foreign", "string 1e2", "string", "float", "int"});
  }
  // Two strings are equal as text.
  CHECK(found({{"n", "100"}}) == std::vector<std::string>{"text form", "foreign", "string", "float", "int"});
  CHECK(found({{"n", "1e2"}}) ==
        std::vector<std::string>{"text form", "foreign", "string 1e2", "float", "int"});
  CHECK(found({{"n", "100.0"}}) == std::vector<std::string>{"text form", "foreign", "float", "int"});
  for (const json& v : {json(true), json("true")}) {
    CAPTURE(v);
    CHECK(found({{"b", v}}) == std::vector<std::string>{"text form", "foreign", "string", "int"});
  }
  CHECK(found({{"b", nullptr}}) == std::vector<std::string>{"spaced", "string 1e2"});
  CHECK(found({{"b", false}}) == std::vector<std::string>{"float"});
  CHECK(found({{"n", "100 "}}).empty());  // (text that is more than the number)
  CHECK(found({{"u", {{"id", 7}}}}) == std::vector<std::string>{"int"});
  CHECK(found({{"u", "{\"id\":7}"}}).empty());  // (an object is no string's spelling)
  // The literal key "user.id" held 5 and hid the nested {"user": {"id": 6}}.
  CHECK(found({{"user.id", 5}}) == std::vector<std::string>{"both"});
  CHECK(found({{"user.id", 6}}) == std::vector<std::string>{"nested only", "both"});
  CHECK(found({{"user.id", "6"}}) == std::vector<std::string>{"nested only", "both"});
  CHECK(found({{"user.id", 7}}).empty());

  // The literal looked for before a line is parsed (field_literals) never drops a line the full check
  // matches: the same filters with a fixed string every line holds ("0", which takes the literal's place)
  // find the same lines.
  for (const json& fields :
       {json{{"n", 100}}, json{{"n", "100"}}, json{{"n", 100.0}}, json{{"n", "1e2"}}, json{{"n", 1e2}},
        json{{"b", true}}, json{{"b", "true"}}, json{{"b", nullptr}}, json{{"b", "null"}}, json{{"b", false}},
        json{{"b", " true"}}, json{{"n", " 100"}}, json{{"user.id", 6}}, json{{"user.id", "6"}},
        json{{"u", {{"id", 7}}}}, json{{"u.id", 7}}, json{{"u.id", "7"}}, json{{"n", 101}},
        json{{"n", "101"}}}) {
    CAPTURE(fields);
    LogQuery every;
    every.query = "0";
    every.fields = fields;
    const auto all = msgs(agentlog::search_logs(layout, every));
    CHECK(found(fields) == all);
    CHECK(!all.empty());
  }
}

TEST_CASE(
    "D4: a number equality's literal finds the spellings without its digits, at every offset of a block") {
  // A number is looked for as its digits (1450), and lines with an exponent or 16 and more digits are looked
  // at too: each such spelling, after a padding of every length (the scan reads 64 bytes at a time).
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  const std::vector<std::string> odd = {
      "1.45e3",     "1.45E+3",     "145e1",         "14500e-1", "1449.99999999999999999",
      "\"1.45e3\"", "\"0.145E4\"", "\"\\u0031450\""};
  std::string text;
  std::vector<std::size_t> per_spelling(odd.size());
  for (int pad = 0; pad < 130; ++pad)
    for (std::size_t k = 0; k < odd.size(); ++k) {
      const bool other = (pad + k) % 5 == 0;  // (a different number spelled alike: not a match)
      text += "{\"ts\":\"2026-11-25T10:00:00.000Z\",\"level\":\"info\",\"msg\":\"" + std::string(pad, 'x') +
              "\",\"fields\":{\"n\":" + (other ? std::string("1.46e3") : odd[k]) + "}}\n";
      per_spelling[k] += !other;
    }
  agentlog::test::write_text(layout.latest_log(), text);
  auto count = [&](const json& v) {
    LogQuery q;
    q.limit = 1000;
    q.fields = {{"n", v}};
    return agentlog::search_logs(layout, q)["matches"].size();
  };
  const std::size_t all = std::accumulate(per_spelling.begin(), per_spelling.end(), std::size_t{0});
  for (const json& v : {json(1450), json(1450.0), json(1.45e3)}) {
    CAPTURE(v);
    CHECK(count(v) == all);
  }
  // A string equals a string as text: "1450" is also the escaped one, not "1.45e3" or "0.145E4".
  CHECK(count("1450") == all - per_spelling[5] - per_spelling[6]);
}

TEST_CASE("D4: the CLI's --field is read as JSON when it is JSON, and matches what MCP's fields match") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  REQUIRE(mcp.call_tool("log_event", {{"message", "rec"},
                                      {"fields",
                                       {{"n", 100},
                                        {"s", "100"},
                                        {"b", true},
                                        {"bs", "true"},
                                        {"u", {{"id", 7}}},
                                        {"user.id", 5},
                                        {"user", {{"id", 6}}},
                                        {"code", "007"}}}})["isError"] == false);
  REQUIRE(mcp.call_tool("log_event", {{"message", "other"}, {"fields", {{"n", 1}, {"s", "x"}}}})["isError"] ==
          false);
  auto cli_count = [&](const std::string& field) {
    auto r = agentlog::test::run_agentlog(
        {"logs", "search", "--field", field, "--json", "--root", root.path().string()});
    INFO(field << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out)["matches"].size();
  };
  auto mcp_count = [&](const json& fields) {
    json r = mcp.call_tool("search_logs", {{"fields", fields}});
    REQUIRE(r["isError"] == false);
    return r["structuredContent"]["matches"].size();
  };
  for (const char* field : {"n=100", "n=100.0", "n=1e2", "n=\"100\"", "s=100", "s=1e2", "b=true", "bs=true",
                            "u={\"id\":7}", "user.id=5", "user.id=6", "code=007", "code=\"007\""}) {
    CAPTURE(field);
    CHECK(cli_count(field) == 1);
  }
  CHECK(cli_count("code=7") == 0);  // (007 is no JSON number: the text "007")
  CHECK(cli_count("u=7") == 0);
  for (const json& fields : {json{{"n", 100.0}}, json{{"n", 1e2}}, json{{"s", 100}}, json{{"bs", true}},
                             json{{"b", "true"}}, json{{"u", {{"id", 7}}}}, json{{"user.id", 6}}}) {
    CAPTURE(fields);
    CHECK(mcp_count(fields) == 1);
  }
}

TEST_CASE(
    "D6: a cursor whose lines retention removed is logs.cursor_expired, never newer lines or no match") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  auto lines = [](const std::string& word, int from, int to) {
    std::string text;
    for (int i = from; i < to; ++i)
      text += line("2026-11-25T10:00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".000Z", "info",
                   "x", "", word + " " + std::to_string(i));
    return text;
  };
  auto rotate = [&](const std::string& name, const std::string& next) {  // as the writer does
    fs::create_directories(layout.archive_dir() / name);
    fs::rename(layout.latest_log(), layout.archive_dir() / name / "latest.log");
    agentlog::test::write_text(layout.latest_log(), next);
  };
  auto expired = [&](const std::string& cursor) {
    LogQuery q;
    q.limit = 3;
    q.cursor = cursor;
    try {
      json r = agentlog::search_logs(layout, q);
      return "answered " + json(msgs(r)).dump();
    } catch (const LogQueryError& e) {
      CHECK(e.id() == "logs.cursor_expired");
      return std::string(e.what());
    }
  };
  agentlog::test::write_text(layout.latest_log(), lines("old", 0, 10));
  LogQuery q;
  q.limit = 3;
  const json first = agentlog::search_logs(layout, q);
  CHECK(msgs(first) == std::vector<std::string>{"old 9", "old 8", "old 7"});
  const std::string cursor = first["nextCursor"];
  CHECK(cursor.rfind("L:7::", 0) == 0);  // line 7, no archive then, latest.log's first line
  CHECK(cursor.size() == 5 + 16);
  rotate("2026-11-25-100010", lines("new", 10, 15));
  rotate("2026-11-25-100015", lines("new", 15, 20));
  q.cursor = cursor;  // its file is now the archive 2026-11-25-100010
  CHECK(msgs(agentlog::search_logs(layout, q)) == std::vector<std::string>{"old 6", "old 5", "old 4"});
  // Retention removes that archive: the oldest archive newer than the cursor's is another file, whose lines
  // came after the first page (new 14, 13, 12 were returned as older ones).
  fs::remove_all(layout.archive_dir() / "2026-11-25-100010");
  const std::string retention =
      "removed by retention (LOG_MAX_ARCHIVES, LOG_RETENTION_DAYS or LOG_MAX_TOTAL_MB) since the previous "
      "page. "
      "Search again without cursor (newest first); those lines cannot be read any more";
  CHECK(expired(cursor) == "The lines the cursor '" + cursor +
                               "' points at are gone: the file that held them (latest.log then, rotated "
                               "since) was " +
                               retention);
  auto cli = agentlog::test::run_agentlog(
      {"logs", "search", "--limit", "3", "--cursor", cursor, "--root", root.path().string()});
  CHECK(cli.exit_code == 2);
  CHECK(cli.out.empty());  // (it said "No log line matches. Loosen the filters", or newer lines)
  CHECK(cli.err.rfind("agentlog logs: [logs.cursor_expired] The lines the cursor", 0) == 0);

  // An archive cursor whose archive was removed: "No log line matches. Loosen the filters".
  q = {};
  q.limit = 7;  // latest.log's 5 lines, then the archive's
  const json paged = agentlog::search_logs(layout, q);
  const std::string in_archive = paged["nextCursor"];
  CHECK(in_archive == "A:3:2026-11-25-100015");
  fs::remove_all(layout.archive_dir() / "2026-11-25-100015");
  CHECK(expired(in_archive) == "The lines the cursor '" + in_archive +
                                   "' points at are gone: the archive 2026-11-25-100015 that held them was " +
                                   retention);
  json r = [&] {
    agentlog::test::McpSession mcp(root.path());
    mcp.initialize();
    return mcp.call_tool("search_logs", {{"cursor", in_archive}});
  }();
  CHECK(r["isError"] == true);
  CHECK(r["content"][0]["text"].get<std::string>().rfind("[logs.cursor_expired]", 0) == 0);

  // latest.log emptied (or replaced) and written again without a rotation.
  q = {};
  q.limit = 2;
  const std::string in_latest = agentlog::search_logs(layout, q)["nextCursor"];
  CHECK(in_latest.rfind("L:3::", 0) == 0);
  agentlog::test::write_text(layout.latest_log(), lines("newer", 30, 40));
  CHECK(expired(in_latest) ==
        "The lines the cursor '" + in_latest +
            "' points at are gone: latest.log was emptied or replaced since the previous "
            "page. Search again without cursor (newest first); those lines cannot be "
            "read any more");
  // latest.log removed and not rotated (no archive at all now).
  fs::remove(layout.latest_log());
  CHECK(expired(cursor).find("latest.log, which held them, is not there any more") != std::string::npos);
  // A cursor of an earlier agentlog (no first line) is read as it was; a bad hash is no cursor.
  agentlog::test::write_text(layout.latest_log(), lines("old", 0, 10));
  CHECK(expired("L:7:") == "answered [\"old 6\",\"old 5\",\"old 4\"]");
  q = {};
  q.cursor = "L:7::xyz";
  CHECK_THROWS_WITH_AS(agentlog::search_logs(layout, q), doctest::Contains("16 hex digits"), LogQueryError);
}

TEST_CASE("D7: since/until take a lowercase t and z, refuse second 60, and name the same ages either way") {
  TempDir root;
  auto layout = make_logs(root);
  auto run = [&](const std::string& since) {
    return agentlog::test::run_agentlog(
        {"logs", "search", "--since", since, "--json", "--root", root.path().string()});
  };
  for (const char* lower : {"2026-11-25t09:00:01z", "2026-11-25t09:00:01Z", "2026-11-25t10:00:01+01:00"}) {
    auto r = run(lower);
    INFO(lower << ": " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(json::parse(r.out)["matches"].size() == 2);
  }
  auto leap = run("2026-11-25T09:00:60Z");  // was read as 09:01:00
  CHECK(leap.exit_code == 2);
  CHECK(leap.err.find("[logs.bad_time] Cannot read the time \"2026-11-25T09:00:60Z\" as a date") !=
        std::string::npos);
  CHECK(leap.err.find("minutes and seconds of 0-59") != std::string::npos);
  for (const char* bad : {"2026-02-30", "yesterday"}) {
    CAPTURE(bad);
    CHECK(run(bad).err.find("or an age (30s, 30m, 1h, 2d, 1w)\n") != std::string::npos);
  }
}

TEST_CASE("D11: a latest.log that cannot be read is named in damagedFiles, not answered as no match") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  fs::create_directories(layout.archive_dir() / "2026-11-25-080000");
  agentlog::test::write_text(layout.archive_dir() / "2026-11-25-080000/latest.log",
                             line("2026-11-25T08:00:00.000Z", "info", "x", "", "archived"));
  fs::remove(layout.latest_log());
  fs::create_directories(layout.latest_log());  // (no permission cannot be tested as root)
  json r = agentlog::search_logs(layout, LogQuery{});
  CHECK(msgs(r) == std::vector<std::string>{"archived"});  // the rest is still searched
  CHECK(r["damagedFiles"] == json::parse(R"([{"file": ".ai-agents/logging/logs/latest.log",
                                              "problem": "it is a directory, not a file", "linesRead": 0}])"));
  auto cli = agentlog::test::run_agentlog({"logs", "search", "nothing", "--root", root.path().string()});
  CHECK(cli.exit_code == 0);
  CHECK(cli.out == "No log line matches in what could be read: 1 file could not be read whole (below).\n");
  CHECK(cli.err ==
        "agentlog logs: .ai-agents/logging/logs/latest.log could not be read: it is a directory, not a file; "
        "none of its lines were searched. Make it a readable file, or move it away (agentlog starts a new "
        "latest.log when there is none)\n");
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json m = mcp.call_tool("search_logs", {{"query", "nothing"}});
  CHECK(m["isError"] == false);
  CHECK(m["structuredContent"]["damagedFiles"][0]["file"] == ".ai-agents/logging/logs/latest.log");
}
