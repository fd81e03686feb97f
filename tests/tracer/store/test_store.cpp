// The trace store: generated span files with known durations (exact percentiles, filters, pagination, torn
// and corrupt lines, retention, reindex, a corrupt index, exports) and spans from a real traced program
// queried through `agentlog serve` (tools and resources).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "support/process.hpp"
#include "support/sqlite_count.hpp"
#include "support/temp_dir.hpp"
#include "tracer/store/store.hpp"

// The converter of binary span files, which the store uses, tested here on its own too.
#define AGENTLOG_NO_THROW_HOOK
#include "agentlog_trace.hpp"

using agentlog::store::StoreError;
using agentlog::store::TraceStore;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Day folders relative to today, so that retention (30 days in some tests, agentlog serve's 14 by default)
// never removes them: yesterday and today.
const std::string kDay = agentlog::test::utc_day(-1), kNextDay = agentlog::test::utc_day(0);

std::string hex(std::uint64_t v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

std::string iso(int second, int micros, const std::string& day = kDay) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%sT10:%02d:%02d.%06dZ", day.c_str(), second / 60, second % 60, micros);
  return buf;
}

json span(const std::string& trace, std::uint64_t id, std::uint64_t parent, const std::string& fn,
          const std::string& file, const std::string& start, double ms, json params = json::object(),
          json ret = nullptr, json error = nullptr) {
  return {{"traceId", trace},
          {"spanId", hex(id, 16)},
          {"parentSpanId", parent ? json(hex(parent, 16)) : json(nullptr)},
          {"function", fn},
          {"file", file},
          {"line", 10},
          {"startTime", start},
          {"duration", ms},
          {"durationNs", static_cast<std::int64_t>(ms * 1e6)},
          {"params", params},
          {"returnValue", ret},
          {"error", error},
          {"thread", 7},
          {"pid", 42},
          {"level", 2}};
}

void append(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::app) << text;
}

// 100 traces: trace i has a root "handle" of (i+1) ms with one child "query" of (i+1)/2 ms; trace 7 failed.
fs::path write_hundred(const TempDir& dir) {
  fs::path f = dir / (kDay + "/42-1.jsonl");
  std::string text;
  for (int i = 0; i < 100; ++i) {
    std::string t = hex(static_cast<std::uint64_t>(i + 1), 32);
    json err = i == 7 ? json({{"type", "std::runtime_error"}, {"message", "db down"}}) : json(nullptr);
    text += span(t, 1000 + i, 2000 + i, "Db::query", "src/db.cpp", iso(i, 100), (i + 1) / 2.0,
                 {{"sql", "SELECT " + std::to_string(i)}}, i, err)
                .dump() +
            "\n";
    text += span(t, 2000 + i, 0, "Api::handle", "src/api.cpp", iso(i, 0), i + 1.0, {{"userId", i}},
                 {{"status", 200}}, err)
                .dump() +
            "\n";
  }
  append(f, text);
  return f;
}

// The id and message of the StoreError that fn throws ("" when it throws none).
template <class F>
std::pair<std::string, std::string> store_error(F fn) {
  try {
    fn();
  } catch (const StoreError& e) {
    return {e.id(), e.what()};
  }
  return {};
}

}  // namespace

TEST_CASE("exact percentiles, mean, max, error rate and slowest traces") {
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  json s = store.stats("src/api.cpp", "");
  CHECK(s["count"] == 100);
  CHECK(s["p50"] == doctest::Approx(50.0));
  CHECK(s["p95"] == doctest::Approx(95.0));
  CHECK(s["p99"] == doctest::Approx(99.0));
  CHECK(s["max"] == doctest::Approx(100.0));
  CHECK(s["mean"] == doctest::Approx(50.5));
  CHECK(s["errorRate"] == doctest::Approx(0.01));
  CHECK(s["slowestTraceIds"][0] == hex(100, 32));
  json f = store.stats("db.cpp", "query");  // a path suffix and an unqualified name
  CHECK(f["count"] == 100);
  CHECK(f["matched"] == json::array({"src/db.cpp::Db::query"}));
  CHECK(f["p50"] == doctest::Approx(25.0));
  CHECK_THROWS_WITH_AS(store.stats("nothere.cpp", ""), doctest::Contains("src/api.cpp"), StoreError);
  CHECK_THROWS_AS(store.stats("src/api.cpp", "nope"), StoreError);
  // Names are matched as they are written: SQL's LIKE wildcards match nothing ('%' matched every file).
  for (const char* wild : {"%", "%.cpp", "_b.cpp", "src/%"}) {
    CAPTURE(wild);
    CHECK_THROWS_AS(store.stats(wild, ""), StoreError);
    CHECK_THROWS_AS(store.stats("", wild), StoreError);
  }
  CHECK_THROWS_AS(store.stats("DB.CPP", ""), StoreError);  // paths are case-sensitive
}

TEST_CASE("slow traces, whole traces in tree order, unknown ids") {
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  json slow = store.find_slow(95.5, 10);
  REQUIRE(slow["traces"].size() == 5);
  CHECK(slow["traces"][0]["duration"] == doctest::Approx(100.0));
  CHECK(slow["traces"][4]["duration"] == doctest::Approx(96.0));
  CHECK(slow["traces"][0]["rootFunction"] == "Api::handle");
  CHECK(slow["traces"][0]["spanCount"] == 2);

  json t = store.get_trace(hex(8, 32));
  REQUIRE(t["spans"].size() == 2);
  CHECK(t["spans"][0]["function"] == "Api::handle");  // the root first, though written after its child
  CHECK(t["spans"][0]["children"] == json::array({hex(1007, 16)}));
  CHECK(t["spans"][1]["parentSpanId"] == hex(2007, 16));
  CHECK(t["spans"][1]["params"]["sql"] == "SELECT 7");
  CHECK(t["error"] == true);
  CHECK(store_error([&] { store.get_trace("ffff"); }).first == "traces.not_found");
}

TEST_CASE("search filters and pagination") {
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  agentlog::store::SearchQuery q;
  q.query = "SELECT 42";
  json r = store.search(q);
  REQUIRE(r["traces"].size() == 1);
  CHECK(r["traces"][0]["traceId"] == hex(43, 32));
  CHECK(r["traces"][0]["matches"][0]["function"] == "Db::query");

  q = {};
  q.errors_only = true;
  CHECK(store.search(q)["traces"].size() == 1);
  q = {};
  q.min_ms = 40;
  q.function = "query";
  q.limit = 100;
  CHECK(store.search(q)["traces"].size() == 21);  // query spans of 40..50 ms
  q.max_ms = 45;
  CHECK(store.search(q)["traces"].size() == 11);
  q = {};
  q.file = "api.cpp";
  q.since_ns = agentlog::store::parse_iso_ns(iso(90, 0)).value();
  CHECK(store.search(q)["traces"].size() == 10);

  // Pages of 30 cover all 100 traces once, newest first.
  q = {};
  q.limit = 30;
  std::set<std::string> seen;
  int pages = 0;
  std::string last_start = "9999";
  while (true) {
    json page = store.search(q);
    ++pages;
    for (const auto& t : page["traces"]) {
      CHECK(seen.insert(t["traceId"].get<std::string>()).second);
      CHECK(t["startTime"].get<std::string>() <= last_start);
      last_start = t["startTime"];
    }
    if (page["nextCursor"].is_null()) break;
    q.cursor = page["nextCursor"];
  }
  CHECK(pages == 4);
  CHECK(seen.size() == 100);
  q.cursor = "bogus";
  CHECK_THROWS_AS(store.search(q), StoreError);
}

TEST_CASE("full text: every word in one span, as whole tokens; pages pass over traces that spread them") {
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  agentlog::store::SearchQuery q;
  auto ids = [&](const agentlog::store::SearchQuery& query) {
    std::vector<std::string> out;
    const json result = store.search(query);
    for (const auto& t : result["traces"]) out.push_back(t["traceId"]);
    return out;
  };
  q.query = "Db::query 42";  // the function and the parameters of one span
  CHECK(ids(q) == std::vector<std::string>{hex(43, 32)});
  q.query = "select 4";  // case-insensitive; "4" is a token of its own, not a prefix of "42"
  CHECK(ids(q) == std::vector<std::string>{hex(5, 32)});
  q.query = "handle SELECT";  // in the same traces, never in the same span
  CHECK(ids(q).empty());
  q.query = "api.cpp userId";
  CHECK(ids(q).size() == 20);  // a page of the 100 root spans

  // 30 traces have both words; in the odd ones a single span has them both, in the even ones two spans share
  // them. Pages of 4 list the 15 odd ones once each, newest first.
  TempDir spread;
  std::string text;
  for (int i = 0; i < 30; ++i) {
    const std::string t = hex(static_cast<std::uint64_t>(i + 1), 32);
    if (i % 2) {
      text +=
          span(t, 1000 + i, 0, "Job::run", "job.cpp", iso(i, 0), 2, {{"note", "alpha beta"}}).dump() + "\n";
    } else {
      text += span(t, 1000 + i, 0, "Job::run", "job.cpp", iso(i, 0), 2, {{"note", "alpha"}}).dump() + "\n";
      text +=
          span(t, 2000 + i, 1000 + i, "Job::step", "job.cpp", iso(i, 1), 1, {{"note", "beta"}}).dump() + "\n";
    }
  }
  append(spread / (kDay + "/1-1.jsonl"), text);
  TraceStore spread_store(spread.path());
  q = {};
  q.query = "alpha beta";
  q.limit = 4;
  std::vector<std::string> seen;
  for (int pages = 0;; ++pages) {
    REQUIRE(pages < 10);
    json page = spread_store.search(q);
    for (const auto& t : page["traces"]) {
      seen.push_back(t["traceId"]);
      REQUIRE(t["matches"].size() == 1);
      CHECK(t["matches"][0]["params"]["note"] == "alpha beta");
    }
    if (page["nextCursor"].is_null()) break;
    q.cursor = page["nextCursor"];
  }
  std::vector<std::string> odd;
  for (int i = 29; i >= 0; i -= 2) odd.push_back(hex(static_cast<std::uint64_t>(i + 1), 32));
  CHECK(seen == odd);
}

TEST_CASE("a span file truncated, renamed over or removed: its spans leave, the traces' summaries follow") {
  TempDir dir;
  const std::string t = hex(1, 32), u = hex(2, 32);
  // Trace t has its root in a.jsonl and a child in b.jsonl; trace u lives in b.jsonl alone.
  append(dir / (kDay + "/a.jsonl"), span(t, 1, 0, "root", "r.cpp", iso(0, 0), 50).dump() + "\n");
  append(dir / (kDay + "/b.jsonl"), span(t, 2, 1, "child", "c.cpp", iso(0, 100), 80).dump() + "\n" +
                                        span(u, 3, 0, "other", "c.cpp", iso(1, 0), 5).dump() + "\n");
  TraceStore store(dir.path());
  CHECK(store.get_trace(t)["spanCount"] == 2);
  CHECK(store.get_trace(t)["duration"] == doctest::Approx(80.1));
  CHECK(store.stats("c.cpp", "")["count"] == 2);

  // b.jsonl rewritten shorter: its old spans go; trace t is its root alone again, u is gone.
  {
    std::ofstream(dir / (kDay + "/b.jsonl"), std::ios::trunc)
        << span(hex(3, 32), 4, 0, "new", "n.cpp", iso(2, 0), 1).dump() << "\n";
  }
  json tree = store.get_trace(t);
  CHECK(tree["spanCount"] == 1);
  CHECK(tree["duration"] == doctest::Approx(50.0));
  CHECK(tree["spans"][0]["function"] == "root");
  CHECK_THROWS_AS(store.get_trace(u), StoreError);
  CHECK(store.stats("c.cpp", "")["count"] == 0);
  CHECK(store.summary()["traces"] == 2);

  // c.jsonl renamed over by a longer file (another inode): read again from its start.
  append(dir / (kDay + "/c.jsonl"), span(hex(4, 32), 5, 0, "before", "x.cpp", iso(3, 0), 1).dump() + "\n");
  CHECK(store.get_trace(hex(4, 32))["spans"][0]["function"] == "before");
  append(dir / "c.tmp", span(hex(5, 32), 6, 0, "after", "x.cpp", iso(4, 0), 1).dump() + "\n" +
                            span(hex(5, 32), 7, 6, "after2", "x.cpp", iso(4, 10), 1).dump() + "\n");
  fs::rename(dir / "c.tmp", dir / (kDay + "/c.jsonl"));
  CHECK_THROWS_AS(store.get_trace(hex(4, 32)), StoreError);
  CHECK(store.get_trace(hex(5, 32))["spanCount"] == 2);
  CHECK(store.stats("x.cpp", "")["count"] == 2);
  fs::remove(dir / (kDay + "/c.jsonl"));

  // a.jsonl removed by hand: trace t goes with it.
  fs::remove(dir / (kDay + "/a.jsonl"));
  CHECK_THROWS_AS(store.get_trace(t), StoreError);
  json sum = store.summary();
  CHECK(sum["spans"] == 1);
  CHECK(sum["traces"] == 1);
  CHECK(sum["files"] == 1);
}

TEST_CASE("an index of an earlier layout is replaced by one built from the span files") {
  TempDir dir;
  write_hundred(dir);
  {  // the first layout: span records in SQLite, no layout number
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "index.sqlite").c_str(), &db) == SQLITE_OK);
    const std::string sql =
        "CREATE TABLE files(path TEXT PRIMARY KEY, offset INTEGER NOT NULL);"
        "CREATE TABLE spans(id INTEGER PRIMARY KEY, trace_id TEXT, record TEXT);"
        "INSERT INTO files VALUES('" +
        kDay + "/42-1.jsonl', 999999);";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  TraceStore store(dir.path());
  CHECK(store.summary()["spans"] == 200);
  CHECK(store.stats("src/api.cpp", "")["count"] == 100);
}

TEST_CASE("get_trace of a trace 50 calls deep and 100,000 calls wide") {
  TempDir dir;
  const std::string t = hex(77, 32);
  std::string text = span(t, 1, 0, "root", "r.cpp", iso(0, 0), 5000).dump() + "\n";
  // The chain: 100 + d is a child of 100 + d - 1 (of the root for d = 1).
  for (std::uint64_t d = 1; d <= 50; ++d)
    text += span(t, 100 + d, d == 1 ? 1 : 100 + d - 1, "deep" + std::to_string(d), "d.cpp",
                 iso(1, static_cast<int>(d)), 1)
                .dump() +
            "\n";
  for (int w = 0; w < 100000; ++w)  // then 100,000 leaves under the root
    text += span(t, 1000 + static_cast<std::uint64_t>(w), 1, "leaf", "l.cpp",
                 iso(2 + w / 1000000, w % 1000000), 0.01)
                .dump() +
            "\n";
  append(dir / (kDay + "/1-1.jsonl"), text);
  TraceStore store(dir.path());
  const json tree = store.get_trace(t);
  REQUIRE(tree["spans"].size() == 100051);
  CHECK(tree["spanCount"] == 100051);
  const json& spans = tree["spans"];
  CHECK(spans[0]["function"] == "root");
  CHECK(spans[0]["children"].size() == 100001);
  for (int d = 1; d <= 50; ++d) {  // depth first: the whole chain before the first leaf
    CHECK(spans[d]["function"] == "deep" + std::to_string(d));
    CHECK(spans[d]["children"].size() == (d < 50 ? 1u : 0u));
  }
  CHECK(spans[51]["function"] == "leaf");
  CHECK(spans[51]["spanId"] == hex(1000, 16));
  CHECK(spans[100050]["spanId"] == hex(1000 + 99999, 16));
}

TEST_CASE("incremental ingest: torn last lines wait, corrupt lines are counted, files are remembered") {
  TempDir dir;
  fs::path f = dir / (kDay + "/1-1.jsonl");
  std::string line = span(hex(1, 32), 1, 0, "f", "a.cpp", iso(0, 0), 1.0).dump();
  append(f, line + "\n" + "{not json\n" + "{\"no\":\"span\"}\n" + line.substr(0, 40));
  TraceStore store(dir.path());
  auto r = store.ingest();
  CHECK(r.spans == 1);
  CHECK(r.corrupt_lines == 2);
  CHECK(store.summary()["spans"] == 1);
  append(f, line.substr(40) + "\n");  // the torn line completes (a duplicate span id, still a new record)
  CHECK(store.ingest().spans == 1);
  CHECK(store.ingest().spans == 0);  // nothing new
  json sum = store.summary();
  CHECK(sum["spans"] == 2);
  CHECK(sum["corruptLines"] == 2);
}

TEST_CASE("a budget splits an ingest into short transactions that together read every span once") {
  TempDir dir, whole;
  write_hundred(dir);
  write_hundred(whole);
  TraceStore store(dir.path());
  int batches = 0;
  std::int64_t spans = 0;
  for (;;) {
    auto r = store.ingest(4000);  // about a dozen span lines
    ++batches;
    spans += r.spans;
    CHECK(r.spans <= 12);
    if (r.complete) break;
    REQUIRE(batches < 100);
  }
  CHECK(batches > 10);
  CHECK(spans == 200);
  CHECK(store.ingest(4000).spans == 0);
  TraceStore reference(whole.path());
  CHECK(store.stats("src/api.cpp", "") == reference.stats("src/api.cpp", ""));
  CHECK(store.summary()["spans"] == 200);

  // A line longer than the whole budget is still read (alone), so a batch always moves on.
  const std::string line = span(hex(7, 32), 7, 0, "f", "a.cpp", iso(0, 0), 1.0).dump() + "\n";
  append(dir / (kNextDay + "/1-1.jsonl"), line + line);
  auto r = store.ingest(10);
  CHECK(r.spans == 1);
  CHECK_FALSE(r.complete);
  CHECK(store.ingest(10).spans == 1);
  CHECK(store.ingest(10).complete);
}

TEST_CASE("a store goes on with the index another process's reindex put in place") {
  TempDir dir;
  write_hundred(dir);
  TraceStore serving(dir.path());  // a long-running server's store
  CHECK(serving.summary()["spans"] == 200);
  TraceStore(dir.path()).reindex();  // `agentlog traces reindex` elsewhere
  append(dir / (kNextDay + "/1-1.jsonl"),
         span(hex(7, 32), 7, 0, "f", "a.cpp", iso(0, 0, kNextDay), 1.0).dump() + "\n");
  CHECK(serving.summary()["spans"] == 201);
  // The new span went into the index in place (not into the replaced file the store had open).
  CHECK(agentlog::test::sqlite_count(dir / "index.sqlite", "SELECT count(*) FROM spans") == 201);
}

TEST_CASE("agentlog traces search and slow say why nothing is listed") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--root", r});
    auto result = agentlog::test::run_agentlog(args);
    CHECK(result.exit_code == 0);
    return result.out;
  };
  CHECK(cli({"traces", "search", "anything"}).find("No traces yet") != std::string::npos);
  auto bad_time = agentlog::test::run_agentlog({"traces", "search", "--since", "yesterday", "--root", r});
  CHECK(bad_time.exit_code == 2);  // a bad value given is a usage error, as in `logs search`
  CHECK_FALSE(bad_time.err.empty());
  auto unknown = agentlog::test::run_agentlog({"traces", "show", "ffff", "--root", r});
  CHECK(unknown.exit_code == 1);  // the hint names the commands, not the MCP tools
  CHECK(unknown.err.find("`agentlog traces search` or `agentlog traces slow`") != std::string::npos);
  TempDir day;
  write_hundred(day);
  fs::create_directories(root / ".ai-agents/logging/traces" / kDay);
  fs::copy_file(day / (kDay + "/42-1.jsonl"), root / ".ai-agents/logging/traces" / kDay / "42-1.jsonl");
  CHECK(cli({"traces", "search", "no-such-word"}).find("No trace matches") != std::string::npos);
  CHECK(cli({"traces", "slow", "--threshold", "1s"}).find("Lower --threshold") != std::string::npos);
  const std::string found = cli({"traces", "search", "SELECT", "42"});  // several words need no quotes
  CHECK(found.find(hex(43, 32)) != std::string::npos);
  CHECK(found.find("Db::query") != std::string::npos);
  // `traces show` fits a long call to the terminal (120 columns without one): the arguments are cut first, so
  // the result and the file stay.
  json loaded = span(hex(900, 32), 900, 0, "Db::load", "src/db.cpp", iso(0, 0), 2.0,
                     {{"sql", std::string(300, 'q')}}, "rows=12");
  json child = span(hex(900, 32), 901, 900, "Db::row", "src/db.cpp", iso(0, 1), 0.0005);
  child["events"] = json::parse(R"([{"kind": "line", "line": 12, "offsetNs": 100},
                                    {"kind": "var", "name": "id", "value": "x7", "offsetNs": 250}])");
  // Parameters in the signature's order, which is not the keys' order.
  std::string child_line = child.dump();
  child_line.replace(child_line.find("\"params\":{}"), 11, R"("params":{"zone":"eu","id":3})");
  append(root / ".ai-agents/logging/traces" / kDay / "43-1.jsonl", loaded.dump() + "\n" + child_line + "\n");
  const std::string shown = cli({"traces", "show", hex(900, 32)});
  CHECK(shown.find("Db::load(sql=\"qqq") != std::string::npos);
  CHECK(shown.find(") -> \"rows=12\"  src/db.cpp:10\n") != std::string::npos);
  CHECK(shown.find("     500 ns") != std::string::npos);  // sub-microsecond, not "0.000 ms"
  CHECK(shown.find(". line 12\n") != std::string::npos);  // level 4/5 events under their span
  CHECK(shown.find(". id = \"x7\"\n") != std::string::npos);
  CHECK(shown.find("Db::row(zone=\"eu\", id=3)") != std::string::npos);
  json shown_json = TraceStore(root / ".ai-agents/logging/traces").get_trace(hex(900, 32));
  CHECK(shown_json["spans"][1]["paramOrder"] == json::array({"zone", "id"}));
  CHECK(shown_json["spans"][0]["paramOrder"] == json::array({"sql"}));

  // traces export: to a file, to stdout, and a file that cannot be written is an error (it said "wrote").
  const fs::path chrome = root / "trace.json";
  auto exported =
      agentlog::test::run_agentlog({"traces", "export", hex(900, 32), "-o", chrome.string(), "--root", r});
  CHECK(exported.exit_code == 0);
  CHECK(json::parse(agentlog::test::read_text(chrome))["traceEvents"].size() >= 2);
  CHECK(json::parse(cli({"traces", "export", hex(900, 32), "--format", "otlp"})).contains("resourceSpans"));
  for (const fs::path& bad : {root / "no-such-folder/t.json", chrome / "t.json"}) {
    CAPTURE(bad);
    auto refused =
        agentlog::test::run_agentlog({"traces", "export", hex(900, 32), "-o", bad.string(), "--root", r});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("cannot write " + bad.string()) != std::string::npos);
    CHECK(refused.err.find("wrote") == std::string::npos);
    CHECK_FALSE(fs::exists(bad));
  }
}

TEST_CASE("agentlog serve indexes span files as they are written, before any query") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  const fs::path traces = root / ".ai-agents/logging/traces";
  TempDir day;
  write_hundred(day);  // 200 spans, moved in as a traced program would have written them
  fs::create_directories(traces / kDay);
  fs::copy_file(day / (kDay + "/42-1.jsonl"), traces / (kDay + "/42-1.jsonl"));
  std::int64_t indexed = -1;
  for (int i = 0; i < 200 && indexed != 200; ++i) {  // up to 10 s on a busy machine
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    indexed = agentlog::test::sqlite_count(traces / "index.sqlite", "SELECT count(*) FROM spans");
  }
  CHECK(indexed == 200);  // no query was made: the server's follower read them
  json slow = mcp.call_tool("find_slow_traces", {{"threshold", "0ms"}, {"limit", 1}});
  CHECK(slow["structuredContent"]["traces"][0]["duration"] == 100.0);
}

TEST_CASE("a query sees at once what was written since the last one: new day folders, new files, appends") {
  TempDir dir;
  TraceStore store(dir.path(), 30);
  CHECK(store.summary()["spans"] == 0);
  const std::string line = span(hex(1, 32), 1, 0, "f", "a.cpp", iso(0, 0), 1.0).dump() + "\n";
  append(dir / (kDay + "/1-1.jsonl"), line);  // a day folder made after the store started watching
  CHECK(store.summary()["spans"] == 1);
  append(dir / (kDay + "/1-1.jsonl"), span(hex(2, 32), 2, 0, "g", "a.cpp", iso(1, 0), 1.0).dump() + "\n");
  CHECK(store.summary()["spans"] == 2);
  append(dir / (kNextDay + "/2-1.jsonl"),
         span(hex(3, 32), 3, 0, "h", "b.cpp", iso(2, 0, kNextDay), 1.0).dump() + "\n");
  append(dir / (kNextDay + "/2-1.jsonl"),
         span(hex(4, 32), 4, 0, "h", "b.cpp", iso(3, 0, kNextDay), 1.0).dump() + "\n");
  CHECK(store.summary()["spans"] == 4);
  CHECK(store.summary()["spans"] == 4);  // nothing new: nothing twice
  // An old day folder copied in is removed by retention on the next query.
  append(dir / "2020-01-01/1-1.jsonl",
         span(hex(9, 32), 9, 0, "old", "a.cpp", iso(0, 0, "2020-01-01"), 1).dump() + "\n");
  CHECK(store.summary()["spans"] == 4);
  CHECK_FALSE(fs::exists(dir / "2020-01-01"));
  // Another store of the same folder (another thread of the server) sees the same.
  TraceStore other(dir.path(), 30);
  CHECK(other.summary()["spans"] == 4);
  append(dir / (kNextDay + "/2-1.jsonl"),
         span(hex(5, 32), 5, 0, "h", "b.cpp", iso(4, 0, kNextDay), 1.0).dump() + "\n");
  CHECK(other.summary()["spans"] == 5);
  CHECK(store.summary()["spans"] == 5);
}

TEST_CASE("a query while another process holds the index's write lock answers from the index, and says so") {
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  REQUIRE(store.find_slow(0, 1000)["traces"].size() == 100);
  CHECK_FALSE(store.find_slow(0, 1).contains("indexBusy"));
  append(dir / (kDay + "/43-1.jsonl"),
         span(hex(500, 32), 500, 0, "Api::late", "src/api.cpp", iso(200, 0), 300.0).dump() + "\n");
  // Another connection (a long background indexing batch, a reindex) holds the write lock past the busy
  // timeout (5 s): the queries answer with the 200 spans indexed before, and say the newest may be missing.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir / "index.sqlite").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  TraceStore other(dir.path());  // opening an index of this layout takes no write lock
  json slow = other.find_slow(0, 1000);
  CHECK(slow["traces"].size() == 100);
  CHECK(slow["indexBusy"] == true);
  CHECK(slow["note"].get<std::string>().find("ask again") != std::string::npos);
  json summary = other.summary();
  CHECK(summary["spans"] == 200);
  CHECK(summary["indexBusy"] == true);
  auto [id, message] = store_error([&] { other.get_trace(hex(500, 32)); });  // not indexed yet
  CHECK(id == "traces.not_found");
  CHECK(message.find("the trace index was busy") != std::string::npos);
  // The lock released, the next query indexes the new file and answers as usual.
  REQUIRE(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  json late = other.get_trace(hex(500, 32));
  CHECK(late["rootFunction"] == "Api::late");
  CHECK_FALSE(late.contains("indexBusy"));
  CHECK(other.find_slow(0, 1000)["traces"].size() == 101);
  // Another process puts a new index in place and is still making it (its write lock held): a store has no
  // index to answer from, and says so; once it is made, the store goes on with it.
  REQUIRE(sqlite3_open((dir / "index.new").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA journal_mode=WAL; BEGIN IMMEDIATE; CREATE TABLE t(x);", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  fs::rename(dir / "index.new", dir / "index.sqlite");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a store looks for a new index every second
  std::tie(id, message) = store_error([&] { other.find_slow(0, 1); });
  CHECK(id == "traces.index_busy");
  CHECK(message.find("ask again") != std::string::npos);
  REQUIRE(sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK(other.find_slow(0, 1000)["traces"].size() == 101);
}

TEST_CASE("several stores in several threads ingest and query one folder while spans are written") {
  TempDir dir;
  const fs::path file = dir / (kDay + "/7-1.jsonl");
  constexpr int kTraces = 400;  // 2 spans each
  std::atomic<bool> written{false};
  std::thread writer([&] {
    for (int i = 0; i < kTraces; i += 20) {
      std::string text;
      for (int k = i; k < i + 20; ++k) {
        const std::string t = hex(static_cast<std::uint64_t>(k + 1), 32);
        text += span(t, 2 * k + 2, 2 * k + 1, "Db::query", "db.cpp", iso(k % 3000, 1), 1).dump() + "\n";
        text += span(t, 2 * k + 1, 0, "Api::handle", "api.cpp", iso(k % 3000, 0), 2).dump() + "\n";
      }
      append(file, text);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    written = true;
  });
  std::vector<std::thread> readers;
  std::atomic<int> failures{0};
  for (int r = 0; r < 4; ++r)
    readers.emplace_back([&, r] {
      try {
        TraceStore store(dir.path());
        while (!written) {
          r % 2 ? (void)store.summary() : (void)store.find_slow(0, 5);
          agentlog::store::SearchQuery q;
          q.query = "Db::query";
          (void)store.search(q);
        }
        // The last spans indexed. On a loaded machine another store may hold the write lock past the busy
        // timeout: a query then answers from the index as it is (indexBusy), so wait for an ingest of its
        // own.
        for (int tries = 0;; ++tries) {
          try {
            store.ingest();
            break;
          } catch (const std::exception&) {
            if (tries == 5) throw;
          }
        }
        if (store.summary()["spans"] != 2 * kTraces) ++failures;
        if (store.stats("api.cpp", "")["count"] != kTraces) ++failures;
      } catch (const std::exception& e) {
        MESSAGE(std::string(e.what()));
        ++failures;
      }
    });
  writer.join();
  for (auto& t : readers) t.join();
  CHECK(failures == 0);
  TraceStore check(dir.path());
  CHECK(check.summary()["traces"] == kTraces);
  CHECK(check.get_trace(hex(kTraces, 32))["spanCount"] == 2);
}

TEST_CASE("stores of several threads opening a new folder at once all open it and answer") {
  // SQLite answers busy at once, without its timeout, where one connection changes the journal mode while
  // another makes the tables: opening waits that out (a server's background indexer died of it). Both cores
  // are kept busy meanwhile, as a loaded machine would: the openers are then stopped half-way (without the
  // wait, half the runs failed so).
  std::atomic<bool> done{false};
  std::vector<std::thread> load;
  for (int i = 0; i < 2; ++i)
    load.emplace_back([&] {
      while (!done) {
      }
    });
  struct StopLoad {
    std::atomic<bool>& done;
    std::vector<std::thread>& load;
    ~StopLoad() {
      done = true;
      for (auto& t : load) t.join();
    }
  } stop_load{done, load};
  for (int round = 0; round < 20; ++round) {
    TempDir dir;
    append(dir / (kDay + "/7-1.jsonl"),
           span(hex(1, 32), 2, 1, "Db::query", "db.cpp", iso(0, 1), 1).dump() + "\n" +
               span(hex(1, 32), 1, 0, "Api::handle", "api.cpp", iso(0, 0), 2).dump() + "\n");
    std::vector<std::thread> stores;
    std::atomic<int> answered{0};
    for (int t = 0; t < 8; ++t)
      stores.emplace_back([&] {
        try {
          TraceStore store(dir.path());
          if (store.summary()["spans"] == 2) ++answered;
        } catch (const std::exception& e) {
          MESSAGE(std::string(e.what()));
        }
      });
    for (auto& t : stores) t.join();
    REQUIRE(answered == 8);
  }
}

TEST_CASE("durations and times as agents write them") {
  using agentlog::store::parse_duration_ms;
  CHECK(parse_duration_ms(json(250)) == 250);
  CHECK(parse_duration_ms(json("250ms")) == 250);
  CHECK(parse_duration_ms(json("1.5s")) == 1500);
  CHECK(parse_duration_ms(json("2m")) == 120000);
  CHECK(parse_duration_ms(json("500us")) == doctest::Approx(0.5));
  CHECK_THROWS_WITH_AS(parse_duration_ms(json("fast")), doctest::Contains("250ms"), StoreError);
  CHECK_THROWS_AS(parse_duration_ms(json(-1)), StoreError);
  CHECK_THROWS_AS(parse_duration_ms(json("10 parsecs")), StoreError);
  std::int64_t now = 1000LL * 86400 * 1000000000;
  CHECK(agentlog::store::parse_time_ns("1h", now) == now - 3600LL * 1000000000);
  CHECK(agentlog::store::parse_time_ns("2026-11-25", now) ==
        agentlog::store::parse_iso_ns("2026-11-25T00:00:00Z"));
  CHECK_THROWS_AS(agentlog::store::parse_time_ns("yesterday", now), StoreError);
}

TEST_CASE("an empty store answers with empty results") {
  TempDir dir;
  TraceStore store(dir.path());
  CHECK(store.search({})["traces"].empty());
  CHECK(store.find_slow(0, 10)["traces"].empty());
  CHECK_THROWS_AS(store.stats("a.cpp", ""), StoreError);
}

TEST_CASE("retention removes old span files and their rows; reindex and a corrupt index rebuild") {
  TempDir dir;
  append(dir / "2020-01-01/1-1.jsonl",
         span(hex(999, 32), 1, 0, "old", "a.cpp", iso(0, 0, "2020-01-01"), 1).dump() + "\n");
  write_hundred(dir);
  {
    TraceStore keep(dir.path());
    CHECK(keep.summary()["traces"] == 101);
  }
  {
    TraceStore store(dir.path(), 30);
    auto r = store.ingest();
    CHECK(r.removed_files == 1);
    CHECK_FALSE(fs::exists(dir / "2020-01-01"));
    CHECK(store.summary()["traces"] == 100);
    CHECK(store.reindex().spans == 200);
    CHECK(store.summary()["spans"] == 200);
    CHECK_FALSE(fs::exists(dir / "index.sqlite.building"));  // built aside, then put in place
    CHECK(fs::exists(dir / "index.sqlite"));
    TraceStore another(dir.path(), 30);  // another process's view of the new index
    CHECK(another.summary()["spans"] == 200);
  }
  // Garbage in place of the index: rebuilt from the span files, not fatal.
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(dir.path().string() + "/index.sqlite" + suffix);
  { std::ofstream(dir / "index.sqlite", std::ios::trunc) << std::string(8192, 'x'); }
  TraceStore rebuilt(dir.path());
  CHECK(rebuilt.find_slow(0, 1)["traces"][0]["duration"] == doctest::Approx(100.0));
}

TEST_CASE("exports: Chrome trace events and OTLP/JSON") {
  TempDir dir;
  write_hundred(dir);
  append(dir / (kDay + "/9-9.jsonl"),
         span("req-abc-123", 5, 0, "handle", "a.cpp", iso(0, 0), 3.0).dump() + "\n");
  TraceStore store(dir.path());
  json chrome = store.export_chrome(hex(8, 32));
  REQUIRE(chrome["traceEvents"].size() == 2);
  const json& e = chrome["traceEvents"][0];
  CHECK(e["ph"] == "X");
  CHECK(e["name"] == "Api::handle");
  CHECK(e["dur"] == doctest::Approx(8000.0));  // microseconds
  CHECK(e["ts"].is_number());
  CHECK(e["pid"] == 42);
  CHECK(e["tid"] == 7);
  CHECK(e["args"]["params"]["userId"] == 7);

  json otlp = store.export_otlp(hex(8, 32), "proj");
  const json& rs = otlp["resourceSpans"][0];
  CHECK(rs["resource"]["attributes"][0]["key"] == "service.name");
  const json& spans = rs["scopeSpans"][0]["spans"];
  REQUIRE(spans.size() == 2);
  CHECK(spans[0]["traceId"] == hex(8, 32));
  CHECK(spans[0]["spanId"].get<std::string>().size() == 16);
  CHECK_FALSE(spans[0].contains("parentSpanId"));
  CHECK(spans[1]["parentSpanId"] == spans[0]["spanId"]);
  CHECK(spans[0]["status"]["code"] == 2);
  CHECK(std::stoll(spans[0]["endTimeUnixNano"].get<std::string>()) -
            std::stoll(spans[0]["startTimeUnixNano"].get<std::string>()) ==
        8000000);
  json custom = store.export_otlp("req-abc-123", "proj");
  std::string id = custom["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"];
  CHECK(id.size() == 32);
  CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("spans of a real traced program, through agentlog serve: tools and resources") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nTRACING_DEFAULT_LEVEL=2\n");
  auto run = agentlog::test::run_process({TRACED_PROGRAM, "tree"}, "", root.path(),
                                         {{"AGENTLOG_ROOT", root.path().string()}});
  REQUIRE(run.exit_code == 0);

  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  json slow = mcp.call_tool("find_slow_traces", {{"threshold", "0ms"}});
  REQUIRE_FALSE(slow["isError"].get<bool>());
  REQUIRE(slow["structuredContent"]["traces"].size() == 1);
  std::string id = slow["structuredContent"]["traces"][0]["traceId"];
  json trace = mcp.call_tool("get_trace", {{"traceId", id}})["structuredContent"];
  REQUIRE(trace["spans"].size() == 9);  // fib(4)
  CHECK(trace["spans"][0]["params"]["n"] == 4);
  CHECK(trace["spans"][0]["returnValue"] == 3);
  CHECK(trace["spans"][0]["children"].size() == 2);
  json stats =
      mcp.call_tool("get_trace_stats", {{"file", "program.cpp"}, {"function", "fib"}})["structuredContent"];
  CHECK(stats["count"] == 9);
  json found = mcp.call_tool("search_traces", {{"function", "fib"}, {"minDuration", 0}})["structuredContent"];
  CHECK(found["traces"].size() == 1);

  json missing = mcp.call_tool("get_trace", {{"traceId", "nope"}});
  CHECK(missing["isError"] == true);
  CHECK(missing["content"][0]["text"].get<std::string>().find("[traces.not_found]") == 0);
  json bad = mcp.call_tool("find_slow_traces", {{"threshold", "soon"}});
  CHECK(bad["isError"] == true);
  CHECK(bad["content"][0]["text"].get<std::string>().find("traces.bad_duration") != std::string::npos);

  json read = mcp.request("resources/read", {{"uri", "trace://" + id}});
  REQUIRE(read.contains("result"));
  CHECK(json::parse(read["result"]["contents"][0]["text"].get<std::string>())["traceId"] == id);
  json unknown = mcp.request("resources/read", {{"uri", "trace://nope"}});
  CHECK(unknown["error"]["code"] == -32002);
  json templates = mcp.request("resources/templates/list");
  CHECK(templates["result"]["resourceTemplates"][0]["uriTemplate"] == "trace://{traceId}");
  // The recent traces are listed as resources (the list read freed memory and came back without them).
  json listed = mcp.request("resources/list");
  std::vector<std::string> uris;
  for (const auto& r : listed["result"]["resources"]) uris.push_back(r["uri"]);
  CHECK(std::find(uris.begin(), uris.end(), "trace://" + id) != uris.end());
  CHECK(std::find(uris.begin(), uris.end(), "log://latest") != uris.end());
  json log = mcp.request("resources/read", {{"uri", "log://latest"}});
  CHECK(log.contains("result"));
}

TEST_CASE("agentlog serve goes on answering when the trace index cannot be opened, and says why") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path index = root / ".ai-agents/logging/traces/index.sqlite";
  fs::create_directories(index);  // a folder where the index should be: SQLite cannot open it
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the background indexer has tried by now
  json slow = mcp.call_tool("find_slow_traces", {{"threshold", "0ms"}});
  CHECK(slow["isError"] == true);
  const std::string text = slow["content"][0]["text"];
  CHECK(text.find(index.string()) != std::string::npos);
  CHECK(text.find("rebuilt from the span files") != std::string::npos);
  json logged = mcp.call_tool("log_event", {{"message", "still here"}});  // the server is alive
  CHECK_FALSE(logged["isError"].get<bool>());
  fs::remove(index);  // put right: the next query opens a new index
  json again = mcp.call_tool("find_slow_traces", {{"threshold", "0ms"}});
  CHECK_FALSE(again["isError"].get<bool>());
}

namespace {
// The binary span file a real traced program wrote with TRACING_FORMAT=binary into the project at `root`.
fs::path binary_span_file(const TempDir& root, const std::string& scenario = "tree",
                          const std::string& level = "2") {
  fs::create_directories(root / ".ai-agents/logging/config");
  auto run = agentlog::test::run_process({TRACED_PROGRAM, scenario}, "", root.path(),
                                         {{"AGENTLOG_ROOT", root.path().string()},
                                          {"TRACING_FORMAT", "binary"},
                                          {"TRACING_DEFAULT_LEVEL", level}});
  REQUIRE(run.exit_code == 0);
  std::vector<fs::path> found;
  for (const auto& e : fs::recursive_directory_iterator(root / ".ai-agents/logging/traces"))
    if (e.path().extension() == ".bin") found.push_back(e.path());
  REQUIRE(found.size() == 1);
  return found[0];
}

// The file as if its program had been killed before it wrote its end block.
void cut_end(const fs::path& bin) {
  std::string bytes = agentlog::test::read_text(bin);
  REQUIRE(bytes.size() > 64);
  bytes.resize(bytes.size() - 32);  // the end block: a 16-byte block header and two counters
  std::ofstream(bin, std::ios::binary | std::ios::trunc) << bytes;
}
}  // namespace

TEST_CASE(
    "binary span files (TRACING_FORMAT=binary) become JSONL as they grow or once their program stopped") {
  SUBCASE("a finished program's file: converted by the first query, queried like any other") {
    TempDir root;
    fs::path bin = binary_span_file(root);
    TraceStore store(root / ".ai-agents/logging/traces");
    auto report = store.ingest();
    CHECK(report.converted_files == 1);
    CHECK(report.waiting_files == 0);
    CHECK(report.spans == 9);
    CHECK_FALSE(fs::exists(bin));
    fs::path jsonl = fs::path(bin).replace_extension(".jsonl");
    REQUIRE(fs::exists(jsonl));
    json stats = store.stats("program.cpp", "fib");
    CHECK(stats["count"] == 9);
    json slow = store.find_slow(0.0, 10);
    REQUIRE(slow["traces"].size() == 1);
    json trace = store.get_trace(slow["traces"][0]["traceId"]);
    REQUIRE(trace["spans"].size() == 9);
    CHECK(trace["spans"][0]["params"]["n"] == 4);
    CHECK(trace["spans"][0]["returnValue"] == 3);
    CHECK(trace["spans"][0]["children"].size() == 2);
  }
  SUBCASE("a file still being written (its lock held) waits; once the lock is gone, what it holds converts") {
    TempDir root;
    fs::path bin = binary_span_file(root);
    cut_end(bin);
    int writer = ::open(bin.c_str(), O_RDONLY);  // the lock a tracing program holds on its binary file
    REQUIRE(writer >= 0);
    REQUIRE(::flock(writer, LOCK_EX) == 0);
    TraceStore store(root / ".ai-agents/logging/traces");
    auto waiting = store.ingest();
    CHECK(waiting.waiting_files == 1);
    CHECK(waiting.converted_files == 0);
    CHECK(fs::exists(bin));
    auto refused = agentlog::test::run_agentlog({"traces", "convert", bin.string()});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("is still being written by process") != std::string::npos);
    ::close(writer);                                               // the program exited, or was killed
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the store rescans at least once a second
    auto converted = store.ingest();
    CHECK(converted.converted_files == 1);
    CHECK(converted.spans == 9);  // every block before the missing end
    CHECK_FALSE(fs::exists(bin));
  }
  SUBCASE("a store that follows running programs (agentlog serve's) converts a binary file as it grows") {
    TempDir root;
    fs::path bin = binary_span_file(root);
    const std::string bytes = agentlog::test::read_text(bin);
    // The blocks of the file: the header (40 bytes), then 16-byte block headers and their bodies.
    std::vector<std::size_t> starts;
    for (std::size_t at = 40; at + 16 <= bytes.size();) {
      starts.push_back(at);
      std::uint64_t size;
      std::memcpy(&size, bytes.data() + at + 8, 8);
      at += 16 + static_cast<std::size_t>(size);
    }
    REQUIRE(starts.size() == 4);  // the site, the clock, the ring's 9 spans, the end
    const std::size_t ring = starts[2], end = starts[3];
    // The ring block cut in the middle, as the program is writing it.
    std::ofstream(bin, std::ios::binary | std::ios::trunc) << bytes.substr(0, ring + 40);
    int writer = ::open(bin.c_str(), O_RDONLY);
    REQUIRE(writer >= 0);
    REQUIRE(::flock(writer, LOCK_EX) == 0);

    TraceStore follower(root / ".ai-agents/logging/traces");
    follower.follow_running_binaries(true);
    auto first = follower.ingest();
    CHECK(first.waiting_files == 1);
    CHECK(first.spans == 0);  // no whole ring block yet
    fs::path jsonl = fs::path(bin).replace_extension(".jsonl");
    CHECK(fs::exists(jsonl));

    TraceStore other(root / ".ai-agents/logging/traces");  // a second follower: the file is taken
    other.follow_running_binaries(true);
    CHECK(other.ingest().converted_files == 0);

    std::ofstream(bin, std::ios::binary | std::ios::app) << bytes.substr(ring + 40, end - ring - 40);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto second = follower.ingest();
    CHECK(second.waiting_files == 1);
    CHECK(second.spans == 9);  // seen while the program still runs
    CHECK(fs::exists(bin));
    CHECK(follower.stats("program.cpp", "fib")["count"] == 9);

    std::ofstream(bin, std::ios::binary | std::ios::app) << bytes.substr(end);
    ::close(writer);  // the program exits
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto last = follower.ingest();
    CHECK(last.converted_files == 1);
    CHECK(last.spans == 0);  // nothing twice
    CHECK_FALSE(fs::exists(bin));
    CHECK(follower.stats("program.cpp", "fib")["count"] == 9);
  }
  SUBCASE("agentlog traces convert: named files, every finished file, and clear errors") {
    TempDir root;
    REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
    fs::path bin = binary_span_file(root);
    auto named =
        agentlog::test::run_agentlog({"traces", "convert", bin.string(), "--root", root.path().string()});
    CHECK(named.exit_code == 0);
    CHECK(named.out.find(" (9 spans; " + bin.string() + " removed)\n") != std::string::npos);
    CHECK(fs::exists(fs::path(bin).replace_extension(".jsonl")));
    auto again =
        agentlog::test::run_agentlog({"traces", "convert", bin.string(), "--root", root.path().string()});
    CHECK(again.exit_code == 1);
    CHECK(again.err.find("cannot read") != std::string::npos);
    fs::path other = binary_span_file(root);
    (void)other;
    auto all = agentlog::test::run_agentlog({"traces", "convert", "--json", "--root", root.path().string()});
    CHECK(all.exit_code == 0);
    CHECK(json::parse(all.out)["convertedFiles"] == 1);
    fs::path text = root / "notes.txt";
    agentlog::test::write_text(text, "not spans");
    auto wrong =
        agentlog::test::run_agentlog({"traces", "convert", text.string(), "--root", root.path().string()});
    CHECK(wrong.exit_code == 1);
    CHECK(wrong.err.find("is not a binary span file") != std::string::npos);
    // A file of another format version (the header of a version-1 file): said so, and left alone.
    fs::path old_file = root / "old.bin";
    std::string header(32, '\0');  // the size of a version-1 header
    header.replace(0, 8, "AGLTRACE");
    header[8] = 1;
    agentlog::test::write_text(old_file, header);
    auto old = agentlog::test::run_agentlog(
        {"traces", "convert", old_file.string(), "--root", root.path().string()});
    CHECK(old.exit_code == 1);
    CHECK(old.err.find("binary span file of version 1") != std::string::npos);
    CHECK(fs::exists(old_file));
    // Under traces/, a query leaves it as it is and says why.
    fs::path old_in_traces = bin.parent_path() / "1-2.bin";  // (a day past retention would be removed)
    fs::create_directories(old_in_traces.parent_path());
    fs::copy_file(old_file, old_in_traces);
    auto scan = agentlog::test::run_agentlog({"traces", "convert", "--json", "--root", root.path().string()});
    CHECK(scan.exit_code == 0);
    json report = json::parse(scan.out);
    CHECK(report["unreadableFiles"] == 1);
    CHECK(report["unreadable"].get<std::string>().find("1-2.bin is a binary span file of version 1") !=
          std::string::npos);
    CHECK(fs::exists(old_in_traces));
    auto told = agentlog::test::run_agentlog({"traces", "convert", "--root", root.path().string()});
    CHECK(told.out.find("1 binary span files left as they are") != std::string::npos);
    fs::remove(old_in_traces);

    // Cut short in its header (magic and version, then the end): said so, not "a version it does not read".
    fs::path whole = binary_span_file(root);
    const std::string bytes = agentlog::test::read_text(whole);
    fs::path short_file = root / "short.bin";
    agentlog::test::write_text(short_file, bytes.substr(0, 20));
    auto cut = agentlog::test::run_agentlog(
        {"traces", "convert", short_file.string(), "--root", root.path().string()});
    CHECK(cut.exit_code == 1);
    CHECK(cut.err.find("short.bin is a binary span file cut short in its header") != std::string::npos);
    // A damaged function description (a control character and a line break in its name): refused, the
    // binary file kept and no .jsonl beside it. It was converted into lines that are not JSON, or lines of
    // the file's own making, and the binary file removed.
    std::string damaged = bytes;
    const std::size_t name = damaged.find("\"function\":\"");
    REQUIRE(name != std::string::npos);
    damaged.replace(name + 12, 4, "\x01\"}\n");
    fs::path damaged_file = root / "damaged.bin";
    agentlog::test::write_text(damaged_file, damaged);
    auto refused = agentlog::test::run_agentlog(
        {"traces", "convert", damaged_file.string(), "--root", root.path().string()});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("damaged.bin is damaged (the name, file and parameters of traced function #") !=
          std::string::npos);
    CHECK(fs::exists(damaged_file));
    CHECK_FALSE(fs::exists(root / "damaged.jsonl"));
  }
}

TEST_CASE("agentlog serve shows the spans of a TRACING_FORMAT=binary program while it runs") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  agentlog::test::ProcessResult program;
  std::thread run([&] {
    program = agentlog::test::run_process({TRACED_PROGRAM, "paced"}, "", root.path(),
                                          {{"AGENTLOG_ROOT", root.path().string()},
                                           {"TRACING_FORMAT", "binary"},
                                           {"TRACING_DEFAULT_LEVEL", "2"}});
  });
  struct JoinAtExit {
    std::thread& t;
    ~JoinAtExit() {
      if (t.joinable()) t.join();
    }
  } join_at_exit{run};
  auto count = [&] {
    json stats = mcp.call_tool("get_trace_stats", {{"file", "program.cpp"}, {"function", "fib"}});
    if (stats["isError"] == true) return 0;  // no span of fib yet
    return stats["structuredContent"]["count"].get<int>();
  };
  auto binary_files = [&] {
    int n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root / ".ai-agents/logging/traces", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      n += it->path().extension() == ".bin";
    return n;
  };
  bool seen_live = false;  // spans queried while the program still writes its binary file
  for (int i = 0; i < 50 && !seen_live; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    seen_live = binary_files() == 1 && count() > 0;
  }
  run.join();
  CHECK(seen_live);
  REQUIRE(program.exit_code == 0);
  const int total = std::atoi(program.out.c_str());
  REQUIRE(total > 100);
  int last = 0;
  for (int i = 0; i < 60 && (last != total || binary_files() != 0); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    last = count();
  }
  CHECK(last == total);  // every span once, none twice
  CHECK(binary_files() == 0);
}

namespace {
// `bytes` with the first `find` in them replaced by `with`, of the same length (every block keeps its size).
std::string damage(std::string bytes, const std::string& find, const std::string& with) {
  REQUIRE(find.size() == with.size());
  const std::size_t at = bytes.find(find);
  REQUIRE(at != std::string::npos);
  return bytes.replace(at, find.size(), with);
}
// A control character in the name of traced function #0 (its site block).
std::string damage_function_name(const std::string& bytes) {
  return damage(bytes, "\"function\":\"", std::string("\"function\":\x01", 12));
}

int descriptors(const std::string& proc) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(proc + "/fd")) ++n;
  return n;
}
// The fewest descriptors a process has open over half a second: a lost one stays, one open for a moment
// (a server's background work) does not.
int lasting_descriptors(pid_t pid) {
  int fewest = descriptors("/proc/" + std::to_string(pid));
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fewest = std::min(fewest, descriptors("/proc/" + std::to_string(pid)));
  }
  return fewest;
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("a binary span file that cannot be converted: each try closes its .jsonl, lock and all") {
  TempDir root;
  const fs::path bin = binary_span_file(root);
  const fs::path jsonl = fs::path(bin).replace_extension(".jsonl");
  SUBCASE("damaged: tried again and again (agentlog serve tried 4 times a second), no descriptor is lost") {
    const std::string damaged = damage_function_name(agentlog::test::read_text(bin));
    agentlog::test::write_text(bin, damaged);
    agentlog::SpanFileConverter converter(bin.string());
    const int before = descriptors("/proc/self");
    for (int i = 0; i < 20; ++i) {
      agentlog::ConvertResult r = converter.step();
      CHECK_FALSE(r.ok);
      CHECK(r.damaged);
    }
    CHECK(descriptors("/proc/self") == before);
    CHECK(agentlog::test::read_text(bin) == damaged);
    CHECK_FALSE(fs::exists(jsonl));
  }
  SUBCASE("its .jsonl cannot be written (a full disk): the next try, in the same process, starts it again") {
    // In a child, whose limit on the size of files (RLIMIT_FSIZE) stands for the full disk.
    const int failed = agentlog::test::run_in_children(1, [&](int) {
      std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails (EFBIG) instead of killing the child
      rlimit limit{};
      ::getrlimit(RLIMIT_FSIZE, &limit);
      rlimit small = limit;
      small.rlim_cur = 100;
      ::setrlimit(RLIMIT_FSIZE, &small);
      agentlog::SpanFileConverter converter(bin.string());
      const int before = descriptors("/proc/self");
      agentlog::ConvertResult full = converter.step();
      if (full.ok || full.damaged || full.error.find("cannot write " + jsonl.string()) != 0)
        throw std::runtime_error("not a failed write: " + full.error);
      if (descriptors("/proc/self") != before) throw std::runtime_error("the .jsonl was left open");
      const int other = ::open(jsonl.c_str(), O_RDONLY);
      const bool locked = ::flock(other, LOCK_EX | LOCK_NB) != 0;
      ::close(other);
      if (locked) throw std::runtime_error("the .jsonl is still locked");
      ::setrlimit(RLIMIT_FSIZE, &limit);  // room again
      agentlog::ConvertResult again = converter.step();
      if (!again.ok || !again.done || again.spans != 9)
        throw std::runtime_error("not converted the second time" + std::string(again.busy ? ": busy" : "") +
                                 again.error);
      return 0;
    });
    CHECK(failed == 0);
    CHECK_FALSE(fs::exists(bin));
    CHECK(occurrences(agentlog::test::read_text(jsonl), "\n") == 9);
  }
}

TEST_CASE("a damaged binary span file under traces/ is kept and left out; the other files are queried") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path good = binary_span_file(root);
  const fs::path bad = good.parent_path() / "66666-1.bin";
  const std::string damaged = damage_function_name(agentlog::test::read_text(good));
  agentlog::test::write_text(bad, damaged);

  TraceStore store(root / ".ai-agents/logging/traces");
  agentlog::store::IngestReport report;
  REQUIRE_NOTHROW(report = store.ingest());  // it failed with traces.convert_failed, so did every query
  CHECK(report.converted_files == 1);
  CHECK(report.spans == 9);
  CHECK(report.unreadable_files == 1);
  CHECK(report.unreadable.find(
            bad.string() + " is damaged (the name, file and parameters of traced function #0 are damaged") ==
        0);
  CHECK(report.unreadable.find("move it out of traces/") != std::string::npos);
  CHECK(report.unreadable.find("free space") == std::string::npos);  // the advice for a write that failed
  CHECK(store.stats("program.cpp", "fib")["count"] == 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the store rescans at least once a second
  CHECK(store.ingest().unreadable_files == 1);                   // still there, still left out
  CHECK(agentlog::test::read_text(bad) == damaged);
  CHECK_FALSE(fs::exists(fs::path(bad).replace_extension(".jsonl")));

  // The command line: every query answers, and says once on stderr what it left out.
  for (std::vector<std::string> args : {std::vector<std::string>{"traces", "search"},
                                        {"traces", "slow"},
                                        {"traces", "stats", "program.cpp"},
                                        {"traces", "reindex"},
                                        {"traces", "convert"}}) {
    INFO(args[1]);
    args.insert(args.end(), {"--root", root.path().string()});
    auto run = agentlog::test::run_agentlog(args);
    CHECK(run.exit_code == 0);
    CHECK(occurrences(run.err, "66666-1.bin is damaged") == 1);
  }
  CHECK(agentlog::test::read_text(bad) == damaged);
}

TEST_CASE("agentlog serve with a damaged binary span file: no descriptor lost, said once, the rest queried") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path good = binary_span_file(root);
  const std::string damaged = damage_function_name(agentlog::test::read_text(good));
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  auto fib_count = [&] {
    json stats = mcp.call_tool("get_trace_stats", {{"file", "program.cpp"}, {"function", "fib"}});
    return stats["isError"] == true ? -1 : stats["structuredContent"]["count"].get<int>();
  };
  CHECK(fib_count() == 9);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // what the server opens after a first call
  const int before = lasting_descriptors(mcp.pid());
  const fs::path bad = good.parent_path() / "66666-1.bin";
  agentlog::test::write_text(bad, damaged);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // the follower's tries: ten, when it retried
  CHECK(lasting_descriptors(mcp.pid()) == before);
  CHECK(fib_count() == 9);
  CHECK(mcp.call_tool("find_slow_traces", {{"threshold", "0ms"}})["isError"] == false);
  CHECK(agentlog::test::read_text(bad) == damaged);
  CHECK_FALSE(fs::exists(fs::path(bad).replace_extension(".jsonl")));
  const std::string err = mcp.stderr_text();
  CHECK(occurrences(err, "66666-1.bin is damaged") == 1);
  CHECK(err.find("move it out of traces/") != std::string::npos);
}

TEST_CASE("a damaged number of a traced function is refused at once, not taken for the size of its table") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  std::string bytes = agentlog::test::read_text(binary_span_file(root));
  const std::uint32_t id = 99999999;
  std::memcpy(&bytes[40 + 16], &id, sizeof id);  // the first site block's, after the file's and its headers
  const fs::path file = root / "renumbered.bin";
  agentlog::test::write_text(file, bytes);
  // Taken as it was, the number sized a table of 5.6 GB: under a limit of 2 GB, a bare std::bad_alloc.
  auto run = agentlog::test::run_process({"/bin/sh", "-c", "ulimit -v 2000000 && exec \"$0\" \"$@\"",
                                          AGENTLOG_BINARY, "traces", "convert", file.string(), "--root",
                                          root.path().string()});
  CHECK(run.exit_code == 1);
  CHECK(run.err.find("renumbered.bin is damaged (traced function #99999999 is described where #0 was next") !=
        std::string::npos);
  CHECK(agentlog::test::read_text(file) == bytes);
  CHECK_FALSE(fs::exists(root / "renumbered.jsonl"));
}

TEST_CASE("the captured text, exceptions and events of a damaged file never reach the .jsonl unchecked") {
  struct Case {
    const char* scenario;
    const char* level;
    std::string find, with;
  };
  // Each file first converted whole (its text passes the check), then damaged: it was pasted into the
  // .jsonl as it was (a line cut in two by the line break, a string ended early, an array that is not JSON).
  for (const Case& c : {Case{"exceptions", "2", " input 42", "\ninput 42"},  // an exception's what()
                        Case{"levels", "5", "after-x", "after\"x"},          // an event (a checkpoint)
                        Case{"captures", "2", "[1,1,1", "[1,,,1"}}) {        // a vector, captured as text
    INFO(c.scenario);
    TempDir root;
    REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
    const fs::path made = binary_span_file(root, c.scenario, c.level);
    const std::string bytes = agentlog::test::read_text(made);
    const fs::path whole = root / "whole.bin", damaged = root / "damaged.bin";
    agentlog::test::write_text(whole, bytes);
    agentlog::test::write_text(damaged, damage(bytes, c.find, c.with));
    auto converted =
        agentlog::test::run_agentlog({"traces", "convert", whole.string(), "--root", root.path().string()});
    REQUIRE(converted.exit_code == 0);
    std::ifstream lines(root / "whole.jsonl");
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) CHECK(json::accept(line));
    CHECK(count > 0);
    auto refused =
        agentlog::test::run_agentlog({"traces", "convert", damaged.string(), "--root", root.path().string()});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("damaged.bin is damaged (a span recorded by thread ") != std::string::npos);
    CHECK(agentlog::test::read_text(damaged) == damage(bytes, c.find, c.with));
    CHECK_FALSE(fs::exists(root / "damaged.jsonl"));
  }
}

TEST_CASE("agentlog traces convert FILE writes over no .jsonl of the same name that holds anything") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path bin = root / "b.bin", jsonl = root / "b.jsonl";
  fs::rename(binary_span_file(root), bin);
  agentlog::test::write_text(jsonl, "my notes\n");
  auto refused =
      agentlog::test::run_agentlog({"traces", "convert", bin.string(), "--root", root.path().string()});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find(jsonl.string() + " already exists: converting " + bin.string() +
                         " would write over it") != std::string::npos);
  CHECK(agentlog::test::read_text(jsonl) == "my notes\n");
  CHECK(fs::exists(bin));
  agentlog::test::write_text(jsonl, "");  // (an empty one, as a failed conversion may leave, holds nothing)
  auto converted =
      agentlog::test::run_agentlog({"traces", "convert", bin.string(), "--root", root.path().string()});
  CHECK(converted.exit_code == 0);
  CHECK(converted.out.find(" (9 spans; " + bin.string() + " removed)\n") != std::string::npos);
}

TEST_CASE("durations and times that do not fit, or are no number, or no date, are refused") {
  using agentlog::store::parse_duration_ms;
  using agentlog::store::parse_time_ns;
  // Past what a span's nanoseconds hold, the filter overflowed: 1e13ms listed every trace, 1e300s none.
  for (const json& too_long : {json("1e13ms"), json("1e300"), json("1e300s"), json(1e13), json(1e300)}) {
    CAPTURE(too_long);
    CHECK_THROWS_WITH_AS(parse_duration_ms(too_long), doctest::Contains("0 to 9000000000000 ms"), StoreError);
  }
  CHECK(parse_duration_ms(json("9000000000s")) == 9e12);  // the longest taken
  // strtod reads "nan" and "inf": an age of NaN hours was taken, and compared as no time at all.
  const std::int64_t now = 1000LL * 86400 * 1000000000;
  for (const char* not_a_time : {"nand", "infh", "nanh", "inf", "-infd", "nan"}) {
    CAPTURE(not_a_time);
    CHECK(store_error([&] { parse_time_ns(not_a_time, now); }).first == "traces.bad_time");
  }
  CHECK(parse_time_ns("1e300h", now) == 0);  // before any span: 1970, not an overflow
  // Dates that do not exist: timegm moved them to ones that do (2026-02-30 to March 2nd).
  for (const char* no_date : {"2026-13-45", "2026-02-30", "2026-12-03T25:99:99", "2026-12-03T23:60:00",
                              "2025-02-29", "2026-00-10", "9999-01-01", "0001-01-01T00:00:00Z"}) {
    CAPTURE(no_date);
    CHECK_FALSE(agentlog::store::parse_iso_ns(no_date));
    const auto [id, message] = store_error([&] { parse_time_ns(no_date, now); });
    CHECK(id == "traces.bad_time");
    CHECK(message.find("a day the month has, an hour of 0-23") != std::string::npos);
  }
  CHECK(agentlog::store::parse_iso_ns("2024-02-29") == agentlog::store::parse_iso_ns("2024-02-29T00:00:00Z"));
  CHECK(agentlog::store::parse_iso_ns("2026-12-03T23:59:59") ==
        agentlog::store::parse_iso_ns("2026-12-03T23:59:59.000000Z"));
  CHECK(agentlog::store::parse_iso_ns("2026-12-03T23:59:59.5Z").has_value());

  // A query built without parse_duration_ms (the library's callers) is kept within the range too.
  TempDir dir;
  write_hundred(dir);
  TraceStore store(dir.path());
  agentlog::store::SearchQuery q;
  q.limit = 1000;
  q.min_ms = 1e300;
  CHECK(store.search(q)["traces"].empty());
  q.min_ms.reset();
  q.max_ms = 1e300;
  CHECK(store.search(q)["traces"].size() == 100);
  CHECK(store.find_slow(1e13, 10)["traces"].empty());

  // The command line, as the review ran it: refused as a bad value given (exit 2), with what it takes.
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  fs::create_directories(root / ".ai-agents/logging/traces" / kDay);
  fs::copy_file(dir / (kDay + "/42-1.jsonl"), root / ".ai-agents/logging/traces" / kDay / "42-1.jsonl");
  for (std::vector<std::string> args : {std::vector<std::string>{"slow", "--threshold", "1e13ms"},
                                        {"search", "--min-duration", "1e300"},
                                        {"search", "--max-duration", "1e300s"}}) {
    CAPTURE(args[2]);
    args.insert(args.begin(), "traces");
    args.insert(args.end(), {"--root", r});
    auto refused = agentlog::test::run_agentlog(args);
    CHECK(refused.exit_code == 2);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("is too long: give one from 0 to 9000000000000 ms") != std::string::npos);
  }
  for (const char* option : {"--since", "--until"})
    for (const char* time : {"nand", "infh", "nanh", "2026-13-45", "2026-02-30", "2026-12-03T25:99:99"}) {
      CAPTURE(time);
      auto refused = agentlog::test::run_agentlog({"traces", "search", option, time, "--root", r});
      CHECK(refused.exit_code == 2);
      CHECK(refused.out.empty());
      CHECK(refused.err.find("Cannot read the time \"" + std::string(time) + "\"") != std::string::npos);
    }
  auto slowest = agentlog::test::run_agentlog({"traces", "slow", "--threshold", "99ms", "--root", r});
  CHECK(slowest.exit_code == 0);
  CHECK(slowest.out.find(hex(100, 32)) != std::string::npos);  // (100 ms; the 99 ms one too)
}

TEST_CASE(
    "times: a lowercase t and z are read (RFC 3339), second 60 is refused, both messages list every age") {
  using agentlog::store::parse_iso_ns;
  using agentlog::store::parse_time_ns;
  const auto utc = parse_iso_ns("2026-11-25T14:30:00Z");
  REQUIRE(utc);
  // "2026-11-25t14:30:00z" was refused as "a date and time that exists", while "...T14:30:00z" was read.
  for (const char* lower :
       {"2026-11-25t14:30:00z", "2026-11-25t14:30:00Z", "2026-11-25T14:30:00z", "2026-11-25t14:30z",
        "2026-11-25t15:30:00+01:00", "2026-11-25t14:30:00.000000z"}) {
    CAPTURE(lower);
    CHECK(parse_iso_ns(lower) == utc);
  }
  CHECK(parse_iso_ns("2026-11-25t14:30:00.5z") == *utc + 500000000);
  // A leap second was read as the next minute although the message says 0-59.
  const std::int64_t now = 1000LL * 86400 * 1000000000;
  for (const char* leap : {"2026-11-25T14:30:60Z", "2026-11-25t14:30:60.5z", "2026-11-25 14:30:60"}) {
    CAPTURE(leap);
    CHECK_FALSE(parse_iso_ns(leap));
    CHECK(
        store_error([&] { parse_time_ns(leap, now); }).second ==
        "Cannot read the time \"" + std::string(leap) +
            "\" as a date: give a date and time that exists, in ISO-8601 between the years 1678 and 2261 (a "
            "month of 1-12, a day the month has, an hour of 0-23, minutes and seconds of 0-59, an offset "
            "from "
            "UTC within 23:59: 2026-11-25T14:30:00Z, 2026-11-25T15:30:00+01:00, 2026-11-25 14:30:00 (UTC), "
            "2026-11-25T14:30, 2026-11-25), or an age (30s, 30m, 1h, 2d, 1w)");
  }
  CHECK(parse_iso_ns("2026-11-25T14:30:59Z") == *utc + 59000000000);
  // The two messages listed different ages ("30m, 1h, 2d" against "30s, 30m, 1h, 2d, 1w").
  CHECK(store_error([&] { parse_time_ns("yesterday", now); }).second ==
        "Cannot read the time \"yesterday\": use ISO-8601 (2026-11-25T14:30:00Z, 2026-11-25T15:30:00+01:00, "
        "2026-11-25 14:30:00 (UTC), 2026-11-25T14:30, 2026-11-25) or an age (30s, 30m, 1h, 2d, 1w)");
  CHECK(parse_time_ns("1w", now) == now - 7 * 86400LL * 1000000000);
}

TEST_CASE("agentlog traces export -o: never into .ai-agents/logging/, a file replaced whole, - for stdout") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  const fs::path day = root / ".ai-agents/logging/traces" / kDay, spans = day / "43-1.jsonl";
  // A trace whose export is some 1.2 MB, more than the file size limit below (the index's files are less).
  std::string text;
  for (int i = 0; i < 3; ++i)
    text += span(hex(900, 32), 900 + i, i ? 900 : 0, "Db::load", "src/db.cpp", iso(i, 0), 2.0,
                 {{"sql", std::string(400000, 'q')}})
                .dump() +
            "\n";
  append(spans, text);
  const std::string id = hex(900, 32);
  auto exported = [&](const std::string& output) {
    return agentlog::test::run_agentlog({"traces", "export", id, "-o", output, "--root", r});
  };

  const fs::path outside = root / "out";
  fs::create_directories(outside);
  fs::create_directory_symlink(day, outside / "days");

  // -o - is stdout (it wrote a file named "-").
  auto to_stdout =
      agentlog::test::run_process({AGENTLOG_BINARY, "traces", "export", id, "-o", "-"}, "", root.path());
  CHECK(to_stdout.exit_code == 0);
  CHECK(json::parse(to_stdout.out)["traceEvents"].size() == 3);
  CHECK_FALSE(fs::exists(root / "-"));

  // A file there is replaced whole, keeping its mode, with nothing left beside it.
  const fs::path file = outside / "trace.json";
  agentlog::test::write_text(file, std::string(50000, 'x'));
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  REQUIRE(exported(file.string()).exit_code == 0);
  const std::string whole = agentlog::test::read_text(file);
  CHECK(json::parse(whole)["traceEvents"].size() == 3);
  CHECK(whole.size() > 1200000);
  CHECK(fs::status(file).permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  // A write that fails (here past a file size limit of 1024 blocks, as a full disk would) leaves the file
  // as it was: it was cut to the first 512 kB of the export.
  agentlog::test::write_text(file, "the last export\n");
  auto failed = agentlog::test::run_process(
      {"/bin/sh", "-c", "trap '' XFSZ; ulimit -f 1024 && exec \"$0\" \"$@\"", AGENTLOG_BINARY, "traces",
       "export", id, "-o", file.string(), "--root", r});
  CHECK(failed.exit_code == 1);
  CHECK(failed.err.find("cannot write " + file.string() + ": File too large") != std::string::npos);
  CHECK(failed.err.find("wrote") == std::string::npos);
  CHECK(agentlog::test::read_text(file) == "the last export\n");
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(outside)) left.push_back(e.path().filename());
  CHECK(left.size() == 2);  // trace.json and the link: no temporary file

  // It wrote Chrome JSON over the span file, the source of truth, and the trace was gone.
  for (const fs::path& inside :
       {spans, day / "new.json", root / ".ai-agents/logging/index.json",
        outside / "../.ai-agents/logging/x.json", outside / "days/43-1.jsonl", root / ".ai-agents/logging"}) {
    CAPTURE(inside);
    auto refused = exported(inside.string());
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find(inside.string() + " is inside ") != std::string::npos);
    CHECK(refused.err.find("give -o a file outside it") != std::string::npos);
  }
  // (relative to the working folder, as a shell gives it)
  auto relative = agentlog::test::run_process(
      {AGENTLOG_BINARY, "traces", "export", id, "-o", ".ai-agents/logging/traces/" + kDay + "/43-1.jsonl"},
      "", root.path());
  CHECK(relative.exit_code == 2);
  CHECK(agentlog::test::read_text(spans) == text);
  CHECK_FALSE(fs::exists(day / "new.json"));
  CHECK_FALSE(fs::exists(root / ".ai-agents/logging/index.json"));
  CHECK(agentlog::test::run_agentlog({"traces", "show", id, "--root", r}).exit_code == 0);
}

TEST_CASE("agentlog traces convert FILE...: every file tried, each failure said, the removal said") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  const std::string bytes = agentlog::test::read_text(binary_span_file(root));
  fs::remove_all(root / ".ai-agents/logging/traces");
  const fs::path g1 = root / "g1.bin", bad = root / "bad.bin", missing = root / "missing.bin",
                 g2 = root / "g2.bin", fifo = root / "fifo.bin";
  auto lay_out = [&] {
    agentlog::test::write_text(g1, bytes);
    agentlog::test::write_text(bad, damage_function_name(bytes));
    agentlog::test::write_text(g2, bytes);
    for (const fs::path& f : {root / "g1.jsonl", root / "g2.jsonl"}) fs::remove(f);
  };
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

  // --json: a damaged file in the middle failed the command with nothing on stdout, while g1.bin was
  // already converted and removed, and g2.bin never tried.
  lay_out();
  auto listed =
      agentlog::test::run_process({AGENTLOG_BINARY, "traces", "convert", g1.string(), bad.string(),
                                   missing.string(), fifo.string(), g2.string(), "--json", "--root", r},
                                  "", {}, {}, std::chrono::seconds(20));
  CHECK(listed.exit_code == 1);
  json out = json::parse(listed.out);
  REQUIRE(out.size() == 5);
  for (int i : {0, 4}) {
    CAPTURE(i);
    CHECK(out[i]["spans"] == 9);
    CHECK(out[i]["removed"] == true);
    CHECK(out[i]["complete"] == true);
    CHECK_FALSE(out[i].contains("error"));
  }
  CHECK(out[0]["file"] == g1.string());
  CHECK(out[0]["jsonl"] == (root / "g1.jsonl").string());
  CHECK(out[4]["file"] == g2.string());
  CHECK(out[1] == json({{"file", bad.string()}, {"error", out[1]["error"]}}));
  CHECK(out[1]["error"].get<std::string>().find(bad.string() + " is damaged") == 0);
  CHECK(out[2]["file"] == missing.string());
  CHECK(out[2]["error"].get<std::string>().find("cannot read " + missing.string()) == 0);
  // A FIFO: opening it to read a header waited for a writer for ever.
  CHECK(out[3]["file"] == fifo.string());
  CHECK(out[3]["error"].get<std::string>().find(fifo.string() + " is not a regular file") == 0);
  CHECK_FALSE(fs::exists(g1));
  CHECK_FALSE(fs::exists(g2));
  CHECK(fs::exists(root / "g2.jsonl"));
  CHECK(agentlog::test::read_text(bad) == damage_function_name(bytes));

  // In text: a line for each file, what it became and that it was removed on stdout, each failure on stderr.
  lay_out();
  auto told = agentlog::test::run_process({AGENTLOG_BINARY, "traces", "convert", g1.string(), bad.string(),
                                           missing.string(), fifo.string(), g2.string(), "--root", r},
                                          "", {}, {}, std::chrono::seconds(20));
  CHECK(told.exit_code == 1);
  CHECK(told.out == g1.string() + " -> " + (root / "g1.jsonl").string() + " (9 spans; " + g1.string() +
                        " removed)\n" + g2.string() + " -> " + (root / "g2.jsonl").string() + " (9 spans; " +
                        g2.string() + " removed)\n");
  CHECK(occurrences(told.err, "\n") == 3);
  CHECK(told.err.find("agentlog traces: " + bad.string() + " is damaged") != std::string::npos);
  CHECK(told.err.find("agentlog traces: cannot read " + missing.string()) != std::string::npos);
  CHECK(told.err.find("agentlog traces: " + fifo.string() + " is not a regular file") != std::string::npos);
  CHECK_FALSE(fs::exists(g2));

  // The help says the .bin goes.
  auto help = agentlog::test::run_agentlog({"traces", "convert", "--help"});
  CHECK(help.out.find("each .bin is removed once converted") != std::string::npos);
}

TEST_CASE("agentlog traces stats in the units show uses, and errors that name the commands") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  std::string text;
  for (int i = 0; i < 4; ++i)  // 500 ns, 500 ns, 500 ns and 2.5 us
    text +=
        span(hex(700 + i, 32), 700 + i, 0, "tiny", "src/t.cpp", iso(i, 0), i == 3 ? 0.0025 : 0.0005).dump() +
        "\n";
  append(root / ".ai-agents/logging/traces" / kDay / "44-1.jsonl", text);
  auto stats = agentlog::test::run_agentlog({"traces", "stats", "src/t.cpp", "tiny", "--root", r});
  CHECK(stats.exit_code == 0);
  // It printed "mean 0.001  p50 0.001  p95 0.003  p99 0.003  max 0.003 ms".
  CHECK(stats.out.find("\n  mean 1.000 us  p50 500 ns  p95 2.500 us  p99 2.500 us  max 2.500 us\n") !=
        std::string::npos);
  auto unnamed = agentlog::test::run_agentlog({"traces", "stats", "", "--root", r});
  CHECK(unnamed.exit_code == 2);
  CHECK(unnamed.err.find("for `agentlog traces stats`") != std::string::npos);
  CHECK(unnamed.err.find("get_trace_stats") == std::string::npos);
}

TEST_CASE("full text reads the strings decoded: words after escapes and colours, any script's case") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  // Trace i holds values[i] as its parameter and its return value.
  const std::vector<std::string> values = {"first\nsecondword",
                                           "tab\tthirdword",
                                           "\x1b[31mred\x1b[0m plain",
                                           "HELLO Wörld",
                                           "badFFFDutf8",
                                           "\x01"
                                           "ctl"};
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string line = span(hex(800 + i, 32), 800 + i, 0, "echo", "src/esc.cpp", iso(static_cast<int>(i), 0),
                            1.0, {{"s", values[i]}}, values[i])
                           .dump();
    // The runtime writes a byte that is no UTF-8 as \ufffd.
    for (std::size_t at; (at = line.find("FFFD")) != std::string::npos;) line.replace(at, 4, "\\ufffd");
    text += line + "\n";
  }
  append(root / ".ai-agents/logging/traces" / kDay / "45-1.jsonl", text);
  auto found = [&](const std::string& words) {
    auto result = agentlog::test::run_agentlog({"traces", "search", words, "--json", "--root", r});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    const json page = json::parse(result.out);
    std::vector<std::string> ids;
    for (const auto& t : page["traces"]) ids.push_back(t["traceId"]);
    return ids;
  };
  // Each was tokenised from the raw JSON: nsecondword, tthirdword, u001b, 31mred, 0m, ufffdutf8, u0001ctl.
  CHECK(found("secondword") == std::vector<std::string>{hex(800, 32)});
  CHECK(found("thirdword") == std::vector<std::string>{hex(801, 32)});
  CHECK(found("red plain") == std::vector<std::string>{hex(802, 32)});
  CHECK(found("utf8") == std::vector<std::string>{hex(804, 32)});
  CHECK(found("ctl") == std::vector<std::string>{hex(805, 32)});
  CHECK(found("nsecondword").empty());
  CHECK(found("31mred").empty());
  // Case folded beyond ASCII, as the full-text table folds it: the table found the trace and the check of
  // its spans, which folded ASCII only, passed it over.
  CHECK(found("WÖRLD") == std::vector<std::string>{hex(803, 32)});
  CHECK(found("wörld hello") == std::vector<std::string>{hex(803, 32)});
  CHECK(found("world") == std::vector<std::string>{hex(803, 32)});  // accents too, as the table does
  // A word of no letters or digits is in no full text: said, not an empty list or every trace.
  auto symbols = agentlog::test::run_agentlog({"traces", "search", "🎉 ->", "--root", r});
  CHECK(symbols.exit_code == 2);
  CHECK(symbols.err.find("Search for a word next to it") != std::string::npos);

  // An index the earlier layout made holds the raw JSON's words: it is made again, not left stale.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((root / ".ai-agents/logging/traces/index.sqlite").c_str(), &db) == SQLITE_OK);
    // Layout 4's text of this trace, as its ingest wrote it.
    const std::string sql =
        "INSERT INTO trace_text(trace_text) VALUES('delete-all'); INSERT INTO trace_text(rowid, text) SELECT "
        "tid << 24, 'echo src/esc.cpp "
        "{\"s\":\"first\\nsecondword\"}' FROM traces WHERE trace_id = '" +
        hex(800, 32) + "'; PRAGMA user_version = 4;";
    REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK(found("secondword") == std::vector<std::string>{hex(800, 32)});
  CHECK(found("thirdword") == std::vector<std::string>{hex(801, 32)});
}

TEST_CASE("span lines with no span's duration or time are corrupt; a cycle of parents is shown from a root") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  auto line = [&](std::uint64_t trace, std::uint64_t id, std::uint64_t parent, const char* fn) {
    return span(hex(trace, 32), id, parent, fn, "src/x.cpp", iso(0, 0), 1.0);
  };
  std::vector<json> bad;
  for (const json& duration_ns : {json(-5000000), json(1.5), json("abc"), json(nullptr)}) {
    bad.push_back(line(1, 1, 0, "badNs"));
    bad.back()["durationNs"] = duration_ns;
  }
  for (const json& duration : {json(-5), json(1e300), json("abc")}) {
    bad.push_back(line(2, 1, 0, "badMs"));
    bad.back()["duration"] = duration;
    bad.back().erase("durationNs");
  }
  bad.push_back(line(3, 1, 0, "wraps"));  // ends past 2262: the trace's end wrapped to 1677
  bad.back()["durationNs"] = std::numeric_limits<std::int64_t>::max();
  bad.push_back(line(4, 1, 0, "before1970"));
  bad.back()["startTime"] = "1969-12-31T23:59:59.000000Z";
  bad.push_back(line(5, 1, 0, "far"));
  bad.back()["startTime"] = "9999-12-31T23:59:59.999999Z";
  std::string text;
  for (const json& b : bad) text += b.dump() + "\n";
  text += line(6, 1, 0, "fine").dump() + "\n";
  text += line(7, 1, 1, "selfParent").dump() + "\n";
  text += line(8, 1, 2, "cycA").dump() + "\n" + line(8, 2, 1, "cycB").dump() + "\n" +
          line(8, 3, 2, "underB").dump() + "\n";
  append(root / ".ai-agents/logging/traces" / kDay / "46-1.jsonl", text);

  auto reindexed = agentlog::test::run_agentlog({"traces", "reindex", "--json", "--root", r});
  REQUIRE_MESSAGE(reindexed.exit_code == 0, reindexed.err);
  CHECK(json::parse(reindexed.out)["corruptLines"] == bad.size());
  CHECK(json::parse(reindexed.out)["spans"] == 5);
  auto listed = agentlog::test::run_agentlog({"traces", "search", "--json", "--root", r});
  REQUIRE(listed.exit_code == 0);
  std::set<std::string> ids;
  const json page = json::parse(listed.out);
  for (const auto& t : page["traces"]) {
    ids.insert(t["traceId"].get<std::string>());
    CHECK(t["duration"].get<double>() >= 0);
  }
  CHECK(ids == std::set<std::string>{hex(6, 32), hex(7, 32), hex(8, 32)});

  // Search counts their spans; get_trace and show listed none (0 spans): each cycle is cut once.
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  const json self = mcp.call_tool("get_trace", {{"traceId", hex(7, 32)}})["structuredContent"];
  REQUIRE(self["spans"].size() == 1);
  CHECK(self["spanCount"] == 1);
  CHECK(self["spans"][0]["children"] == json::array());
  const json cycle = mcp.call_tool("get_trace", {{"traceId", hex(8, 32)}})["structuredContent"];
  REQUIRE(cycle["spans"].size() == 3);
  CHECK(cycle["spanCount"] == 3);
  std::multiset<std::string> functions;
  for (const auto& s : cycle["spans"]) functions.insert(s["function"].get<std::string>());
  CHECK(functions == std::multiset<std::string>{"cycA", "cycB", "underB"});
  auto shown = agentlog::test::run_agentlog({"traces", "show", hex(8, 32), "--root", r});
  CHECK(shown.out.find("3 spans") != std::string::npos);
  CHECK(shown.out.find("underB()") != std::string::npos);
}

TEST_CASE("agentlog traces show quotes strings, and deep in a tree keeps the file") {
  TempDir root;
  const std::string r = root.path().string();
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", r}).exit_code == 0);
  std::string text;
  // A backslash and an f, a form feed, a string that looks like two arguments.
  const std::vector<std::string> values = {"back\\fifthword", "real\ffeed", "a, b=2"};
  for (std::size_t i = 0; i < values.size(); ++i)
    text += span(hex(820, 32), 820 + i, i ? 820 : 0, "echo", "src/esc.cpp", iso(static_cast<int>(i), 0), 1.0,
                 {{"s", values[i]}}, values[i])
                .dump() +
            "\n";
  for (int d = 0; d < 36; ++d)  // deep(d=0) calls deep(d=1) ... deep(d=35)
    text += span(hex(821, 32), 900 + d, d ? 900 + d - 1 : 0, "deep", "src/deep.cpp", iso(d, 0), 36.0 - d,
                 {{"d", d}}, d)
                .dump() +
            "\n";
  append(root / ".ai-agents/logging/traces" / kDay / "47-1.jsonl", text);
  auto show = [&](const std::string& id, const std::string& columns = "120") {
    auto result = agentlog::test::run_process({AGENTLOG_BINARY, "traces", "show", id, "--root", r}, "", {},
                                              {{"COLUMNS", columns}});
    REQUIRE_MESSAGE(result.exit_code == 0, result.err);
    return result.out;
  };
  const std::string quoted = show(hex(820, 32));
  CHECK(quoted.find(R"(echo(s="back\\fifthword") -> "back\\fifthword"  src/esc.cpp:10)") !=
        std::string::npos);
  CHECK(quoted.find(R"(echo(s="real\ffeed") -> "real\ffeed"  src/esc.cpp:10)") != std::string::npos);
  CHECK(quoted.find(R"(echo(s="a, b=2") -> "a, b=2"  src/esc.cpp:10)") != std::string::npos);
  // At depth 34 the line was "deep(d=34) -> 34  src/deep.cp…": the file went first. With less room still,
  // the start of its path goes, never the file's name.
  for (const auto& [columns, file] :
       {std::pair{"120", "  src/deep.cpp:10"}, std::pair{"60", "deep.cpp:10"}}) {
    const std::string deep = show(hex(821, 32), columns);
    std::size_t lines = 0;
    for (std::size_t at = 0, nl; (nl = deep.find('\n', at)) != std::string::npos; at = nl + 1) {
      const std::string l = deep.substr(at, nl - at);
      if (l.find("deep(") == std::string::npos) continue;
      ++lines;
      CAPTURE(l);
      CHECK(l.size() >= std::strlen(file));
      CHECK(l.substr(l.size() - std::strlen(file)) == file);
    }
    CHECK(lines == 36);
  }
}
