// The latest/archive writer: rotation by size and by time (injectable clock), archive naming, compression,
// retention, torn-line recovery, write errors, and several processes writing one directory across rotations
// with every line counted.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "logger/event_writer.hpp"
#include "logger/log_record.hpp"
#include "logger/log_search.hpp"
#include "logger/log_writer.hpp"
#include "logger/project.hpp"
#include "logger/project_log.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::LogWriter;
using agentlog::RotationPolicy;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDay = 86'400'000;
// 2026-11-25T23:59:58Z, a Wednesday.
constexpr std::int64_t kT0 = 1795651198000;

std::string gunzip(const fs::path& p) {
  gzFile f = gzopen(p.c_str(), "rb");
  REQUIRE(f);
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  return out;
}

struct LogFile {
  std::string name;  // "latest" or the archive folder
  std::string text;
};

// latest.log and every archive (decompressed), oldest first.
std::vector<LogFile> all_files(const fs::path& logs) {
  std::vector<LogFile> out;
  if (fs::exists(logs / "archive"))
    for (const auto& d : fs::directory_iterator(logs / "archive")) {
      for (const auto& f : fs::directory_iterator(d.path())) {
        const std::string n = f.path().filename().string();
        if (n == "latest.log")
          out.push_back({d.path().filename().string(), agentlog::test::read_text(f.path())});
        else if (n == "latest.log.gz")
          out.push_back({d.path().filename().string(), gunzip(f.path())});
        else
          FAIL("unexpected file in an archive: " << f.path());
      }
    }
  std::sort(out.begin(), out.end(),
            [](const LogFile& a, const LogFile& b) { return agentlog::archive_name_less(a.name, b.name); });
  if (fs::exists(logs / "latest.log"))
    out.push_back({"latest", agentlog::test::read_text(logs / "latest.log")});
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    REQUIRE_MESSAGE(nl != std::string::npos, "a line without newline: " << text.substr(start));
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string numbered(int i, std::size_t pad = 80) {
  std::string s = "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(pad, 'x') + "\"}\n";
  return s;
}

}  // namespace

TEST_CASE("rotation by size: no file over the limit, no line lost or split, order kept, archive names") {
  TempDir dir;
  RotationPolicy p;
  p.max_bytes = 1000;
  p.compress = false;
  p.interval = RotationPolicy::Interval::kNone;
  LogWriter w(dir.path(), p);
  std::string batch;
  for (int i = 0; i < 60; ++i) w.append(numbered(i));
  for (int i = 60; i < 120; ++i) batch += numbered(i);
  w.append(batch);  // one batch larger than a file: split at line boundaries
  w.wait_idle();
  auto files = all_files(dir.path());
  CHECK(files.size() >= 12);
  CHECK(w.rotations() == files.size() - 1);
  const std::regex name(R"(\d{4}-\d{2}-\d{2}-\d{6}(-\d+)?)");
  std::vector<int> seen;
  for (const auto& f : files) {
    if (f.name != "latest") CHECK_MESSAGE(std::regex_match(f.name, name), f.name);
    CHECK(f.text.size() <= 1000);
    for (const auto& l : lines_of(f.text)) seen.push_back(json::parse(l)["n"].get<int>());
  }
  REQUIRE(seen.size() == 120);
  for (int i = 0; i < 120; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
  // Several rotations in one second: one folder each ("-2", "-3"...).
  std::set<std::string> names;
  for (const auto& f : files) names.insert(f.name);
  CHECK(names.size() == files.size());
}

TEST_CASE("a line longer than the size limit goes alone into a file") {
  TempDir dir;
  RotationPolicy p;
  p.max_bytes = 100;
  p.compress = false;
  LogWriter w(dir.path(), p);
  w.append(numbered(1, 10));
  w.append(numbered(2, 500));
  w.append(numbered(3, 10));
  auto files = all_files(dir.path());
  REQUIRE(files.size() == 3);
  CHECK(lines_of(files[1].text).size() == 1);
  CHECK(files[1].text.size() > 500);
}

TEST_CASE(
    "rotation by time with an injectable clock: hourly, daily, weekly, none; archive named by the clock") {
  struct Case {
    RotationPolicy::Interval interval;
    std::int64_t step;  // from kT0
    bool rotates;
  };
  const std::vector<Case> cases = {
      {RotationPolicy::Interval::kDaily, 1000, false},  // 23:59:59 same day
      {RotationPolicy::Interval::kDaily, 3000, true},   // 00:00:01 next day
      {RotationPolicy::Interval::kHourly, 3000, true},  // next hour
      {RotationPolicy::Interval::kHourly, -3'500'000,
       false},  // 23:01:38, same hour as 23:59:58? no: 23:01 vs 23:59 -> same hour
      {RotationPolicy::Interval::kWeekly, 3000, false},     // Wednesday -> Thursday
      {RotationPolicy::Interval::kWeekly, 5 * kDay, true},  // -> Monday
      {RotationPolicy::Interval::kNone, 30 * kDay, false},
  };
  for (const auto& c : cases) {
    CAPTURE(static_cast<int>(c.interval));
    CAPTURE(c.step);
    TempDir dir;
    std::atomic<std::int64_t> now{c.step < 0 ? kT0 + c.step : kT0};
    RotationPolicy p;
    p.interval = c.interval;
    p.compress = false;
    LogWriter w(dir.path(), p, [&] { return now.load(); });
    w.append(numbered(1));
    now = c.step < 0 ? kT0 : kT0 + c.step;
    w.append(numbered(2));
    CHECK(w.rotations() == (c.rotates ? 1u : 0u));
    auto files = all_files(dir.path());
    REQUIRE(files.size() == (c.rotates ? 2u : 1u));
    if (c.rotates) {
      CHECK(files[0].name == agentlog::archive_name(now.load()));
      CHECK(lines_of(files[0].text).size() == 1);
      CHECK(lines_of(files[1].text).size() == 1);
    }
  }
}

TEST_CASE("the start time of latest.log survives the writer: a new writer next day rotates the old file") {
  TempDir dir;
  std::int64_t now = kT0;
  RotationPolicy p;
  p.compress = false;
  {
    LogWriter w(dir.path(), p, [&] { return now; });
    w.append(numbered(1));
  }
  now = kT0 + kDay;
  LogWriter w2(dir.path(), p, [&] { return now; });
  w2.append(numbered(2));
  CHECK(w2.rotations() == 1);
  CHECK(all_files(dir.path()).size() == 2);
}

TEST_CASE("compression in the background: archives become latest.log.gz with the same bytes") {
  TempDir dir;
  RotationPolicy p;
  p.max_bytes = 2000;
  p.compress = true;
  LogWriter w(dir.path(), p);
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    w.append(numbered(i));
    expected += numbered(i);
  }
  w.wait_idle();
  std::string got;
  int gz = 0;
  for (const auto& d : fs::directory_iterator(dir.path() / "archive")) {
    CHECK(fs::exists(d.path() / "latest.log.gz"));
    CHECK_FALSE(fs::exists(d.path() / "latest.log"));
    ++gz;
  }
  CHECK(gz >= 4);
  for (const auto& f : all_files(dir.path())) got += f.text;
  CHECK(got == expected);
}

TEST_CASE("an archive left uncompressed (a process killed first) is compressed by the next maintenance") {
  TempDir dir;
  fs::create_directories(dir.path() / "archive/2026-11-20-000000");
  agentlog::test::write_text(dir.path() / "archive/2026-11-20-000000/latest.log", numbered(7));
  RotationPolicy p;
  p.retention_days = 0;
  LogWriter w(dir.path(), p);
  w.maintain();
  CHECK_FALSE(fs::exists(dir.path() / "archive/2026-11-20-000000/latest.log"));
  CHECK(gunzip(dir.path() / "archive/2026-11-20-000000/latest.log.gz") == numbered(7));
}

TEST_CASE(
    "retention: LOG_MAX_ARCHIVES keeps the newest, LOG_RETENTION_DAYS drops old ones, LOG_MAX_TOTAL_MB caps "
    "size") {
  auto make_archives = [](const fs::path& logs, int n, std::size_t bytes_each) {
    for (int i = 0; i < n; ++i) {
      fs::path d = logs / "archive" / agentlog::archive_name(kT0 - static_cast<std::int64_t>(n - i) * kDay);
      fs::create_directories(d);
      agentlog::test::write_text(d / "latest.log.gz", std::string(bytes_each, 'z'));
    }
  };
  auto names = [](const fs::path& logs) {
    std::vector<std::string> out;
    for (const auto& d : fs::directory_iterator(logs / "archive"))
      out.push_back(d.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  };
  SUBCASE("count") {
    TempDir dir;
    make_archives(dir.path(), 6, 10);
    RotationPolicy p;
    p.max_archives = 3;
    p.retention_days = 0;
    LogWriter(dir.path(), p, [] { return kT0; }).maintain();
    auto left = names(dir.path());
    REQUIRE(left.size() == 3);
    CHECK(left[0] == agentlog::archive_name(kT0 - 3 * kDay));
  }
  SUBCASE("age") {
    TempDir dir;
    make_archives(dir.path(), 6, 10);  // 1..6 days old
    RotationPolicy p;
    p.retention_days = 4;
    LogWriter(dir.path(), p, [] { return kT0 - 1000; }).maintain();
    CHECK(names(dir.path()).size() == 4);
  }
  SUBCASE("age, after one rotation with a clock far ahead: the archives before it stay") {
    TempDir dir;
    make_archives(dir.path(), 6, 10);  // 1..6 days old
    const std::int64_t ahead = kT0 + 60 * kDay;
    fs::create_directories(dir.path() / "archive" / agentlog::archive_name(ahead));
    agentlog::test::write_text(dir.path() / "archive" / agentlog::archive_name(ahead) / "latest.log.gz", "z");
    RotationPolicy p;
    p.retention_days = 4;
    auto has = [&](std::int64_t t) {
      const auto left = names(dir.path());
      return std::find(left.begin(), left.end(), agentlog::archive_name(t)) != left.end();
    };
    LogWriter(dir.path(), p, [&] { return ahead; }).maintain();  // the writer whose clock was ahead
    // Not all 6 gone (each is more than 4 days older than its clock): age counted from the one before it.
    CHECK(names(dir.path()).size() == 6);
    CHECK(has(kT0 - 5 * kDay));
    CHECK(!has(kT0 - 6 * kDay));
    LogWriter(dir.path(), p, [] { return kT0 - 1000; }).maintain();  // the clock right again
    CHECK(has(kT0 - 5 * kDay));
    // A second rotation after the jump (named after it, never earlier): age counts from now again.
    fs::create_directories(dir.path() / "archive" / (agentlog::archive_name(ahead) + "-2"));
    LogWriter(dir.path(), p, [] { return kT0 - 1000; }).maintain();
    CHECK(!has(kT0 - 5 * kDay));
    CHECK(has(kT0 - 4 * kDay));
    CHECK(has(ahead));
  }
  SUBCASE("total size") {
    TempDir dir;
    make_archives(dir.path(), 6, 300'000);
    RotationPolicy p;
    p.retention_days = 0;
    p.max_total_bytes = 1'000'000;
    LogWriter(dir.path(), p, [] { return kT0; }).maintain();
    auto left = names(dir.path());
    REQUIRE(left.size() == 3);
    CHECK(left.back() == agentlog::archive_name(kT0 - kDay));  // the newest stay
  }
}

TEST_CASE("retention with many rotations in one second keeps the newest archives: a name is never reused") {
  TempDir dir;
  RotationPolicy p;
  p.max_bytes = 1000;
  p.compress = false;
  p.interval = RotationPolicy::Interval::kNone;
  p.retention_days = 0;
  p.max_archives = 3;
  LogWriter w(dir.path(), p, [] { return kT0; });  // every rotation in the same second
  for (int i = 0; i < 200; ++i) {
    w.append(numbered(i));
    w.wait_idle();  // retention after each rotation, as a slow burst gets it
  }
  auto files = all_files(dir.path());
  CHECK(files.size() == 4);
  std::vector<int> seen;
  for (const auto& f : files)
    for (const auto& l : lines_of(f.text)) seen.push_back(json::parse(l)["n"].get<int>());
  REQUIRE(!seen.empty());
  CHECK(seen.back() == 199);
  for (std::size_t i = 1; i < seen.size(); ++i)
    REQUIRE_MESSAGE(seen[i] == seen[i - 1] + 1,
                    "kept archives are not the newest: " << seen[i - 1] << " then " << seen[i]);
}

TEST_CASE(
    "the next archive of a second takes a suffix above the largest one there, and never names an earlier "
    "time") {
  TempDir dir;
  const std::string base = agentlog::archive_name(kT0);
  for (const std::string& n : {base, base + "-2", base + "-5"})
    fs::create_directories(dir.path() / "archive" / n);
  RotationPolicy p;
  p.max_bytes = 100;  // one line a file
  p.compress = false;
  p.interval = RotationPolicy::Interval::kNone;
  p.max_archives = 0;
  p.retention_days = 0;
  std::int64_t now = kT0;
  LogWriter w(dir.path(), p, [&] { return now; });
  w.append(numbered(0));
  w.append(numbered(1));
  CHECK(fs::exists(dir.path() / "archive" / (base + "-6") / "latest.log"));
  now = kT0 - kDay;  // the clock stepped back a day
  w.append(numbered(2));
  CHECK(fs::exists(dir.path() / "archive" / (base + "-7") / "latest.log"));
}

TEST_CASE(
    "an archive holding lines newer than its rotation (the clock stepped back) is named after its newest; a "
    "search with since finds them") {
  TempDir root;
  const auto layout = agentlog::ProjectLayout::at(root.path());
  RotationPolicy p;
  p.max_bytes = 4 << 20;
  p.compress = false;
  p.interval = RotationPolicy::Interval::kNone;
  std::int64_t step = 0;  // how far the clock is behind the kernel's, which stamps the file's last change
  LogWriter w(layout.logs_dir(), p, [&] { return agentlog::system_ms() - step; });
  auto at = [](std::int64_t ms, const std::string& msg) {
    return "{\"ts\":\"" + agentlog::iso8601_ms(ms) + "\",\"level\":\"info\",\"msg\":\"" + msg + "\"}\n";
  };
  auto newest_archive = [&] {
    std::string newest;
    for (const auto& e : fs::directory_iterator(layout.archive_dir()))
      if (const std::string n = e.path().filename().string(); agentlog::archive_name_less(newest, n))
        newest = n;
    return newest;
  };
  const std::int64_t t0 = agentlog::system_ms();
  std::string before_step;  // > 1 MiB of lines: the newest ones cross the reader's chunks
  for (int i = 0; i < 20000; ++i) before_step += at(t0 - 120'000 + i, std::string(40, 'x'));
  w.append(before_step + at(t0 - 30'000, "written 30 s ago"));

  SUBCASE("the clock stepped back an hour") {
    step = 3'600'000;
    w.append(at(t0 - step, "written after the step"));
    w.append(std::string(p.max_bytes, 'y') + "\n");  // rotates
    CHECK(newest_archive() == agentlog::archive_name(t0 - 30'000));
    agentlog::LogQuery q;
    q.since = agentlog::iso8601_ms(t0 - 60'000);
    const json found = agentlog::search_logs(layout, q);
    REQUIRE(found["matches"].size() == 1);
    CHECK(found["matches"][0]["msg"] == "written 30 s ago");
  }
  SUBCASE("a line a year ahead names the archive a day ahead at most") {
    step = 3'600'000;
    w.append(at(t0 + 365 * kDay, "a wrong time"));
    w.append(std::string(p.max_bytes, 'y') + "\n");
    const std::int64_t named = agentlog::archive_time(newest_archive());
    CHECK(named <= agentlog::system_ms() - step + kDay);
    CHECK(named >= t0 - step + kDay - 1000);
  }
  SUBCASE("a clock that did not step: the archive is named by it") {
    w.append(std::string(p.max_bytes, 'y') + "\n");
    const std::int64_t named = agentlog::archive_time(newest_archive());
    CHECK(named >= t0 - 1000);
    CHECK(named <= agentlog::system_ms());
  }
}

TEST_CASE("torn-line recovery: a line cut by a killed writer stays alone; the next line starts on its own") {
  TempDir dir;
  agentlog::test::write_text(dir.path() / "latest.log", numbered(1) + "{\"n\":2,\"pad\":\"xx");
  RotationPolicy p;
  p.compress = false;
  LogWriter w(dir.path(), p);
  w.append(numbered(3));
  auto lines = lines_of(agentlog::test::read_text(dir.path() / "latest.log"));
  REQUIRE(lines.size() == 3);
  CHECK(json::parse(lines[0])["n"] == 1);
  CHECK(lines[1] == "{\"n\":2,\"pad\":\"xx");
  CHECK(json::parse(lines[2])["n"] == 3);
}

TEST_CASE("write errors name the file and the cause; nothing written before is touched") {
  SUBCASE("a full disk (/dev/full)") {
    TempDir dir;
    fs::create_symlink("/dev/full", dir.path() / "latest.log");
    LogWriter w(dir.path(), RotationPolicy{});
    try {
      w.append(numbered(1));
      FAIL("no error");
    } catch (const agentlog::LogWriteError& e) {
      CHECK(std::string(e.what()).find("latest.log") != std::string::npos);
      CHECK(std::string(e.what()).find("disk is full") != std::string::npos);
      CHECK(e.written == 0);
    }
  }
  SUBCASE("a logs directory that cannot be created") {
    TempDir dir;
    agentlog::test::write_text(dir.path() / "logs", "a file where the directory should be");
    LogWriter w(dir.path() / "logs", RotationPolicy{});
    CHECK_THROWS_WITH_AS(w.append(numbered(1)), doctest::Contains("logs"), agentlog::LogWriteError);
    CHECK(agentlog::test::read_text(dir.path() / "logs") == "a file where the directory should be");
  }
}

TEST_CASE(
    "several processes write one directory while it rotates every 4 KB: every line once, whole, in order") {
  TempDir dir;
  constexpr int kProcs = 4, kLines = 1500;
  const int failed = agentlog::test::run_in_children(kProcs, [&](int k) {
    RotationPolicy p;
    p.max_bytes = 4096;
    p.compress = (k % 2) == 0;  // compressors and plain writers at once
    p.max_archives = 0;
    p.max_total_bytes = 0;
    LogWriter w(dir.path(), p);
    std::string batch;
    for (int i = 0; i < kLines; ++i) {
      std::string l = "{\"proc\":" + std::to_string(k) + ",\"i\":" + std::to_string(i) + ",\"pad\":\"" +
                      std::string(static_cast<std::size_t>(20 + i % 50), 'p') + "\"}\n";
      if (i % 7 == 0) {  // some batched, some single
        batch += l;
        if (batch.size() > 600) {
          w.append(batch);
          batch.clear();
        }
      } else {
        w.append(l);
      }
    }
    w.append(batch);
    w.wait_idle();
    return 0;
  });
  CHECK(failed == 0);
  RotationPolicy keep_all;
  keep_all.max_archives = 0;
  keep_all.max_total_bytes = 0;
  LogWriter(dir.path(), keep_all).maintain();  // finish any compression a writer left
  std::map<int, std::vector<int>> by_proc;
  std::size_t total = 0, files = 0;
  for (const auto& f : all_files(dir.path())) {
    ++files;
    CHECK(f.text.size() <= 4096 + 1);
    for (const auto& l : lines_of(f.text)) {
      json j = json::parse(l, nullptr, false);
      REQUIRE_MESSAGE(!j.is_discarded(), "a broken line: " << l);
      by_proc[j["proc"].get<int>()].push_back(j["i"].get<int>());
      ++total;
    }
  }
  CHECK(files > 50);
  CHECK(total == kProcs * kLines);
  for (auto& [proc, seq] : by_proc) {
    CAPTURE(proc);
    REQUIRE(seq.size() == kLines);
    std::vector<int>
        singles;  // written one by one: in order across files (batched lines come later by design)
    for (int i : seq)
      if (i % 7 != 0) singles.push_back(i);
    CHECK(std::is_sorted(singles.begin(), singles.end()));
    std::sort(seq.begin(), seq.end());
    for (int i = 0; i < kLines; ++i) REQUIRE(seq[static_cast<std::size_t>(i)] == i);  // each once
  }
}

TEST_CASE("ProjectLog: LOG_FORMAT=text, per-category levels, LOGGING_ENABLED, settings re-read on change") {
  TempDir dir;
  auto layout = agentlog::ProjectLayout::at(dir.path());
  agentlog::test::write_text(layout.env_logging(), "LOG_FORMAT=text\nLOG_LEVEL=debug\n");
  agentlog::test::write_text(layout.logging_config(),
                             R"({"defaultLevel":"info","categories":{"db":"warn","api":"trace"}})");
  agentlog::ProjectLog log(layout, [] { return kT0 + 100; });
  auto s = log.settings();
  CHECK(s->format == agentlog::LogFormat::kText);
  CHECK(s->min_level("db") == 3);
  CHECK(s->min_level("api") == 1);  // the .env ceiling (debug) wins over trace
  CHECK(s->min_level("other") == 2);
  json fields = {{"status", 200}};
  agentlog::LogRecord r;
  r.level = 2;
  r.category = "api";
  r.source = "src/api.cpp";
  r.msg = "GET /api/users/123 - 200 OK (61ms)";
  r.fields = &fields;
  log.write(r, true);
  CHECK(agentlog::test::read_text(layout.latest_log()) ==
        "[23:59:58.100] INFO [api] GET /api/users/123 - 200 OK "
        "(61ms)\t{\"source\":\"src/api.cpp\",\"fields\":{\"status\":200}}\n");
  agentlog::test::write_text(layout.env_logging(), "LOGGING_ENABLED=false\nLOG_LEVEL=error\n");
  s = log.settings();
  CHECK_FALSE(s->enabled);
  CHECK(s->min_level("api") == 4);
  CHECK(s->format == agentlog::LogFormat::kJson);
}

TEST_CASE("a logs directory removed while the writer runs is created again, with its lock file") {
  TempDir root;
  RotationPolicy p;
  p.compress = false;
  LogWriter w(root / "logs", p);
  w.append(numbered(1));
  fs::remove_all(root / "logs");
  w.append(numbered(2));
  CHECK(agentlog::test::read_text(root / "logs/latest.log") == numbered(2));
  CHECK(fs::exists(root / "logs/.lock"));  // and it is the one locked: a new process locks against us
  fs::remove(root / "logs/.lock");         // the lock file alone
  w.append(numbered(3));
  CHECK(fs::exists(root / "logs/.lock"));
  CHECK(agentlog::test::read_text(root / "logs/latest.log") == numbered(2) + numbered(3));
}

TEST_CASE("ProjectLog: a buffered message larger than the buffer limit (16 MiB) is written whole") {
  TempDir dir;
  auto layout = agentlog::ProjectLayout::at(dir.path());
  agentlog::test::write_text(layout.env_logging(), "LOG_COMPRESS_ARCHIVES=false\n");
  agentlog::ProjectLog log(layout);
  const std::string huge = std::string(17 << 20, 'A') + "END-OF-HUGE";
  for (std::string_view msg :
       {std::string_view("before"), std::string_view(huge), std::string_view("after")}) {
    agentlog::LogRecord r;
    r.msg = msg;
    log.write(r, false);  // an info line: buffered
  }
  log.flush();
  log.writer().wait_idle();
  std::vector<std::string> msgs;
  for (const auto& f : all_files(layout.logs_dir()))
    for (const auto& l : lines_of(f.text)) msgs.push_back(json::parse(l)["msg"]);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0] == "before");
  CHECK(msgs[1] == huge);  // alone in a file: it is longer than LOG_MAX_SIZE_MB
  CHECK(msgs[2] == "after");
}

TEST_CASE("JSON lines: escaping, invalid UTF-8 replaced, trace ids; every line parses") {
  json fields = {{"k", "v"}};
  agentlog::LogRecord r;
  r.ts_ms = kT0 + 5;
  r.level = 4;
  r.category = "c\"at";
  r.source = "s\\rc";
  std::string msg = "tab\there\nnew \x01 bad\xff utf8 \xc3\xa9";
  r.msg = msg;
  r.fields = &fields;
  r.pid = 12;
  r.tid = 34;
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.span_id = "00f067aa0ba902b7";
  std::string line;
  agentlog::append_log_line(line, r, agentlog::LogFormat::kJson);
  json j = json::parse(line);
  CHECK(j["ts"] == "2026-11-25T23:59:58.005Z");
  CHECK(j["level"] == "error");
  CHECK(j["category"] == "c\"at");
  CHECK(j["source"] == "s\\rc");
  CHECK(j["msg"] == "tab\there\nnew \x01 bad\xEF\xBF\xBD utf8 \xc3\xa9");
  CHECK(j["fields"] == fields);
  CHECK(j["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(j["spanId"] == "00f067aa0ba902b7");
  CHECK(j["pid"] == 12);
  // log_record_json (what log_event returns) is exactly the parse of the line, whichever way it is built.
  CHECK(agentlog::log_record_json(r) == j);
  json nested = {{"n", 1.5},
                 {"big", 18446744073709551615ULL},
                 {"neg", -3},
                 {"list", {1, "two", nullptr}},
                 {"obj", {{"é", true}}}};
  for (std::string text : {std::string("plain"), std::string("caf\xc3\xa9 \"q\" \\ \t"), std::string()}) {
    for (const json* f : std::initializer_list<const json*>{&fields, &nested, nullptr}) {
      for (int level : {0, 5, 9}) {
        agentlog::LogRecord v = r;
        v.msg = text;
        v.category = text;
        v.fields = f;
        v.level = level;
        v.trace_id = level == 9 ? "" : r.trace_id;
        std::string l;
        agentlog::append_log_line(l, v, agentlog::LogFormat::kJson);
        CHECK(agentlog::log_record_json(v) == json::parse(l));
        CHECK(agentlog::log_record_json(v).dump() == json::parse(l).dump());
      }
    }
  }
}

TEST_CASE("agentlog logs tail -f follows latest.log across rotations: every line once, in order") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  RotationPolicy p;
  p.max_bytes = 600;
  p.compress = false;
  LogWriter w(layout.logs_dir(), p);
  w.append(numbered(0));
  agentlog::test::McpSession tail(agentlog::test::McpSession::Command{
      {"logs", "tail", "-f", "--json", "-n", "5", "--root", root.path().string()}});
  auto first = tail.read();
  REQUIRE(first);
  CHECK((*first)["n"] == 0);
  for (int i = 1; i <= 40; ++i) {
    w.append(numbered(i));
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  CHECK(w.rotations() >= 5);
  for (int i = 1; i <= 40; ++i) {
    auto line = tail.read(std::chrono::seconds(5));
    REQUIRE_MESSAGE(line, "line " << i << " never came");
    CHECK((*line)["n"] == i);
  }
  tail.kill(SIGTERM);
}

TEST_CASE("agentlog logs tail -f after latest.log is emptied in place reads it again from its start") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  RotationPolicy p;
  p.compress = false;
  LogWriter w(layout.logs_dir(), p);
  w.append(numbered(0, 200) + numbered(1, 200));
  agentlog::test::McpSession tail(agentlog::test::McpSession::Command{
      {"logs", "tail", "-f", "--json", "-n", "5", "--root", root.path().string()}});
  for (int i = 0; i <= 1; ++i) {
    auto line = tail.read();
    REQUIRE(line);
    CHECK((*line)["n"] == i);
  }
  std::filesystem::resize_file(layout.latest_log(), 0);  // `: > latest.log`
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 2; i <= 5; ++i) w.append(numbered(i));  // shorter, all four, than what tail had read
  for (int i = 2; i <= 5; ++i) {
    auto line = tail.read(std::chrono::seconds(5));
    REQUIRE_MESSAGE(line, "line " << i << " never came");
    CHECK((*line)["n"] == i);
  }
  tail.kill(SIGTERM);
}

TEST_CASE("agentlog logs tail -f in a new project: archives rotated before its first look are printed too") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  fs::create_directories(layout.logs_dir());  // no latest.log yet
  agentlog::test::McpSession tail(agentlog::test::McpSession::Command{
      {"logs", "tail", "-f", "--json", "-n", "0", "--root", root.path().string()}});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // tail is looking for latest.log
  RotationPolicy p;
  p.max_bytes = 600;
  p.compress = false;
  LogWriter w(layout.logs_dir(), p);
  for (int i = 0; i < 40; ++i) w.append(numbered(i));  // several rotations within one of tail's looks
  CHECK(w.rotations() >= 4);
  for (int i = 0; i < 40; ++i) {
    auto line = tail.read(std::chrono::seconds(5));
    REQUIRE_MESSAGE(line, "line " << i << " never came");
    REQUIRE((*line)["n"] == i);
  }
  tail.kill(SIGTERM);
}

TEST_CASE("agentlog logs tail -f says how many rotated files retention removed before it could read them") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  RotationPolicy p;
  p.max_bytes = 600;
  p.compress = false;
  p.max_archives = 1;
  LogWriter w(layout.logs_dir(), p);
  w.append(numbered(0));
  agentlog::test::McpSession tail(agentlog::test::McpSession::Command{
      {"logs", "tail", "-f", "--json", "-n", "0", "--root", root.path().string()}});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // tail has opened latest.log
  for (int i = 1; i <= 60; ++i) w.append(numbered(i));          // many rotations within one of tail's looks
  w.wait_idle();                                                // retention done: one archive left
  const std::uint64_t rotated = w.rotations();
  REQUIRE(rotated >= 5);
  std::vector<int> seen;
  while (auto line = tail.read(std::chrono::seconds(2))) seen.push_back((*line)["n"]);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());  // none twice
  CHECK(seen.size() < 60);                                            // lines were lost to retention ...
  tail.kill(SIGTERM);
  tail.wait();
  // ... and it says so, at each look: in all, at most every rotated file but the one it was reading (it keeps
  // that open) and the one archive left (both printed); exactly that when the burst fell within one look.
  const std::string err = tail.stderr_text();
  INFO(err);
  const std::string said = "retention (LOG_MAX_ARCHIVES, LOG_RETENTION_DAYS or LOG_MAX_TOTAL_MB) removed ";
  std::uint64_t removed = 0;
  for (std::size_t at = 0; (at = err.find(said, at)) != std::string::npos; at += said.size())
    removed += std::stoull(err.substr(at + said.size()));
  CHECK(removed >= 1);
  CHECK(removed <= rotated - 2);
}

TEST_CASE("agentlog logs tail -f while a writer rotates and compresses nonstop: every line once, in order") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  RotationPolicy p;
  p.max_bytes = 20'000;
  p.compress = true;  // tail reads archives compressed behind its back
  LogWriter w(layout.logs_dir(), p);
  w.append(numbered(0, 100));
  agentlog::test::McpSession tail(agentlog::test::McpSession::Command{
      {"logs", "tail", "-f", "--json", "-n", "1", "--root", root.path().string()}});
  auto first = tail.read();
  REQUIRE(first);
  constexpr int kLines = 20'000;
  std::thread writer([&] {
    for (int i = 1; i < kLines; ++i) {
      w.append(numbered(i, 100));
      if (i % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  int expected = 1;
  for (; expected < kLines; ++expected) {
    auto line = tail.read(std::chrono::seconds(10));
    if (!line) break;
    if ((*line)["n"] != expected) break;
  }
  writer.join();
  CHECK_MESSAGE(expected == kLines, "line " << expected << " missing or out of order");
  CHECK(w.rotations() >= 50);
  tail.kill(SIGTERM);
}

TEST_CASE(
    "a writer killed with SIGKILL mid-stream never corrupts what was written; the next writer goes on "
    "cleanly") {
  TempDir dir;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    RotationPolicy p;
    p.max_bytes = 64 << 10;
    p.compress = false;
    LogWriter w(dir.path(), p);
    std::string batch;
    for (int i = 0;; ++i) {  // big batches: a kill can land inside a write
      batch += numbered(i, 200);
      if (batch.size() > (256 << 10)) {
        w.append(batch);
        batch.clear();
      }
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  RotationPolicy p;
  p.max_bytes = 64 << 10;
  p.compress = false;
  LogWriter w(dir.path(), p);
  w.append("{\"after\":true}\n");
  std::size_t good = 0, torn = 0;
  bool after = false;
  for (const auto& f : all_files(dir.path()))
    for (const auto& l : lines_of(f.text)) {
      json j = json::parse(l, nullptr, false);
      if (j.is_discarded()) {
        ++torn;  // at most the one line the kill cut
        continue;
      }
      after = after || j.contains("after");
      ++good;
    }
  CHECK(good > 100);
  CHECK(torn <= 1);
  CHECK(after);
}

TEST_CASE("agentlog logs tail -n N prints the last N whole lines of a large file, read from its end") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::string text;
  for (int i = 0; i < 5000; ++i) text += numbered(i, 200);  // ~1.1 MB: many blocks from the end
  agentlog::test::write_text(layout.latest_log(), text + "{\"n\":5000,\"pad\":\"torn");
  auto r =
      agentlog::test::run_agentlog({"logs", "tail", "-n", "3", "--json", "--root", root.path().string()});
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 3);
  for (int i = 0; i < 3; ++i) CHECK(json::parse(lines[static_cast<std::size_t>(i)])["n"] == 4997 + i);
  auto many =
      agentlog::test::run_agentlog({"logs", "tail", "-n", "700", "--json", "--root", root.path().string()});
  CHECK(lines_of(many.out).size() == 700);
  CHECK(json::parse(lines_of(many.out).front())["n"] == 4300);
}

TEST_CASE(
    "agentlog logs search and tail write control characters in messages escaped, so a line stays one line") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  // A message that would fake a second record and clear the terminal line, printed raw.
  const json rec = {
      {"ts", "2026-12-02T03:00:00.000Z"},
      {"level", "error"},
      {"category", "ai-agent"},
      {"msg", "innocent\n2026-12-02T00:00:00.000Z INFO [ai-agent] approved\x1b[2K\tnext\x7f\xc2\x9b"}};
  agentlog::test::write_text(layout.latest_log(), rec.dump() + "\nnot json\x1b[31m\n");
  for (const char* command : {"search", "tail"}) {
    CAPTURE(command);
    auto r = agentlog::test::run_agentlog({"logs", command, "--root", root.path().string()});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(
        r.out.find(
            "innocent\\n2026-12-02T00:00:00.000Z INFO [ai-agent] approved\\u001b[2K\\tnext\\u007f\\u009b") !=
        std::string::npos);
  }
  auto tail = agentlog::test::run_agentlog({"logs", "tail", "--root", root.path().string()});
  CHECK(lines_of(tail.out).size() == 2);
  CHECK(tail.out.find("not json\\u001b[31m") != std::string::npos);
}

TEST_CASE("events written from many threads at once are in the file in the order of their times") {
  TempDir root;
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> returned(8);  // the times the callers were told
  for (std::size_t t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        agentlog::LogEvent event;
        event.message = "thread " + std::to_string(t) + " event " + std::to_string(i);
        auto r = agentlog::write_event(layout, event);
        if (r.written) returned[t].push_back(r.record["ts"]);
      }
    });
  for (auto& t : threads) t.join();
  auto lines = lines_of(agentlog::test::read_text(layout.latest_log()));
  REQUIRE(lines.size() == 2400);
  std::string previous;
  std::size_t out_of_order = 0;
  std::map<std::string, std::string> ts_of;  // message -> ts in the file
  for (const auto& l : lines) {
    json j = json::parse(l);
    const std::string ts = j["ts"];
    if (ts < previous) ++out_of_order;
    previous = ts;
    ts_of[j["msg"]] = ts;
  }
  CHECK(out_of_order == 0);
  for (std::size_t t = 0; t < 8; ++t) {
    REQUIRE(returned[t].size() == 300);
    CHECK(returned[t].back() == ts_of["thread " + std::to_string(t) + " event 299"]);
  }
}

TEST_CASE("a process that rotates and exits at once finishes the archives' compression and retention first") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto layout = agentlog::ProjectLayout::at(root.path());
  std::string env = agentlog::test::read_text(layout.env_logging());
  env = std::regex_replace(env, std::regex("(^|\n)LOG_MAX_SIZE_MB=[^\n]*"), "$1LOG_MAX_SIZE_MB=0.5");
  agentlog::test::write_text(layout.env_logging(), env);
  const fs::path expired = layout.logs_dir() / "archive" / "2025-01-01-000000";  // past LOG_RETENTION_DAYS=30
  fs::create_directories(expired);
  agentlog::test::write_text(expired / "latest.log", "{\"ts\":\"2025-01-01T00:00:00Z\",\"msg\":\"old\"}\n");
  // And one of yesterday: the new archive follows it closely, so age counts from now (a new archive more than
  // the retention after the one before it would make age count from that one: see the retention test).
  const fs::path recent =
      layout.logs_dir() / "archive" / agentlog::archive_name(agentlog::system_ms() - 86400000);
  fs::create_directories(recent);
  agentlog::test::write_text(recent / "latest.log", "{\"ts\":\"2025-01-01T00:00:00Z\",\"msg\":\"recent\"}\n");
  {
    agentlog::test::McpSession s(root.path());
    s.initialize();
    // 60 KB events: the ninth does not fit in 0.5 MB, so the process rotates just before it exits and has a
    // 480 KB archive to compress (of random text: it takes a while).
    std::mt19937 random(7);
    for (int i = 0; i < 9; ++i) {
      std::string message(60000, ' ');
      for (auto& c : message) c = static_cast<char>('a' + random() % 26);
      auto r = s.call_tool("log_event", {{"level", "info"}, {"message", message}});
      REQUIRE_FALSE(r.value("isError", false));
    }
    s.close_stdin();
    CHECK(s.wait() == 0);
  }
  CHECK_FALSE(fs::exists(expired));
  CHECK(fs::exists(recent / "latest.log.gz"));
  int archives = 0;
  for (const auto& e : fs::recursive_directory_iterator(layout.logs_dir() / "archive")) {
    if (!e.is_regular_file()) continue;
    CAPTURE(e.path());
    CHECK(e.path().filename() == "latest.log.gz");  // no plain archive, no .gz.tmp left
    ++archives;
  }
  CHECK(archives == 2);
}

TEST_CASE("text form: a ']' in the category is written as \\u005d, so the first ']' ends the category") {
  const nlohmann::json fields = nlohmann::json::object();
  agentlog::LogRecord record;
  record.ts_ms = 1'764'000'000'123;
  record.level = 3;
  record.category = "we[ir]d \"q\"";
  record.msg = "has ] bracket";
  record.fields = &fields;
  std::string text;
  agentlog::append_log_line(text, record, agentlog::LogFormat::kText);
  CHECK(text.substr(14) == " WARN [we[ir\\u005dd \\\"q\\\"] has ] bracket\n");
  record.category = "api";  // no ']': as before
  text.clear();
  agentlog::append_log_line(text, record, agentlog::LogFormat::kText);
  CHECK(text.substr(14) == " WARN [api] has ] bracket\n");
}
