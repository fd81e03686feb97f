#include <doctest/doctest.h>

#include <fstream>

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

TEST_CASE("find: the nearest parent holding .ai-agents/, or nothing (no project is made up)") {
  TempDir dir;
  fs::create_directories(dir / "proj/.ai-agents");
  fs::create_directories(dir / "proj/src/deep");
  fs::create_directories(dir / "other");
  auto found = ProjectLayout::find(dir / "proj/src/deep");
  REQUIRE(found);
  CHECK(found->root == dir / "proj");
  CHECK_FALSE(ProjectLayout::find(dir / "other"));  // (TempDir is under /tmp, which holds no .ai-agents/)
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

TEST_CASE("SettingsCheck: stats its files while nobody watches their folder") {
  TempDir dir;
  const fs::path file = dir / "plain/.env.logging";
  fs::create_directories(file.parent_path());
  SettingsCheck check({file});
  CHECK(check.changed());  // the first look
  CHECK_FALSE(check.changed());
  agentlog::test::write_text(file, "LOG_LEVEL=warn\n");  // created
  CHECK(check.changed());
  CHECK_FALSE(check.changed());
  agentlog::test::write_text(file, "LOG_LEVEL=debug\n");  // another size
  CHECK(check.changed());
  fs::remove(file);
  CHECK(check.changed());
}

TEST_CASE("SettingsCheck with a FolderWatch: no stat until an event is drained, then every change is seen") {
  TempDir dir;
  const fs::path folder = dir / "config";
  fs::create_directories(folder);
  const fs::path file = folder / ".env.logging";
  agentlog::test::write_text(file, "LOG_LEVEL=warn\n");
  FolderWatch& watch = FolderWatch::instance();
  REQUIRE(watch.watch(folder));
  CHECK(watch.generation(folder.native()) != 0);
  CHECK(watch.generation((dir / "elsewhere").native()) == 0);
  SettingsCheck check({file});
  CHECK(check.changed());
  CHECK_FALSE(check.changed());

  // The same size and the same modification time: a stat cannot tell, the watch can.
  const auto mtime = fs::last_write_time(file);
  agentlog::test::write_text(file, "LOG_LEVEL=info\n");
  fs::last_write_time(file, mtime);
  CHECK_FALSE(check.changed());  // not drained yet: the check trusts the watch and does not stat
  watch.drain();
  CHECK(check.changed());
  CHECK_FALSE(check.changed());
  watch.drain();  // nothing new
  CHECK_FALSE(check.changed());

  // The folder removed: the watch is gone and the files are stat'ed again.
  fs::remove_all(folder);
  watch.drain();
  CHECK(watch.generation(folder.native()) == 0);
  CHECK(check.changed());  // the file is absent now
  fs::create_directories(folder);
  agentlog::test::write_text(file, "LOG_LEVEL=error\n");
  CHECK(check.changed());  // seen by stat, without any drain
}

TEST_CASE("FolderWatch with Events::kNames ignores writes, sees files created, moved and removed") {
  TempDir dir;
  const fs::path folder = dir / "audit";
  fs::create_directories(folder);
  agentlog::test::write_text(folder / "actions.jsonl", "{}\n");
  FolderWatch& watch = FolderWatch::instance();
  REQUIRE(watch.watch(folder, FolderWatch::Events::kNames));
  watch.drain();
  const auto before = watch.generation(folder.native());
  {
    std::ofstream(folder / "actions.jsonl", std::ios::app) << "{}\n";  // an append
  }
  watch.drain();
  CHECK(watch.generation(folder.native()) == before);
  fs::rename(folder / "actions.jsonl", folder / "moved.jsonl");
  watch.drain();
  CHECK(watch.generation(folder.native()) != before);
}
