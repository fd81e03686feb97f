#include <doctest/doctest.h>

#include "logger/files.hpp"
#include "logger/project.hpp"
#include "support/temp_dir.hpp"

using namespace agentlog;
using agentlog::test::TempDir;

TEST_CASE("discover finds the nearest parent holding .ai-agents/, else the start") {
  TempDir dir;
  fs::create_directories(dir / "proj/.ai-agents");
  fs::create_directories(dir / "proj/src/deep");
  CHECK(ProjectLayout::discover(dir / "proj/src/deep").root == dir / "proj");
  CHECK(ProjectLayout::discover(dir.path()).root == dir.path());
  CHECK(ProjectLayout::at(dir / "proj/src").root == dir / "proj/src");
}

TEST_CASE("relative paths") {
  ProjectLayout l{"/p/root"};
  CHECK(l.relative("/p/root/src/a.cpp") == "src/a.cpp");
  CHECK(l.relative("src/./b.cpp") == "src/b.cpp");
  CHECK(l.relative("/elsewhere/x") == "/elsewhere/x");
  CHECK(l.latest_log() == fs::path("/p/root/.ai-agents/logging/logs/latest.log"));
}

TEST_CASE("write_file_atomic replaces content, keeps the mode, creates directories") {
  TempDir dir;
  fs::path f = dir / "a/b/c.txt";
  write_file_atomic(f, "one", 0600);
  CHECK(read_file(f).value() == "one");
  CHECK((fs::status(f).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  write_file_atomic(f, "two");
  CHECK(read_file(f).value() == "two");
  CHECK((fs::status(f).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK_FALSE(read_file(dir / "missing").has_value());
  std::size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir / "a/b")) ++entries;
  CHECK(entries == 1);  // no temporary left behind
}
