// The audit log's rotation (AUDIT_ROTATE_MB): actions.jsonl moves to audit/archive/ and is gzipped there,
// and the chain, verify, list and the memory go on across the files as if they were one.
#include <doctest/doctest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "logger/project.hpp"
#include "policy/audit.hpp"
#include "policy/memory.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;
using agentlog::policy::AuditLog;

namespace {

// A project whose audit log rotates every `kb` KiB.
struct RotatingProject {
  explicit RotatingProject(double kb = 2) {
    fs::create_directories(layout.env_logging().parent_path());
    agentlog::test::write_text(layout.env_logging(), "AUDIT_ROTATE_MB=" + std::to_string(kb / 1024) + "\n");
  }
  TempDir root;
  agentlog::ProjectLayout layout = agentlog::ProjectLayout::at(root.path());
  AuditLog audit{layout.audit_dir()};

  json act(const std::string& tool, int i) {
    return audit.append({{"time", "2026-12-03T10:00:00.000Z"},
                         {"agent", {{"name", "a"}}},
                         {"tool", tool},
                         {"decision", "allowed"},
                         {"outcome", "ok"},
                         {"arguments", {{"i", i}, {"text", std::string(120, 'x')}}}});
  }
  std::vector<fs::path> archives() const {
    std::vector<fs::path> out;
    for (const auto& f : audit.files())
      if (f.first_seq != 0) out.push_back(f.path);
    return out;
  }
};

std::string gunzip(const fs::path& file) {
  gzFile gz = gzopen(file.c_str(), "rb");
  REQUIRE(gz != nullptr);
  std::string out;
  char buf[4096];
  for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  gzclose(gz);
  return out;
}

void gzip_to(const fs::path& file, const std::string& text) {
  gzFile gz = gzopen(file.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())) == static_cast<int>(text.size()));
  gzclose(gz);
}

}  // namespace

TEST_CASE("the audit log rotates into gzipped archives; seq, the chain, verify and list go on across them") {
  RotatingProject p;
  for (int i = 1; i <= 100; ++i) CHECK(p.act(i % 10 == 0 ? "tenth" : "t", i)["seq"] == i);
  const auto archives = p.archives();
  REQUIRE(archives.size() >= 5);
  for (const auto& a : archives) {
    CHECK(a.extension() == ".gz");  // compressed, the plain file gone
    CHECK(!fs::exists(a.parent_path() / a.stem()));
  }
  CHECK(archives.front().filename() == "actions-000000000001.jsonl.gz");
  CHECK(fs::file_size(p.audit.log_path()) <
        2 * 1024 + 400);  // the live log: at most one record past the size

  // The first record of each file follows the last of the one before: seq and prevHash.
  std::string prev_hash;
  std::int64_t seq = 0;
  for (const auto& f : p.audit.files())
    AuditLog::read_lines(f.path, 0, [&](std::string_view line) {
      const json r = json::parse(line);
      CHECK(r["seq"] == ++seq);
      CHECK(r["prevHash"] == (prev_hash.empty() ? json(nullptr) : json(prev_hash)));
      prev_hash = r["hash"];
    });
  CHECK(seq == 100);

  const auto v = p.audit.verify();
  CHECK(v.ok);
  CHECK(v.records == 100);
  CHECK(v.archives == archives.size());

  // Newest first, across the files, with filters and limits.
  agentlog::policy::AuditFilter all;
  all.limit = 1000;
  const auto listed = p.audit.list(all);
  REQUIRE(listed.size() == 100);
  for (int i = 0; i < 100; ++i) CHECK(listed[static_cast<std::size_t>(i)]["seq"] == 100 - i);
  agentlog::policy::AuditFilter tenth;
  tenth.tool = "tenth";
  tenth.limit = 4;
  const auto some = p.audit.list(tenth);
  REQUIRE(some.size() == 4);
  CHECK(some[0]["seq"] == 100);
  CHECK(some[3]["seq"] == 70);
}

TEST_CASE("AUDIT_ROTATE_MB=0 never rotates; a new setting applies within a second") {
  RotatingProject p(0);
  for (int i = 1; i <= 40; ++i) p.act("t", i);
  CHECK(p.archives().empty());
  agentlog::test::write_text(p.layout.env_logging(), "AUDIT_ROTATE_MB=0.002\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  p.act("t", 41);
  CHECK(p.archives().size() == 1);  // the whole 40-record log, in one archive
  CHECK(p.audit.verify().ok);
  CHECK(p.audit.verify().records == 41);
}

TEST_CASE("four processes appending across rotations form one chain, and the memory holds each action once") {
  RotatingProject p(4);
  agentlog::policy::MemoryConfig config;
  config.project = "p";
  const int failed = agentlog::test::run_in_children(4, [&](int k) {
    agentlog::policy::Memory memory(p.layout, config);
    AuditLog audit(p.layout.audit_dir());
    for (int i = 0; i < 150; ++i) {
      memory.record_action(
          audit.append({{"time", "2026-12-03T10:00:00.000Z"},
                        {"agent", {{"name", "a" + std::to_string(k)}}},
                        {"tool", "t"},
                        {"decision", "allowed"},
                        {"outcome", "ok"},
                        {"arguments", {{"i", i}, {"k", k}, {"text", std::string(100, 'y')}}}}));
      if (i % 40 == 0) memory.list(1);  // ingests while the others append and rotate
    }
    return 0;
  });
  CHECK(failed == 0);
  const auto v = p.audit.verify();
  CHECK(v.ok);
  CHECK(v.problem == "");
  CHECK(v.records == 600);
  CHECK(v.archives >= 10);
  agentlog::policy::Memory memory(p.layout, config);
  const json found = memory.search("auditHash", 5000);
  CHECK(found.size() == 600);
  std::set<std::string> distinct;
  for (const auto& m : found) distinct.insert(m["content"].get<std::string>());
  CHECK(distinct.size() == 600);
}

TEST_CASE("a new memory store takes the archived actions too; one that lags behind a rotation catches up") {
  RotatingProject p;
  agentlog::policy::MemoryConfig config;
  config.project = "p";
  for (int i = 1; i <= 30; ++i) p.act("early", i);
  REQUIRE(!p.archives().empty());
  {
    agentlog::policy::Memory memory(p.layout, config);  // made after three rotations: reads them all
    CHECK(memory.search("early", 100).size() == 30);
  }
  for (int i = 31; i <= 60; ++i) p.act("late", i);  // rotations while no store reads
  agentlog::policy::Memory memory(p.layout, config);
  CHECK(memory.search("late", 100).size() == 30);
  CHECK(memory.search("early", 100).size() == 30);
}

TEST_CASE("verify names a removed, damaged, renamed or edited archive") {
  RotatingProject p;
  for (int i = 1; i <= 60; ++i) p.act("t", i);
  const auto archives = p.archives();
  REQUIRE(archives.size() >= 3);
  const fs::path first = archives[0], second = archives[1];
  const std::string first_bytes = agentlog::test::read_text(first);

  SUBCASE("the oldest archive removed") {
    fs::remove(first);
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.first_bad == 1);
    CHECK(v.file == second);
    CHECK(v.problem.find("records 1-") != std::string::npos);
    CHECK(v.problem.find("are missing") != std::string::npos);
  }
  SUBCASE("a middle archive removed") {
    fs::remove(second);
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.problem.find("are missing") != std::string::npos);
    CHECK(v.problem.find("removed from the end of " + first.filename().string() +
                         ", or an archive holding them was removed") != std::string::npos);
  }
  SUBCASE("the newest archive removed: the live log starts after the gap") {
    fs::remove(archives.back());
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.file == p.audit.log_path());
    CHECK(v.problem.find("are missing (actions.jsonl starts at record ") != std::string::npos);
  }
  SUBCASE("an archive cut short") {
    agentlog::test::write_text(first, first_bytes.substr(0, first_bytes.size() / 2));
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.file == first);
    CHECK(v.problem.find("damaged") != std::string::npos);
  }
  SUBCASE("an archive renamed to another place in the chain") {
    fs::rename(second, second.parent_path() / "actions-000000000900.jsonl.gz");
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.problem.find("are missing") != std::string::npos);
  }
  SUBCASE("a record edited inside an archive, recompressed") {
    std::string text = gunzip(first);
    const auto at = text.find("\"i\":2");
    REQUIRE(at != std::string::npos);
    text.replace(at, 5, "\"i\":7");
    gzip_to(first, text);
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.first_bad == 2);
    CHECK(v.file == first);
    CHECK(v.problem.find("does not match its hash") != std::string::npos);
  }
  SUBCASE("untouched") { CHECK(p.audit.verify().ok); }
}

TEST_CASE(
    "a rotation cut short by a crash: the chain goes on from the archive; a plain archive is read too") {
  RotatingProject p(0);  // rotations by hand below
  for (int i = 1; i <= 5; ++i) p.act("t", i);
  // The log moved to the archive, then the process died before writing anything else (head still old).
  fs::create_directories(p.audit.archive_dir());
  fs::rename(p.audit.log_path(), p.audit.archive_dir() / "actions-000000000001.jsonl");
  const json next = p.act("t", 6);
  CHECK(next["seq"] == 6);
  const auto v = p.audit.verify();
  CHECK(v.ok);
  CHECK(v.records == 6);
  CHECK(v.archives == 1);
  agentlog::policy::AuditFilter all;
  CHECK(p.audit.list(all).size() == 6);
}

TEST_CASE("agentlog audit verify and list read the archives") {
  TempDir dir;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", dir.path().string()}).exit_code == 0);
  const auto layout = agentlog::ProjectLayout::at(dir.path());
  std::string env = agentlog::test::read_text(layout.env_logging());
  const auto at = env.find("AUDIT_ROTATE_MB=64");
  REQUIRE(at != std::string::npos);  // the template documents the key
  env.replace(at, 18, "AUDIT_ROTATE_MB=0.002");
  agentlog::test::write_text(layout.env_logging(), env);
  AuditLog audit(layout.audit_dir());
  for (int i = 0; i < 40; ++i)
    audit.append({{"agent", {{"name", "a"}}}, {"tool", "t" + std::to_string(i)}, {"decision", "allowed"}});
  const auto verified = agentlog::test::run_agentlog({"audit", "verify", "--root", dir.path().string()});
  CHECK(verified.exit_code == 0);
  CHECK(verified.out.find("audit log intact: 40 records") != std::string::npos);
  CHECK(verified.out.find("in audit/archive/") != std::string::npos);
  const auto listed = agentlog::test::run_agentlog(
      {"audit", "list", "--root", dir.path().string(), "--limit", "50", "--json"});
  CHECK(listed.exit_code == 0);
  CHECK(listed.out.find("\"t0\"") != std::string::npos);  // the first record, in the oldest archive
  CHECK(listed.out.find("\"t39\"") != std::string::npos);

  fs::remove(audit.files().front().path);
  const auto tampered = agentlog::test::run_agentlog({"audit", "verify", "--root", dir.path().string()});
  CHECK(tampered.exit_code == 1);
  CHECK(tampered.out.find("TAMPERED at record 1: records 1-") != std::string::npos);
  CHECK(tampered.out.find("actions-000000000") != std::string::npos);  // which file
}

TEST_CASE("secrets in free text inside recorded arguments are redacted: commands, messages") {
  const json r = agentlog::policy::redact({{"command", "OPENAI_API_KEY=sk-abc123def python run.py"},
                                           {"message", "login with password: hunter2 ok"},
                                           {"header", "curl -H 'Authorization: Bearer abc.def' x"},
                                           {"usage", "max_tokens=512 input_tokens: 40"},
                                           {"list", {"token=zzz", "plain"}}});
  CHECK(r["command"] == "OPENAI_API_KEY=[REDACTED] python run.py");
  CHECK(r["message"] == "login with password: [REDACTED] ok");
  CHECK(r["header"].get<std::string>().find("abc.def") == std::string::npos);
  CHECK(r["usage"] == "max_tokens=512 input_tokens: 40");  // an agent's usage figures, not secrets
  CHECK(r["list"] == json::array({"token=[REDACTED]", "plain"}));
}

TEST_CASE(
    "archives are owner-only like the log; one left plain is compressed at the next rotation; a plain "
    "archive compressed while listed is read from its .gz") {
  RotatingProject p;
  for (int i = 1; i <= 30; ++i) p.act("t", i);
  auto archives = p.archives();
  REQUIRE(archives.size() >= 3);
  for (const auto& a : archives) {
    CAPTURE(a);
    CHECK((fs::status(a).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  }
  // A process died before compressing its archive: the plain file stays, read and verified as well...
  const fs::path gz = archives.front(), plain = gz.parent_path() / gz.stem();
  agentlog::test::write_text(plain, gunzip(gz));
  fs::remove(gz);
  CHECK(p.audit.verify().ok);
  // ... and the next rotation compresses it.
  for (int i = 31; i <= 45; ++i) p.act("t", i);
  CHECK(!fs::exists(plain));
  CHECK(fs::exists(gz));
  CHECK(p.audit.verify().ok);
  // A reader that listed the plain file before it went finds the lines in the .gz.
  std::size_t lines = 0;
  CHECK(AuditLog::read_lines(plain, 0, [&](std::string_view) { ++lines; }).has_value());
  CHECK(lines > 0);
}

TEST_CASE("text after an archive's last record, or a copy of an archive under another name, is no record") {
  RotatingProject p;
  for (int i = 1; i <= 30; ++i) p.act("t", i);
  const auto archives = p.archives();
  REQUIRE(archives.size() >= 2);
  SUBCASE("text after the last newline") {
    gzip_to(archives[1], gunzip(archives[1]) + "{\"seq\":");
    const auto v = p.audit.verify();
    CHECK(!v.ok);
    CHECK(v.file == archives[1]);
    CHECK(v.problem.find("not a JSON record") != std::string::npos);
  }
  SUBCASE("bytes after the compressed records: text, or a second gzip stream") {
    const fs::path extra = p.root.path() / "extra.gz";
    gzip_to(extra, "{\"seq\":999}\n");
    const std::string original = agentlog::test::read_text(archives[0]);
    for (const std::string& appended : {std::string("hidden text"), agentlog::test::read_text(extra)}) {
      agentlog::test::write_text(archives[0], original);
      std::ofstream(archives[0], std::ios::binary | std::ios::app) << appended;
      const auto v = p.audit.verify();
      CHECK(!v.ok);
      CHECK(v.file == archives[0]);
      CHECK(v.problem.find("bytes after the end of the archive's compressed records") != std::string::npos);
    }
    agentlog::test::write_text(archives[0], original);
    CHECK(p.audit.verify().ok);
  }
  SUBCASE("a copy named otherwise is not read as an archive") {
    fs::copy_file(archives[0], archives[0].parent_path() / "actions-1.jsonl.gz");
    CHECK(p.audit.files().size() == archives.size() + 1);  // the archives and the live log only
    CHECK(p.audit.verify().ok);
  }
}
